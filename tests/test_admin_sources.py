"""Simulated sources on byte arrays: identifier errors, dates, ids; linkage model pieces (u decontamination, rules)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nonrecours.simulate import simulate_population
from nonrecours.simulate.identity import _date_text, _typo, draw_identities, fixed_ids, text_column
from nonrecours.simulate.sources import ORGANISMS, SourceParams, simulate_sources


def _one_edit(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with one substitution, deletion or transposition of adjacent letters (or equal)."""
    if a == b:
        return True
    if len(b) == len(a):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    if len(b) == len(a) - 1:
        return any(a[:i] + a[i + 1 :] == b for i in range(len(a)))
    return False


def test_typos_are_single_edits_at_the_rate():
    rng = np.random.default_rng(3)
    ident = draw_identities(rng, rng.integers(0, 6, 20_000))
    names = ident["surname"]
    hit = rng.random(names.size) < 0.3
    out = _typo(rng, names, hit)
    assert (out[~hit] == names[~hit]).all()  # untouched rows keep their bytes
    a, b = names.astype("U"), out.astype("U")
    assert all(_one_edit(x, y) for x, y in zip(a[hit], b[hit]))
    changed = (a != b)[hit].mean()
    # a substitution by the same letter or a transposition of two equal letters leaves the name as it was
    assert 0.85 < changed <= 1.0
    assert (np.char.str_len(b) >= np.char.str_len(a) - 1).all() and (np.char.str_len(b) >= 2).all()


def test_dates_written_digit_by_digit_match_numpy():
    d = np.datetime64("1900-01-01") + np.arange(0, 80_000, 7).astype("timedelta64[D]")
    assert (_date_text(d) == np.datetime_as_string(d, unit="D").astype("S10")).all()
    # many dates over a shorter range of days: written once per day of the range and taken by position
    many = np.datetime64("1915-03-01") + np.random.default_rng(3).integers(0, 36_600, 50_000).astype("timedelta64[D]")
    assert (_date_text(many) == np.datetime_as_string(many, unit="D").astype("S10")).all()


def test_source_csv_read_with_pandas_types(tmp_path):
    from nonrecours.admin.pipeline import _TEXT_COLUMNS, _read

    text = (
        "rec_id,commune,n,x,empty,benefit,start_date,flag\n"
        "A1,01001,3,1.25,,RSA,2015-03-07,True\n"
        "A2,,4,,,,2016-01-01,False\n"
        "A3,2A004,5,6547750.26,,AAH,,True\n"
    )
    path = tmp_path / "src.csv"
    path.write_text(text)

    def pandas_read(p, usecols=None):
        dtype = {c: str for c in _TEXT_COLUMNS}
        return pd.read_csv(p, dtype=dtype, keep_default_na=False, na_values=[""], usecols=usecols)

    for columns in (None, ["rec_id", "commune", "n", "x", "empty"], ["rec_id", "benefit"], ["flag"]):
        got = _read(path, columns)
        pd.testing.assert_frame_equal(got, pandas_read(path, columns), check_exact=True)
    assert _read(path)["commune"].tolist()[::2] == ["01001", "2A004"]
    path.write_text(text.replace(",flag", ",n"))  # a repeated name: pandas' own reading
    pd.testing.assert_frame_equal(_read(path), pandas_read(path), check_exact=True)


def test_fixed_ids_and_text_columns():
    ids = fixed_ids("CAF", 12)
    assert ids[0] == b"CAF00000001" and ids[-1] == b"CAF00000012"
    col = text_column(np.array([b"AB", b"", b"C"]))
    assert col.iloc[0] == "AB" and pd.isna(col.iloc[1]) and col.iloc[2] == "C"
    # values filling the width (or missing) are given to Arrow as they lie in memory: the same column
    full = np.array([b"CAF01", b"", b"CAF02", b"CAF03"])
    for values in (full, full[::2], full[[0, 2]], np.array([], dtype="S5")):
        col = text_column(values)
        assert col.dtype == "str" and len(col) == len(values)
        assert col.isna().tolist() == [v == b"" for v in values]
        assert col.dropna().tolist() == [v.decode() for v in values if v]
    accented = text_column(np.array(["É".encode(), b"", b"AB"]))  # not ASCII: converted and checked by Arrow
    assert accented.iloc[0] == "É" and pd.isna(accented.iloc[1]) and accented.iloc[2] == "AB"


