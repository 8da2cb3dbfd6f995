"""Record linkage of the recipients' files with a right's source: by number, then Fellegi–Sunter.

Two passes, as the organisms' files are linked in practice:

1. **by number**: where both records carry a certified hashed social-security
   number, records with the same number are linked (one SQL join);
2. **probabilistic**, on the pairs where at least one side has no certified
   number: a Fellegi–Sunter model (Splink on its embedded DuckDB backend)
   with blocking rules, Jaro–Winkler name comparisons with term-frequency
   adjustment, birth date (with swapped day and month), sex, commune and
   address distance; ``u`` probabilities by random sampling, ``m`` by EM.
   Candidate pairs are made one-to-one (best pair first) and those with a
   match probability at least ``threshold`` are links.

The pairs below the threshold that were the best candidate of a recipient
are kept (``near_misses``): their match probabilities are the model's
expected number of missed links, which :mod:`nonrecours.admin.rates` uses to
correct the count of takers.

Splink is imported inside the functions (it is heavy) and its logging is
silenced: no message names a record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_columns
from ..errors import InputError, OptionError, message

__all__ = ["LinkResult", "link_records", "link_quality", "LINK_COLUMNS", "METHODS"]

LINK_COLUMNS = ("id_l", "id_r", "match_probability", "method")
METHODS = ("number", "probabilistic")
_NAME_COLUMNS = ("surname", "first_name", "commune")


@dataclass(frozen=True)
class LinkResult:
    """Links between a recipients table (left) and a right's source (right).

    Attributes
    ----------
    links : DataFrame
        ``id_l``, ``id_r``, ``match_probability``, ``method`` (``number`` or ``probabilistic``).
    near_misses : DataFrame
        ``id_l``, ``id_r``, ``match_probability``: each unlinked left record's best
        candidate below the threshold (probability >= ``min_candidate``).
    threshold : float
    parameters : dict
        The model's ``probability_two_random_records_match`` and the number of candidate pairs scored.
    """

    links: pd.DataFrame
    near_misses: pd.DataFrame
    threshold: float
    parameters: dict


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Columns used by the model: ``nir_key`` (certified number or null), metric ``ax``/``ay``, ``cell``."""
    out = pd.DataFrame({"rec_id": df["rec_id"].astype(str)})
    if "nir_hash" in df:
        cert = df["nir_certified"].fillna(0).astype(int) == 1 if "nir_certified" in df else df["nir_hash"].notna()
        out["nir_key"] = df["nir_hash"].where(cert & df["nir_hash"].notna(), None).astype(object)
    else:
        out["nir_key"] = pd.Series([None] * len(df), dtype=object)
    for c in ("surname", "first_name", "birth_date", "sex", "commune"):
        if c in df:
            out[c] = df[c].astype(object).where(df[c].notna(), None)
    if "x" in df or "lon" in df:
        x = df["x"].to_numpy(dtype=float) if "x" in df else np.full(len(df), np.nan)
        y = df["y"].to_numpy(dtype=float) if "y" in df else np.full(len(df), np.nan)
        if "lon" in df:  # overseas WGS84: local equirectangular metres, far from the Lambert-93 range
            lon = df["lon"].to_numpy(dtype=float)
            lat = df["lat"].to_numpy(dtype=float)
            gx = -1e8 + lon * 111_320.0 * np.cos(np.radians(np.nan_to_num(lat)))
            gy = -1e8 + lat * 110_574.0
            x = np.where(np.isnan(x), gx, x)
            y = np.where(np.isnan(y), gy, y)
        out["ax"], out["ay"] = x, y
        cell = (pd.Series(np.floor(x / 200)).astype("Int64").astype(str) + "_"
                + pd.Series(np.floor(y / 200)).astype("Int64").astype(str))
        out["cell"] = cell.where(~np.isnan(x) & ~np.isnan(y), None).astype(object)
    return out


