"""The linkage's training on counts of comparison patterns against Splink's own EM (the reference).

On a small seeded file, the numpy EM on the sessions' pattern counts gives the ``m`` probabilities of Splink's
``estimate_parameters_using_expectation_maximisation(..., estimate_without_term_frequencies=True)`` run on the same
sessions from the same starting ``u``, ``m`` and prior (same ``max_iterations`` and ``em_convergence``); ``u`` from
the counts of random pairs equals a direct count of the sampled pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def files():
    from nonrecours.simulate import simulate_population
    from nonrecours.simulate.sources import ORGANISMS, simulate_sources

    src = simulate_sources(simulate_population(3, seed=5), seed=6)
    left = pd.concat([src.tables[o] for o in ORGANISMS], ignore_index=True)
    return left, src.tables


def _registered(engine, left, right, share_u=0.2, seed=3):
    """Prepared sides (as ``_probabilistic`` prepares them), every recipient in the EM sessions."""
    from nonrecours.admin.linkage import _prepare

    rng = np.random.default_rng(seed)
    L, R = _prepare(left), _prepare(right)
    keep = [c for c in L if c in R]  # as ``_link``: the columns both sides have
    L, R = L[keep].copy(), R[keep].copy()
    L["train"], R["train"] = np.int8(1), np.int8(0)
    L["source_dataset"], R["source_dataset"] = "l", "r"
    L["usample"] = (rng.random(len(L)) < share_u).astype(np.int8)
    R["usample"] = (rng.random(len(R)) < share_u).astype(np.int8)
    db = engine.splink_api()
    return L, R, db.register(L, table_name="parity_l"), db.register(R, table_name="parity_r")


def _levels(linker):
    """Per comparison, its non-null levels' (m, u) ordered by comparison vector value."""
    out = []
    for cc in linker._settings_obj.comparisons:
        lv = sorted(cc._comparison_levels_excluding_null, key=lambda cl: cl.comparison_vector_value)
        out.append((np.array([cl.m_probability for cl in lv]), np.array([cl.u_probability for cl in lv])))
    return out