@pytest.fixture(scope="module")
def sources():
    pop = simulate_population(4, seed=8)
    params = SourceParams(swap_day_month_rate=0.2, missing_rate=0.05)
    return pop, params, simulate_sources(pop, seed=9, params=params)


def test_sources_error_rates_and_formats(sources):
    _pop, _params, src = sources
    left = pd.concat([src.tables[o] for o in ORGANISMS], ignore_index=True)
    n = len(left)
    bd = left["birth_date"].dropna()
    assert bd.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    # missing first names and birth dates: about 5 % each (4 standard errors)
    for c in ("first_name", "birth_date"):
        assert abs(left[c].isna().mean() - 0.05) < 4 * np.sqrt(0.05 * 0.95 / n), c
    # swapped day and month: 20 % of the dates whose day is 12 or less and differs from the month
    swaps = sum(e["swap_day_month"] for k, e in src.errors.items() if k in ORGANISMS)
    day = pd.to_datetime(bd, format="%Y-%m-%d", errors="coerce").dt.day
    eligible = (day <= 12).mean() * n
    assert abs(swaps / eligible - 0.2) < 0.05
    assert left["rec_id"].is_unique and src.tables["health"]["rec_id"].is_monotonic_increasing
    assert left["nir_hash"].dropna().str.fullmatch(r"[0-9a-f]{15}").all()
    # every true link points at existing records
    tl = src.tables["truth_links"]
    for name in ("health", "tpn", "tss"):
        part = tl[tl["source"] == name]
        assert part["id_l"].isin(left["rec_id"]).all() and part["id_r"].isin(src.tables[name]["rec_id"]).all()


def test_same_seed_same_sources(sources):
    pop, params, src = sources
    again = simulate_sources(pop, seed=9, params=params)
    for name in (*ORGANISMS, "health", "tpn", "tss", "truth_links"):
        pd.testing.assert_frame_equal(again.tables[name], src.tables[name])
    other = simulate_sources(pop, seed=10, params=params)
    assert not other.tables["health"]["surname"].equals(src.tables["health"]["surname"])


def test_forked_sources_same_tables_and_bytes(sources, tmp_path):
    # the files' eligibility assessed and half of the tables written on forked processes, or all here: the same
    pop, params, src = sources
    here = simulate_sources(pop, seed=9, params=params, fork=False)
    forked = simulate_sources(pop, seed=9, params=params, fork=True)
    assert set(here.tables) == set(forked.tables) == set(src.tables)
    for name in here.tables:
        pd.testing.assert_frame_equal(forked.tables[name], here.tables[name], check_exact=True)
    a = here.write(tmp_path / "a", fork=False)
    b = forked.write(tmp_path / "b", fork=True)
    assert sorted(a) == sorted(b) and all(a[k].read_bytes() == b[k].read_bytes() for k in a)


def test_file_eligibility_by_prefix_or_by_lookup(monkeypatch):
    # rows found by their record ids' prefix (files in the recipients' order), or by Arrow's lookups otherwise
    import nonrecours.simulate.sources as S

    seen = {}
    real = S._file_eligibility

    def spy(*args):
        seen["args"] = args
        return real(*args)

    monkeypatch.setattr(S, "_file_eligibility", spy)
    S.simulate_sources(simulate_population(4, seed=8), seed=9, fork=False)
    files, left_id, complete, rule = seen["args"]
    fast = real(files, left_id, complete, rule)
    shuffled = {o: f.sample(frac=1.0, random_state=1).reset_index(drop=True) for o, f in files.items()}
    slow = real(shuffled, left_id, complete, rule)
    assert set(fast) == set(slow)
    for k in fast:
        np.testing.assert_array_equal(fast[k], slow[k])