def _by_number(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    from .sql import run_sql

    sql = ("select l.rec_id as id_l, r.rec_id as id_r from l join r on l.nir_key = r.nir_key "
           "where l.nir_key is not null")
    return run_sql(sql, {"l": left[["rec_id", "nir_key"]], "r": right[["rec_id", "nir_key"]]})


def _settings(has_birth: bool, has_address: bool):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    residual = " and (l.nir_key is null or r.nir_key is null)"
    comparisons = [cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]).configure(term_frequency_adjustments=True),
                   cl.JaroWinklerAtThresholds("first_name", [0.92, 0.8]).configure(term_frequency_adjustments=True),
                   cl.ExactMatch("commune").configure(term_frequency_adjustments=True)]
    # blocking rules: each pair of a block shares a key; at national scale no key may be a single common
    # value (a first name, a birth date) on its own, hence the combinations
    dep = "substr(l.commune, 1, 2) = substr(r.commune, 1, 2)"
    rules = ["l.surname = r.surname and l.commune = r.commune" + residual]
    if has_birth:
        comparisons.append(cl.CustomComparison(output_column_name="birth_date", comparison_levels=[
            cll.NullLevel("birth_date"), cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel("substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4) and "
                            "substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2) and "
                            "substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)", "day and month swapped"),
            cll.LevenshteinLevel("birth_date", 1), cll.ElseLevel()]))
        comparisons.append(cl.ExactMatch("sex"))
        rules.append("l.surname = r.surname and l.first_name = r.first_name and "
                     "substr(l.birth_date, 1, 4) = substr(r.birth_date, 1, 4)" + residual)
        rules.append("l.birth_date = r.birth_date and substr(l.first_name, 1, 1) = substr(r.first_name, 1, 1)"
                     + residual)
        rules.append("l.birth_date = r.birth_date and l.commune = r.commune" + residual)
        rules.append("l.first_name = r.first_name and l.commune = r.commune and "
                     "substr(l.birth_date, 1, 4) = substr(r.birth_date, 1, 4)" + residual)
    if has_address:
        d = "sqrt(power(ax_l - ax_r, 2) + power(ay_l - ay_r, 2))"
        comparisons.append(cl.CustomComparison(output_column_name="address", comparison_levels=[
            cll.CustomLevel("ax_l is null or ax_r is null", "null").configure(is_null_level=True),
            cll.CustomLevel(f"{d} < 5", "same address"), cll.CustomLevel(f"{d} < 1000", "within 1 km"),
            cll.ElseLevel()]))
        rules.append("l.cell = r.cell" + residual)
        rules.append(f"l.surname = r.surname and l.first_name = r.first_name and {dep}" + residual)
    return SettingsCreator(link_type="link_only", unique_id_column_name="rec_id", comparisons=comparisons,
                           blocking_rules_to_generate_predictions=rules,
                           retain_matching_columns=False, retain_intermediate_calculation_columns=False,
                           em_convergence=0.001, max_iterations=15), rules


def _quiet():
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _one_to_one(pairs: pd.DataFrame) -> pd.DataFrame:
    """Greedy one-to-one assignment: best probability first, each id used once (ties by ids)."""
    p = pairs.sort_values(["match_probability", "id_l", "id_r"], ascending=[False, True, True], kind="stable")
    p = p.drop_duplicates("id_l").drop_duplicates("id_r")
    return p.reset_index(drop=True)