@pytest.mark.parametrize("source", ["health", "tpn"])
def test_em_on_pattern_counts_reproduces_splinks_em(files, source):
    from splink import Linker

    from nonrecours.admin.linkage import _em_rules, _em_sessions, _settings
    from nonrecours.admin.linkage_em import train_m
    from nonrecours.engines.duckdb import DuckDBEngine

    left, tables = files
    with DuckDBEngine() as engine:
        L, _, dl, dr = _registered(engine, left, tables[source])
        has_birth = "birth_date" in L
        assert has_birth == (source == "health")
        settings, _ = _settings(has_birth, "ax" in L, numbers_both=True, prior=2e-4)
        linker = Linker([dl, dr], settings, log_level=None)
        linker.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=1, num_chunks=1)
        start = _levels(linker)
        lam = linker._settings_obj.core_model_settings.probability_two_random_records_match
        rules = _em_rules(has_birth)
        sessions = _em_sessions(engine, linker, dl.physical_name, dr.physical_name, rules)
        for rule in rules:
            linker.training.estimate_parameters_using_expectation_maximisation(
                f"{rule} and l.train = 1", estimate_without_term_frequencies=True
            )
        ts = linker._settings_obj.training_settings
        got = train_m(sessions, [m for m, _ in start], [u for _, u in start], lam, ts.max_iterations, ts.em_convergence)
        want = _levels(linker)
    assert all(p.n.sum() > 100 for p, _, _ in sessions)  # every session has pairs to learn from
    moved = 0
    for (m0, _), (m_splink, u_splink), m_numpy, (_, u0) in zip(start, want, got, start):
        np.testing.assert_allclose(m_numpy, m_splink, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(u_splink, u0)  # u fixed by both
        moved += int(np.abs(m_numpy - m0).max() > 1e-3)
    assert moved >= 3  # the EM did move the m of several comparisons from Splink's defaults


def test_u_from_pattern_counts_is_a_direct_count_of_the_sampled_pairs(files):
    from splink import Linker

    from nonrecours.admin.linkage import _settings
    from nonrecours.admin.linkage_em import pattern_sql, read_patterns, u_from_patterns
    from nonrecours.engines.duckdb import DuckDBEngine

    left, tables = files
    with DuckDBEngine() as engine:
        L, R, dl, dr = _registered(engine, left, tables["health"], share_u=0.1)
        settings, _ = _settings(True, "ax" in L, numbers_both=True)
        linker = Linker([dl, dr], settings, log_level=None)
        comps = linker._settings_obj.comparisons
        sample = "(select * from {} where usample = 1)"
        counts = engine.sql(pattern_sql(comps, sample.format(dl.physical_name), sample.format(dr.physical_name), "1=1"))
        patterns = read_patterns(counts, comps)
        sizes = [len(cc._comparison_levels_excluding_null) for cc in comps]
        u = dict(zip([cc.output_column_name for cc in comps], u_from_patterns(patterns, sizes)))
    ls, rs = L[L["usample"] == 1], R[R["usample"] == 1]
    assert patterns.n.sum() == len(ls) * len(rs)
    assert np.all(np.diff(patterns.gamma[:, 0]) >= 0)  # sorted: the engine's row order does not matter
    pairs = ls.merge(rs, how="cross", suffixes=("_l", "_r"))
    for col, exact in (("surname", 3), ("first_name", 3), ("commune", 1), ("sex", 1), ("birth_date", 3)):
        a, b = pairs[f"{col}_l"], pairs[f"{col}_r"]
        both = a.notna() & b.notna()
        direct = float((a[both] == b[both]).sum()) / float(both.sum())
        assert u[col][exact] == pytest.approx(direct, rel=1e-12), col
        assert u[col].sum() == pytest.approx(1.0, rel=1e-12)


def test_em_is_the_same_whatever_the_order_of_the_patterns_and_skips_an_empty_session():
    """The engine returns the patterns in any order: sorted first, the trained m are the same to the bit; a
    session without pairs estimates nothing (the starting m stay)."""
    from nonrecours.admin.linkage_em import Patterns, em_session, read_patterns, train_m

    rng = np.random.default_rng(4)
    gamma = np.array([[a, b, c] for a in (-1, 0, 1, 2) for b in (0, 1) for c in (-1, 0, 1)])
    n = rng.integers(1, 5_000, len(gamma)).astype(float)
    n[(gamma[:, 0] == 2) & (gamma[:, 1] == 1)] *= 0.02
    frame = pd.DataFrame({"gamma_a": gamma[:, 0], "gamma_b": gamma[:, 1], "gamma_c": gamma[:, 2], "n": n})
    comps = [type("C", (), {"_gamma_column_name": f"gamma_{c}"})() for c in "abc"]
    m0 = [np.array([0.05, 0.15, 0.8]), np.array([0.1, 0.9]), np.array([0.2, 0.8])]
    u = [np.array([0.9, 0.08, 0.02]), np.array([0.7, 0.3]), np.array([0.6, 0.4])]
    one = read_patterns(frame, comps)
    other = read_patterns(frame.sample(frac=1.0, random_state=2), comps)
    a, lam_a, it = em_session(one, m0, u, 0.1, [True, True, True], 15, 1e-6)
    b, lam_b, _ = em_session(other, m0, u, 0.1, [True, True, True], 15, 1e-6)
    assert it > 1 and lam_a == lam_b and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(not np.allclose(x, y) for x, y in zip(a, m0))
    empty = Patterns(gamma=np.zeros((0, 3), dtype=np.int64), n=np.zeros(0))
    kept = train_m([(empty, [True, False, True], [])], m0, u, 0.1, 15, 1e-3)
    assert all(np.array_equal(x, y) for x, y in zip(kept, m0))


def test_prediction_by_chunks_gives_the_same_links(files, monkeypatch):
    """Scoring the candidate pairs by chunks of the recipients (large files) finds the same links, to the last bit."""
    from splink.internals.linker_components.inference import LinkerInference

    from nonrecours.admin import linkage

    left, sources = files
    right = sources["health"]
    whole = linkage.link_records(left, right)
    asked = []
    predict = LinkerInference.predict

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("num_chunks_left"))
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(LinkerInference, "predict", spy)
    monkeypatch.setattr(linkage, "PREDICT_CHUNK", max(1, len(left) // 8))
    chunked = linkage.link_records(left, right)
    assert asked and asked[0] > 1
    assert len(whole.links) > 0
    pd.testing.assert_frame_equal(chunked.links, whole.links)
    pd.testing.assert_frame_equal(chunked.near_misses, whole.near_misses)
    assert chunked.parameters == whole.parameters


def test_large_files_keep_splinks_training_with_term_frequencies(files, monkeypatch):
    """Beyond SMALL_FILES the model is Splink's own training (u in chunks, EM with term frequencies): at 5 million
    recipients it keeps TSS's true precision at 0.983 where the pattern-count EM gave 0.971. Forced here on small
    files: that path runs (and not the pattern counts), its parameters differ from the pattern-count ones (the term
    frequencies enter its EM), reruns give the same links to the last bit, and the links stay good."""
    from nonrecours.admin import linkage

    left, sources = files
    right = sources["tss"]
    small = linkage.link_records(left, right)
    calls = []
    splink_train, pattern_train = linkage._train_splink, linkage._train
    monkeypatch.setattr(linkage, "_train_splink", lambda *a, **k: calls.append("splink") or splink_train(*a, **k))
    monkeypatch.setattr(linkage, "_train", lambda *a, **k: calls.append("patterns") or pattern_train(*a, **k))
    monkeypatch.setattr(linkage, "SMALL_FILES", 0)
    large = linkage.link_records(left, right)
    again = linkage.link_records(left, right)
    assert calls == ["splink", "splink"]
    pd.testing.assert_frame_equal(large.links, again.links)
    assert large.parameters == again.parameters
    assert large.parameters["levels"] != small.parameters["levels"]
    found = set(zip(large.links["id_l"], large.links["id_r"]))
    kept = set(zip(small.links["id_l"], small.links["id_r"]))
    assert len(found & kept) >= 0.98 * max(len(found), len(kept))


@pytest.mark.parametrize("source", ["health", "tpn"])
def test_one_statement_prediction_gives_splinks_links(files, source, monkeypatch):
    """Small files are scored by ``_predict`` (each blocking rule's join selecting the records' columns, each
    Jaro-Winkler similarity computed once per pair): the links, near misses and parameters of Splink's own
    ``predict`` (its table of pair ids joined back to the records), to the last bit."""
    from nonrecours.admin import linkage

    left, sources = files
    right = sources[source]
    calls = []
    one_statement = linkage._predict

    def spy(linker, min_candidate, sizes):
        calls.append(min_candidate)
        return one_statement(linker, min_candidate, sizes)

    monkeypatch.setattr(linkage, "_predict", spy)
    ours = linkage.link_records(left, right)
    assert calls
    monkeypatch.setattr(
        linkage, "_predict", lambda linker, mc, sizes: linker.inference.predict(threshold_match_probability=mc)
    )
    splinks = linkage.link_records(left, right)
    assert len(ours.links) > 0 and len(ours.near_misses) > 0
    pd.testing.assert_frame_equal(ours.links, splinks.links)
    pd.testing.assert_frame_equal(ours.near_misses, splinks.near_misses)
    assert ours.parameters == splinks.parameters


@pytest.mark.parametrize("side", ["left", "right"])
def test_repeated_record_ids_are_refused(files, side):
    """Ids proved unique by their fingerprints pass; a repeated id (or two missing ones) is refused, as before."""
    from nonrecours.admin.linkage import link_records
    from nonrecours.errors import InputError

    left, sources = files
    frames = {"left": left.head(300).copy(), "right": sources["tpn"].head(300).copy()}
    bad = frames[side]
    bad.loc[bad.index[5], "rec_id"] = bad["rec_id"].iloc[7]
    with pytest.raises(InputError, match="record ids are not unique"):
        link_records(frames["left"], frames["right"])
    bad.loc[bad.index[[5, 7]], "rec_id"] = None
    with pytest.raises(InputError, match="record ids are not unique"):
        link_records(frames["left"], frames["right"])