def test_u_decontamination():
    from nonrecours.admin.linkage import _decontaminate

    lam = 1e-4
    model = {
        "probability_two_random_records_match": lam,
        "comparisons": [
            {
                "comparison_levels": [
                    {"sql_condition": "a IS NULL", "is_null_level": True},
                    {"sql_condition": "same", "m_probability": 0.9, "u_probability": 0.9 * lam * 1.5},
                    {"sql_condition": "rare", "m_probability": 0.05, "u_probability": 0.05 * lam},
                    {"sql_condition": "never", "m_probability": 0.01},
                    {"sql_condition": "ELSE", "m_probability": 0.04, "u_probability": 0.99},
                ]
            }
        ],
    }
    levels = _decontaminate(model, 1e6)["comparisons"][0]["comparison_levels"]
    assert "u_probability" not in levels[0]
    assert levels[1]["u_probability"] == pytest.approx(0.9 * lam * 0.5 / (1 - lam), rel=1e-12)
    assert levels[2]["u_probability"] == 1e-6  # only matches reached it: floored at one sampled pair
    assert levels[3]["u_probability"] == 1e-6  # not reached at all
    assert levels[4]["u_probability"] == 0.99


def test_blocking_rules_split_by_side_without_number():
    from nonrecours.admin.linkage import _settings

    _, plain = _settings(True, False, numbers_both=False)
    _, split = _settings(True, False, numbers_both=True)
    assert len(split) == 2 * len(plain)
    assert all(
        r.endswith("l.nir_key is null") or r.endswith("l.nir_key is not null and r.nir_key is null") for r in split
    )


def test_address_block_needs_the_first_names_initial_or_a_missing_first_name():
    """The 200 m square blocks a married name, a surname's typo or a missing first name, not every neighbour."""
    from nonrecours.admin.linkage import _settings
    from nonrecours.engines.duckdb import DuckDBEngine

    _, rules = _settings(False, True, numbers_both=False)
    left = pd.DataFrame(
        {"rec_id": ["a", "b", "c"], "surname": ["MARTIN", "DURAND", "PETIT"], "first_name": ["ANNE", None, "LEA"]}
    )
    right = pd.DataFrame(
        {
            "rec_id": ["x", "y", "z", "w"],
            "surname": ["BERNARD", "DURANT", "ROUX", "PETIT"],  # married name, typo, a neighbour, same surname
            "first_name": ["ANNE", "PAUL", "MARC", "LEA"],
        }
    )
    for df in (left, right):
        df["commune"], df["cell"] = "59350", 7  # one square, one commune
    right.loc[3, "commune"] = "59000"
    where = " or ".join(f"({r})" for r in rules)
    with DuckDBEngine() as eng:
        got = eng.sql_frames(
            f"select l.rec_id || r.rec_id as p from l, r where {where} order by p", {"l": left, "r": right}
        )
    # a-x: same initial (married name); b-*: first name missing on the left; c-w: same square and initial (the
    # surname block needs the commune); a-y, a-z, a-w, c-x, c-y, c-z: neighbours whose initials differ
    assert got["p"].tolist() == ["ax", "bw", "bx", "by", "bz", "cw"]


def test_unique_ids_counted_as_pandas_is_unique():
    # phase_rates' check that each recipient is once in its tables (on the codes of its ids): pandas' answer,
    # missing ids equal among themselves; the recipients' table checked too when its ids are not the eligibility's
    from nonrecours.admin.rates import RIGHTS, _keyed_query

    cases = [["a", "b", "c"], ["a", "b", "a"], ["a", None, "b"], ["a", None, None], [], ["", "a"]]
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in ("source", "id_l", "id_r")}).assign(
        match_probability=pd.Series([], dtype=float)
    )
    flags = pd.DataFrame({"territory": ["T"], "is_qpv": [1]})
    for ids in cases:
        values = pd.Series(ids, dtype="str")
        el = pd.DataFrame({"rec_id": values, **{r: "eligible" for r in RIGHTS}})
        rc = pd.DataFrame({"rec_id": values, "territory": "T", "departement": "59"})
        assert _keyed_query(rc, el, empty, empty, {}, flags)[2].unique == values.is_unique, ids
        other = pd.DataFrame({"rec_id": pd.Series(["z", *ids], dtype="str"), "territory": "T", "departement": "59"})
        assert _keyed_query(other, el, empty, empty, {}, flags)[2].unique == values.is_unique, ids
        once = el.iloc[:0] if values.isna().all() else el.dropna().drop_duplicates("rec_id")
        assert _keyed_query(rc, once, empty, empty, {}, flags)[2].unique == rc["rec_id"].is_unique, ids