def link_records(left: pd.DataFrame, right: pd.DataFrame, *, threshold: float = 0.9, min_candidate: float = 0.01,
                 seed: int = 1, max_pairs_u: float = 1e6) -> LinkResult:
    """Link ``left`` (recipients) with ``right`` (a right's source): by number, then probabilistically.

    Parameters
    ----------
    left, right : DataFrame
        Need ``rec_id`` (unique), ``surname``, ``first_name``, ``commune``; used when
        both sides have them: ``nir_hash`` (+ ``nir_certified``), ``birth_date``,
        ``sex``, and address coordinates ``x``/``y`` (Lambert-93) or ``lon``/``lat``.
    threshold : float
        Match probability from which a candidate pair is a link (0.9).
    min_candidate : float
        Smallest probability kept for the near misses (0.01).
    seed : int
        Seed of the random sampling of ``u`` probabilities.
    max_pairs_u : float
        Pairs sampled to estimate ``u``.

    Returns
    -------
    LinkResult

    Notes
    -----
    Fellegi & Sunter (1969), *JASA* 64, 1183–1210: the match weight is the sum
    over comparisons of ``log2(m_k / u_k)`` at the observed level, ``m`` and
    ``u`` the probabilities of that level among matches and non-matches;
    Splink estimates ``u`` on random pairs and ``m`` by EM (Winkler 1988),
    with term-frequency adjustment of exact name matches (a common surname
    weighs less). The prior is estimated from deterministic rules (exact
    names and birth date or address) assumed to find 60 % of the matches.
    """
    if not (0 < threshold < 1) or not (0 < min_candidate < threshold):
        raise OptionError(message("invalid thresholds", where="--threshold",
                                  expected="0 < min_candidate < threshold < 1", found=f"{min_candidate}, {threshold}"))
    for name, df in (("left", left), ("right", right)):
        check_columns(df, ["rec_id", *_NAME_COLUMNS], role="column", source=f"{name} file")
        dup = df["rec_id"].duplicated()
        if dup.any():
            raise InputError(message("record ids are not unique", where=f"{name} file, column 'rec_id'",
                                     found=f"{int(dup.sum())} duplicated rows", hint="deduplicate the file"))
    L, R = _prepare(left), _prepare(right)
    num = _by_number(L, R)
    num = num.assign(match_probability=1.0, method="number")
    empty_pairs = pd.DataFrame({"id_l": pd.Series(dtype=str), "id_r": pd.Series(dtype=str),
                                "match_probability": pd.Series(dtype=float)})
    Lr = L[~L["rec_id"].isin(num["id_l"])]
    Rr = R[~R["rec_id"].isin(num["id_r"])]
    has_birth = "birth_date" in L and "birth_date" in R
    has_address = "ax" in L and "ax" in R
    keep = ["rec_id", "nir_key", "surname", "first_name", "commune"] + (["birth_date", "sex"] if has_birth else []) \
        + (["ax", "ay", "cell"] if has_address else [])
    params = {"n_pairs_scored": 0, "probability_two_random_records_match": float("nan")}
    if len(Lr) and len(Rr):
        pairs, params = _probabilistic(Lr[keep], Rr[keep], has_birth, has_address, seed, max_pairs_u, min_candidate)
    else:
        pairs = empty_pairs
    best = _one_to_one(pairs)
    acc = best["match_probability"] >= threshold
    prob = best[acc].assign(method="probabilistic")
    links = pd.concat([num[list(LINK_COLUMNS)], prob[list(LINK_COLUMNS)]], ignore_index=True)
    near = best[~acc][["id_l", "id_r", "match_probability"]].reset_index(drop=True)
    return LinkResult(links=links, near_misses=near, threshold=float(threshold), parameters=params)