def test_phase_rates_in_the_engine_equal_the_pandas_path():
    from nonrecours.admin.rates import group_rates, linked_rates, phase_rates, suppressed_margin, taker_table

    rng = np.random.default_rng(4)
    n = 3000
    rec = pd.DataFrame(
        {"rec_id": [f"R{i:05d}" for i in range(n)], "territory": rng.choice([f"T{k}" for k in range(12)], n)}
    )
    rec["departement"] = rec["territory"].map(lambda t: "59" if t < "T6" else "62")
    status = np.array(["eligible", "not_eligible", "undetermined"])
    elig = pd.DataFrame(
        {
            "rec_id": rec["rec_id"],
            **{r: status[rng.choice(3, n, p=[0.6, 0.35, 0.05])] for r in ("cmuc", "acs", "tpn", "tss")},
        }
    )
    health = pd.DataFrame({"rec_id": [f"H{i:05d}" for i in range(n)], "right": rng.choice(["cmuc", "acs"], n)})

    def pairs(k, lo, hi):
        src = rng.choice(["health", "tpn", "tss"], k)
        ids = rng.choice(n, k, replace=False)
        return pd.DataFrame(
            {
                "source": src,
                "id_l": rec["rec_id"].to_numpy()[ids],
                "id_r": np.where(src == "health", health["rec_id"].to_numpy()[ids], "X"),
                "match_probability": rng.uniform(lo, hi, k),
            }
        )

    links, near = pairs(1800, 0.9, 1.0), pairs(300, 0.01, 0.9)
    links.loc[:600, "match_probability"] = 1.0
    flags = pd.DataFrame({"territory": [f"T{k}" for k in range(12)], "is_qpv": np.arange(12) % 2})
    rates, by_qpv = phase_rates(rec, elig, links, near, {"health": health}, flags, min_cell=5)
    t = taker_table(rec, elig, links, near, {"health": health})
    margin = flags.set_index("territory")["is_qpv"]
    expected = linked_rates(t, min_cell=5, margins={"is_qpv": margin})
    pd.testing.assert_frame_equal(rates.table, expected.table, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(rates.departements, expected.departements)
    pd.testing.assert_frame_equal(rates.margins["is_qpv"], expected.margins["is_qpv"])
    t["is_qpv"] = margin.reindex(t["territory"]).to_numpy()
    groups = suppressed_margin(group_rates(t, "is_qpv"), expected.margins["is_qpv"], "is_qpv")
    pd.testing.assert_frame_equal(by_qpv, groups, check_exact=False, rtol=1e-12, check_dtype=False)
    assert (rates.table["status"] == "published").any()


def _taker_reference(rec, elig, links, near, rights_of):
    """The taker table written in pandas, join by join as its SQL states it (a missing id joins nothing)."""
    from nonrecours.admin.rates import AT_RANDOM, BEFORE_RESOURCES, RIGHT_SOURCES, RIGHTS

    def best(pairs):
        single = pd.DataFrame(
            [(src, r) for r, src in RIGHT_SOURCES.items() if src not in rights_of], columns=["source", "right"]
        )
        out = [pairs.merge(single, on="source")]
        for src, recs in rights_of.items():
            out.append(pairs[pairs["source"] == src].merge(recs.rename(columns={"rec_id": "id_r"}), on="id_r"))
        carried = pd.concat(out, ignore_index=True).dropna(subset=["id_l", "right"])
        return carried.groupby(["id_l", "right"])["match_probability"].max()

    p, q = best(links), best(near)
    rows = []
    for r in RIGHTS:
        e = elig[["rec_id", r, f"{r}_rule"]].rename(columns={r: "status", f"{r}_rule": "rule"})
        t = e.dropna(subset=["rec_id"]).merge(rec.dropna(subset=["rec_id"]), on="rec_id").assign(right=r)
        key = pd.MultiIndex.from_arrays([t["rec_id"], t["right"]])
        pl = p.reindex(key).to_numpy()
        ql = q.reindex(key).to_numpy()
        t["eligible"] = t["status"].map({"eligible": 1.0, "not_eligible": 0.0})
        t["taker"] = (~np.isnan(pl)).astype(int)
        t["p_link"] = np.nan_to_num(pl)
        t["q_miss"] = np.where(np.isnan(pl), np.nan_to_num(ql), 0.0)
        t["undetermined_at_random"] = ((t["status"] == "undetermined") & t["rule"].isin(AT_RANDOM)).astype(int)
        t["by_resources"] = (t["rule"].notna() & ~t["rule"].isin(BEFORE_RESOURCES)).astype(int)
        rows.append(t)
    cols = ["rec_id", "territory", "departement", "right", "eligible", "taker", "p_link", "q_miss", "boundary"]
    return pd.concat(rows, ignore_index=True)[[*cols, "undetermined_at_random", "by_resources"]]


@pytest.mark.parametrize("twice", [False, True])
def test_phase_rates_on_integer_keys_equal_the_taker_table(twice):
    """phase_rates joins on integer codes of the ids (issue 31): the same rates as the taker table joined on
    their text, itself the same as pandas' joins, where the codes could go wrong: ids in no sorted order and of
    several lengths, recipients and eligibility in other orders, ids of one absent from the other, links to ids
    of neither or without id, a recipient without id in both tables, a health record with two rights, one with a
    right of no right, territories in no sorted order; ``twice``: a recipient twice in both tables (counted by
    recipient, not by the wide counts)."""
    from nonrecours.admin.rates import (
        RIGHTS,
        _keyed_query,
        group_rates,
        linked_rates,
        phase_rates,
        suppressed_margin,
        taker_table,
    )

    rng = np.random.default_rng(31)
    n = 2500
    ids = pd.Series([f"{'Z' if i % 3 else 'a'}{i * 7919 % 100003}" + "x" * (i % 4) for i in rng.permutation(n)])
    territories = [f"T{k}" for k in (9, 10, 1, 100, 2, 30)]
    rules = ["resources_missing", "rsa_presumption", "under_cmuc_ceiling", "household_size_missing"]
    status = np.array(["eligible", "not_eligible", "undetermined"])
    elig = pd.DataFrame({"rec_id": ids.astype("str")})
    for r in RIGHTS:
        elig[r] = status[rng.choice(3, n, p=[0.6, 0.3, 0.1])]
        elig[f"{r}_rule"] = rng.choice(rules, n)
    elig.loc[7, "acs_rule"] = np.nan  # a status without its rule
    elig.loc[9, "rec_id"] = np.nan  # a recipient without id, in the recipients too (below)
    rec = pd.DataFrame(
        {
            "rec_id": ids.to_numpy()[::-1][40:],  # the first 40 eligible absent from the recipients
            "territory": rng.choice(territories, n - 40),
            "boundary": (rng.random(n - 40) < 0.2).astype(np.int8),
        }
    )
    rec["departement"] = np.where(rec["territory"].isin(["T9", "T10", "T1"]), "59", "62")
    only = pd.DataFrame(
        {"rec_id": ["only-here", np.nan], "territory": ["T2", "T1"], "departement": ["62", "59"], "boundary": [0, 1]}
    )
    rec = pd.concat([rec, only], ignore_index=True).astype(
        {"rec_id": "str", "territory": "str", "departement": "str", "boundary": np.int8}
    )
    if twice:
        elig = pd.concat([elig, elig.iloc[[5]]], ignore_index=True)
        rec = pd.concat([rec, rec[rec["rec_id"] == elig.loc[5, "rec_id"]]], ignore_index=True)
    health = pd.DataFrame({"rec_id": [f"H{i}" for i in range(900)], "right": rng.choice(["cmuc", "acs"], 900)})
    other = np.where(health["right"].iloc[:60] == "acs", "cmuc", "acs")
    health = pd.concat([health, health.iloc[:60].assign(right=other)], ignore_index=True)  # 60 with both rights
    health.loc[61, "right"] = "aah"  # a right of no right
    health = health.astype("str")

    def pairs(k, lo, hi):
        src = rng.choice(["health", "tpn", "tss"], k)
        return pd.DataFrame(
            {
                "source": src,
                "id_l": ids.to_numpy()[rng.choice(n, k)],  # several links for some recipients
                "id_r": np.where(src == "health", [f"H{i}" for i in rng.choice(960, k)], "X"),
                "match_probability": rng.uniform(lo, hi, k),
            }
        )

    links, near = pairs(1500, 0.9, 1.0), pairs(400, 0.01, 0.9)
    links.loc[:500, "match_probability"] = 1.0
    links.loc[3, "id_l"] = "nobody"  # an id of neither table
    links.loc[4, "id_l"] = np.nan
    links = links.astype({"source": "str", "id_l": "str", "id_r": "str"})
    near = near.astype({"source": "str", "id_l": "str", "id_r": "str"})
    flags = pd.DataFrame({"territory": territories[::-1], "is_qpv": np.arange(6) % 2}).astype({"is_qpv": np.int8})
    rights_of = {"health": health}
    assert _keyed_query(rec, elig, links, near, rights_of, flags)[2].unique is not twice
    t = taker_table(rec, elig, links, near, rights_of)
    order = ["rec_id", "right", "territory"]
    want = _taker_reference(rec, elig, links, near, rights_of).sort_values(order, ignore_index=True)
    pd.testing.assert_frame_equal(t.sort_values(order, ignore_index=True), want, check_dtype=False)
    assert t["taker"].sum() > 100 and (t["q_miss"] > 0).any() and (t["eligible"] == 1).any()
    rates, by_qpv = phase_rates(rec, elig, links, near, rights_of, flags, min_cell=5)
    margin = flags.set_index("territory")["is_qpv"]
    expected = linked_rates(t, min_cell=5, margins={"is_qpv": margin})
    pd.testing.assert_frame_equal(rates.table, expected.table, check_exact=True)
    pd.testing.assert_frame_equal(rates.departements, expected.departements)
    pd.testing.assert_frame_equal(rates.margins["is_qpv"], expected.margins["is_qpv"])
    assert rates.n_suppressed == expected.n_suppressed
    t["is_qpv"] = margin.reindex(t["territory"]).to_numpy()
    groups = suppressed_margin(group_rates(t, "is_qpv"), expected.margins["is_qpv"], "is_qpv")
    pd.testing.assert_frame_equal(by_qpv, groups, check_exact=True)
    assert (rates.table["status"] == "published").any()


def test_labels_decode_codes_and_engine_dtypes():
    """The codes of phase_rates' keyed tables come back as the text the engine gave (a missing code: a missing
    text, as pandas' ``str``); a nullable integer column without a missing value as the engine gives it (numpy)."""
    from nonrecours.admin.rates import _as_engine_gives, _Labels

    labels = _Labels(pd.Index(["r1", "r0"]), pd.Index(["T9", "T10"]), pd.Index(["59"]), True)
    frame = pd.DataFrame(
        {"territory": pd.array([1, None, 0], dtype="Int32"), "right": np.array([3, 0, 1]), "n": [1, 2, 3]}
    )
    got = labels.decode(frame)
    want = pd.DataFrame(
        {
            "territory": pd.Series(["T10", np.nan, "T9"], dtype="str"),
            "right": pd.Series(["tss", "cmuc", "acs"], dtype="str"),
            "n": [1, 2, 3],
        }
    )
    pd.testing.assert_frame_equal(got, want)
    assert frame["territory"].dtype == "Int32"  # the frame itself left as it was
    assert _as_engine_gives(pd.Series([1, 0], dtype="Int8")).dtype == np.int8
    assert _as_engine_gives(pd.Series([1, None], dtype="Int8")).dtype == "Int8"
    assert _as_engine_gives(pd.Series(["a"], dtype="str")).dtype == "str"