def _probabilistic(L: pd.DataFrame, R: pd.DataFrame, has_birth: bool, has_address: bool, seed: int,
                   max_pairs_u: float, min_candidate: float) -> tuple[pd.DataFrame, dict]:
    import duckdb
    from splink import DuckDBAPI, Linker

    _quiet()
    con = duckdb.connect()
    try:
        db = DuckDBAPI(connection=con)
        settings, rules = _settings(has_birth, has_address)
        dl = db.register(L.assign(source_dataset="l"), table_name="recipients_l")
        dr = db.register(R.assign(source_dataset="r"), table_name="source_r")
        linker = Linker([dl, dr], settings, log_level=None)
        exact = ["l.surname = r.surname and l.first_name = r.first_name and l.birth_date = r.birth_date"] \
            if has_birth else ["l.surname = r.surname and l.first_name = r.first_name and l.cell = r.cell"]
        try:
            linker.training.estimate_probability_two_random_records_match(exact, recall=0.6)
        except Exception:  # noqa: BLE001 - no deterministic match at all: a small prior
            pass
        linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs_u, seed=seed)
        # EM sessions: each comparison is estimated in a session whose blocking rule does not fix it;
        # blocks narrow enough that matches are a visible share of their pairs
        if has_birth:
            em_rules = ["l.birth_date = r.birth_date and l.commune = r.commune",
                        "l.surname = r.surname and l.commune = r.commune",
                        "l.surname = r.surname and l.first_name = r.first_name and "
                        "substr(l.birth_date, 1, 4) = substr(r.birth_date, 1, 4)"]
        else:
            em_rules = ["l.surname = r.surname and l.first_name = r.first_name and "
                        "substr(l.commune, 1, 2) = substr(r.commune, 1, 2)",
                        "l.cell = r.cell and l.first_name = r.first_name",
                        "l.cell = r.cell and l.surname = r.surname"]
        for rule in em_rules:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        pred = linker.inference.predict(threshold_match_probability=min_candidate).as_pandas_dataframe()
        lam = float(linker._settings_obj._probability_two_random_records_match)
        model = linker.misc.save_model_to_json()
        levels = {c["output_column_name"]: [(lv.get("sql_condition", "")[:40], lv.get("m_probability"),
                                             lv.get("u_probability")) for lv in c["comparison_levels"]]
                  for c in model["comparisons"]}
    finally:
        con.close()
    pairs = pred.rename(columns={"rec_id_l": "id_l", "rec_id_r": "id_r"})
    # the link is oriented: recipients on the left
    swap = pairs["source_dataset_l"] != "l" if "source_dataset_l" in pairs else np.zeros(len(pairs), bool)
    a, b = pairs["id_l"].where(~swap, pairs["id_r"]), pairs["id_r"].where(~swap, pairs["id_l"])
    out = pd.DataFrame({"id_l": a.astype(str), "id_r": b.astype(str),
                        "match_probability": pairs["match_probability"].astype(float)})
    return out, {"n_pairs_scored": int(len(out)), "probability_two_random_records_match": lam, "levels": levels}


def link_quality(result: LinkResult, source: str, n_left: int, truth: pd.DataFrame | None = None) -> dict:
    """One row of the linkage-quality table.

    Returns
    -------
    dict
        ``source``, ``n_left``, ``links_number``, ``links_probabilistic``,
        ``share_number``, ``expected_false_links`` (sum of ``1 - p`` over links),
        ``expected_missed_links`` (sum of the near misses' ``p``),
        ``est_precision``, ``est_recall`` (the model's), and when ``truth`` (``id_l``,
        ``id_r`` of the true links) is given ``true_links``, ``true_precision``,
        ``true_recall``.

    Notes
    -----
    With ``p_i`` the match probabilities of the links (1 for links by number)
    and ``q_j`` those of the near misses: estimated precision
    ``sum p_i / n_links``, estimated recall ``sum p_i / (sum p_i + sum q_j)``.
    Missed pairs that no blocking rule generated are not counted by the
    model (the true recall shows them in simulations).
    """
    links = result.links
    p = links["match_probability"].to_numpy(dtype=float)
    q = result.near_misses["match_probability"].to_numpy(dtype=float)
    n_num = int((links["method"] == "number").sum())
    row = {"source": source, "n_left": int(n_left), "threshold": result.threshold,
           "links_number": n_num, "links_probabilistic": int(len(links) - n_num),
           "share_number": n_num / len(links) if len(links) else float("nan"),
           "expected_false_links": float((1 - p).sum()), "expected_missed_links": float(q.sum()),
           "est_precision": float(p.mean()) if len(p) else float("nan"),
           "est_recall": float(p.sum() / (p.sum() + q.sum())) if p.sum() + q.sum() > 0 else float("nan")}
    if truth is not None:
        t = set(zip(truth["id_l"].astype(str), truth["id_r"].astype(str)))
        found = set(zip(links["id_l"].astype(str), links["id_r"].astype(str)))
        tp = len(t & found)
        row.update(true_links=len(t), true_precision=tp / len(found) if found else float("nan"),
                   true_recall=tp / len(t) if t else float("nan"))
    return row
