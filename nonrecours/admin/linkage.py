"""Record linkage of the recipients' files with a right's source: by number, then Fellegi–Sunter.

Two passes, as the organisms' files are linked in practice:

1. **by number**: where both records carry a certified hashed social-security
   number, records with the same number are linked (one SQL join);
2. **probabilistic**, on the pairs where at least one side has no certified
   number: a Fellegi–Sunter model (Splink's DuckDB backend, on the
   connection of a :class:`~nonrecours.engines.duckdb.DuckDBEngine`)
   with blocking rules, Jaro–Winkler name comparisons with term-frequency
   adjustment, birth date (with swapped day and month), sex, commune and
   address distance; ``u`` probabilities on random pairs, ``m`` by EM
   (small files: trained on counts of comparison patterns,
   :mod:`nonrecours.admin.linkage_em`; large files: Splink's own training).
   Candidate pairs are made one-to-one (best pair first) and those with a
   match probability at least ``threshold`` are links.

The pairs below the threshold that were the best candidate of a recipient
are kept (``near_misses``): their match probabilities are the model's
expected number of missed links, which :mod:`nonrecours.admin.rates` uses to
correct the count of takers.

Splink is imported inside the functions (it is heavy) and its logging is
silenced: no message names a record.

On small files (up to :data:`SMALL_FILES` records) the model is trained
(prior, ``u`` and ``m``) on integer counts computed by the engine (pairs per
key, pairs per comparison pattern) and iterated in numpy: a parallel sum of
probabilities in SQL added them in the order its threads finished, which
changed the last digits of the parameters from one run to the next; counts
are the same whatever the order. Larger files are trained by Splink itself
(EM with term frequencies) on one thread
(:meth:`~nonrecours.engines.duckdb.DuckDBEngine.single_thread`), for the same
reason. Scoring the pairs
(one row at a time) runs on all the engine's threads. The same files then
give the same links and probabilities, to the last bit, on every run and
whatever the engine's threads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._checks import check_columns
from .._text import release_arrow
from .._unique import surely_unique
from ..engines import borrow_engine
from ..engines.base import Engine
from ..engines.duckdb import DuckDBEngine
from ..engines.spark import SparkEngine
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
    """Columns used by the model: ``nir_key`` (certified number or null), metric ``ax``/``ay``, ``cell``.

    Text columns keep their (Arrow) string type; ``cell`` is an integer key of
    the 200 m square of the address (null without coordinates).
    """
    out = pd.DataFrame({"rec_id": df["rec_id"].astype("str")})
    if "nir_hash" in df:
        cert = df["nir_certified"].fillna(0).astype(int) == 1 if "nir_certified" in df else df["nir_hash"].notna()
        out["nir_key"] = df["nir_hash"].astype("str").where(cert & df["nir_hash"].notna())
    else:
        out["nir_key"] = pd.Series(pd.NA, index=df.index, dtype="str")
    for c in ("surname", "first_name", "birth_date", "sex", "commune"):
        if c in df:
            out[c] = df[c].astype("str")
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
        ok = ~np.isnan(x) & ~np.isnan(y)
        with np.errstate(invalid="ignore"):  # |x|, |y| < 2e8 m: 200 m squares numbered below 1e6 on each axis
            key = np.floor(np.nan_to_num(x) / 200).astype(np.int64) * 2_000_000 + np.floor(
                np.nan_to_num(y) / 200
            ).astype(np.int64)
        out["cell"] = pd.arrays.IntegerArray(np.where(ok, key, 0), ~ok)
    return out


def _by_number(left: pd.DataFrame, right: pd.DataFrame, engine: Engine) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The pairs with the same certified number (``id_l``, ``id_r``, ordered by ids) and their rows in each side.

    The engine gives the pairs' rows (integers), the ids are taken from the sides: fetching the ids of the
    pairs and finding them again in the sides (``isin``) cost 0.24 CPU s on the demo's health linkage.
    """
    frames = {
        k: pd.DataFrame({"pos": np.arange(len(df), dtype=np.int64), "rec_id": df["rec_id"], "nir_key": df["nir_key"]})
        for k, df in (("l", left), ("r", right))
    }
    sql = (
        "select l.pos as pl, r.pos as pr from l join r on l.nir_key = r.nir_key "
        "where l.nir_key is not null order by l.rec_id, r.rec_id"
    )
    pos = engine.sql_frames(sql, frames)
    pl, pr = pos["pl"].to_numpy(dtype=np.int64), pos["pr"].to_numpy(dtype=np.int64)
    if not len(pos):  # the engine's empty text columns (object), as the links of a source without numbers had
        return pd.DataFrame({"id_l": pd.Series(dtype=object), "id_r": pd.Series(dtype=object)}), pl, pr
    ids = {"id_l": left["rec_id"].array.take(pl), "id_r": right["rec_id"].array.take(pr)}
    return pd.DataFrame(ids), pl, pr


def _settings(has_birth: bool, has_address: bool, numbers_both: bool, prior: float | None = None):
    """Comparisons and blocking rules.

    Every pair of a block shares a key; at national scale no key may be a single
    common value (a first name, a birth date) on its own, hence the
    combinations. Rules whose blocks grow with the square of the files (a
    key shared by a whole département or birth date) are kept only where the
    pairs they add can be links: surname, first name and year of birth
    (people who moved); with a moved address and a changed surname the
    model could not reach the threshold anyway, so no national birth-date or
    département-wide name block is generated; the 200 m square of the address only with the first name's
    initial (or a missing first name on one side). When both files carry numbers, only pairs with at least one
    side without a certified number are candidates; each rule is then stated
    twice, once for recipients without a number and once for recipients with
    one against source records without, so that each join has a one-sided
    filter the engine applies before joining (instead of enumerating the pairs
    of two numbered records and dropping them).
    """
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    comparisons: list = [
        cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]).configure(term_frequency_adjustments=True),
        cl.JaroWinklerAtThresholds("first_name", [0.92, 0.8]).configure(term_frequency_adjustments=True),
        cl.ExactMatch("commune").configure(term_frequency_adjustments=True),
    ]
    rules: list = ["l.surname = r.surname and l.commune = r.commune"]
    if has_birth:
        comparisons.append(
            cl.CustomComparison(
                output_column_name="birth_date",
                comparison_levels=[
                    cll.NullLevel("birth_date"),
                    cll.ExactMatchLevel("birth_date"),
                    cll.CustomLevel(
                        "substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4) and "
                        "substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2) and "
                        "substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)",
                        "day and month swapped",
                    ),
                    cll.LevenshteinLevel("birth_date", 1),
                    cll.ElseLevel(),
                ],
            )
        )
        comparisons.append(cl.ExactMatch("sex"))
        rules.append(
            "l.surname = r.surname and l.first_name = r.first_name and "
            "substr(l.birth_date, 1, 4) = substr(r.birth_date, 1, 4)"
        )
        rules.append("l.birth_date = r.birth_date and l.commune = r.commune")
        rules.append(
            "l.first_name = r.first_name and l.commune = r.commune and "
            "substr(l.birth_date, 1, 4) = substr(r.birth_date, 1, 4)"
        )
    if has_address:
        d = "sqrt(power(ax_l - ax_r, 2) + power(ay_l - ay_r, 2))"
        comparisons.append(
            cl.CustomComparison(
                output_column_name="address",
                comparison_levels=[
                    cll.CustomLevel("ax_l is null or ax_r is null", "null").configure(is_null_level=True),
                    cll.CustomLevel(f"{d} < 5", "same address"),
                    cll.CustomLevel(f"{d} < 1000", "within 1 km"),
                    cll.ElseLevel(),
                ],
            )
        )
        # the 200 m square with the first name's initial (or a first name missing on one side): the people who
        # changed their surname (marriage) or whose surname has a typo; a whole dense square against a whole square
        # scored every pair of neighbours (on the 914k-recipient files, TPN's linkage 17.4 -> 11.6 CPU seconds,
        # true recall 0.9900 -> 0.9896: the links whose first name's initial differs)
        rules.append("l.cell = r.cell and substr(l.first_name, 1, 1) = substr(r.first_name, 1, 1)")
        rules.append("l.cell = r.cell and l.first_name is null")
        rules.append("l.cell = r.cell and r.first_name is null")
    # Splink's default prior (1e-4) when none is given
    prior_setting: dict[str, Any] = {} if prior is None else {"probability_two_random_records_match": prior}
    if numbers_both:
        rules = [
            f"{r} and {side}"
            for r in rules
            for side in ("l.nir_key is null", "l.nir_key is not null and r.nir_key is null")
        ]
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="rec_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        em_convergence=0.001,
        max_iterations=15,
        **prior_setting,
    ), rules


def _quiet():
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def link_records(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    threshold: float = 0.9,
    min_candidate: float = 0.01,
    seed: int = 1,
    max_pairs_u: float = 1e6,
    memory_limit: str | None = "4GB",
    engine: DuckDBEngine | SparkEngine | None = None,
) -> LinkResult:
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
        Seed of the random draws: the recipients of the EM sessions and the records of ``u``'s random pairs.
    max_pairs_u : float
        Pairs sampled to estimate ``u`` (at most :data:`SMALL_PAIRS_U` when the files are small,
        :data:`SMALL_FILES`).
    memory_limit : str, optional
        DuckDB's memory limit when no ``engine`` is given (it spills to a
        temporary folder beyond); ``None``: DuckDB's default (80 % of RAM).
    engine : DuckDBEngine or SparkEngine, optional
        The engine the linkage runs on: Splink's DuckDB backend on a DuckDB
        engine's connection (under its memory limit and threads), or Splink's
        Spark backend on a Spark engine's session (a shared platform); default:
        a DuckDB engine opened for the call with ``memory_limit``.

    Returns
    -------
    LinkResult

    Notes
    -----
    Fellegi & Sunter (1969), *JASA* 64, 1183–1210: the match weight is the sum
    over comparisons of ``log2(m_k / u_k)`` at the observed level, ``m`` and
    ``u`` the probabilities of that level among matches and non-matches;
    ``u`` is estimated on random pairs and ``m`` by EM (Winkler 1988): on
    small files (:data:`SMALL_FILES`) on the counts of comparison patterns
    (Splink's EM without term frequencies), on larger files by Splink's own
    EM with term frequencies (which kept the national TSS linkage's true
    precision at 0.983 where the pattern counts gave 0.971); Splink scores
    the candidate pairs, with term-frequency adjustment of
    exact name matches (a common surname weighs less). The prior is
    estimated from deterministic rules (exact names and birth date or
    address) assumed to find 60 % of the matches.
    The ``m`` probabilities are estimated on the blocks of a random sample of
    :data:`EM_SAMPLE` recipients (all of them when fewer), so that training
    costs the same whatever the size of the files. Candidate pairs are made
    one-to-one, best probability first (ties by ids). The model is trained
    on integer counts (small files) or on one thread (large files), so that
    its parameters, hence the probabilities, are the same to the last bit on
    every run (see the module's docstring).
    """
    if engine is not None and not isinstance(engine, (DuckDBEngine, SparkEngine)):
        raise OptionError(
            message(
                "the linkage runs on Splink's DuckDB or Spark backend",
                where="parameter engine",
                expected="a DuckDBEngine or a SparkEngine",
                found=f"a {engine.name or type(engine).__name__} engine",
                hint="open one with nonrecours.engines.open_engine('duckdb') or open_engine('spark')",
            )
        )
    if not (0 < threshold < 1) or not (0 < min_candidate < threshold):
        raise OptionError(
            message(
                "invalid thresholds",
                where="parameter threshold",
                expected="0 < min_candidate < threshold < 1",
                found=f"{min_candidate}, {threshold}",
            )
        )
    for name, df in (("left", left), ("right", right)):
        check_columns(df, ["rec_id", *_NAME_COLUMNS], role="column", source=f"{name} file")
        ids = df["rec_id"]
        # distinct sorted fingerprints prove the ids unique (a sixth of the time of pandas' hash table on the demo's
        # Arrow strings); the rows sharing an id are counted only when that proof fails
        if not ids.hasnans and surely_unique(ids.array):
            continue
        dup = ids.duplicated()
        if dup.any():
            raise InputError(
                message(
                    "record ids are not unique",
                    where=f"{name} file, column 'rec_id'",
                    found=f"{int(dup.sum())} duplicated rows",
                    hint="deduplicate the file",
                )
            )
    del df, ids  # (the loop's references to the frames)
    release_arrow()  # the hash tables of the checks (0.3 GiB at a million records), kept by pyarrow's pool otherwise
    # _link lets the two frames go once prepared: a caller that keeps no reference of its own (the national
    # administrative phase) no longer holds them through the training and the prediction
    sides = [left, right]
    del left, right
    if engine is not None:
        return _link(sides, engine, threshold, min_candidate, seed, max_pairs_u)
    with DuckDBEngine(memory_limit=memory_limit) as own:
        return _link(sides, own, threshold, min_candidate, seed, max_pairs_u)


def _link(
    sides: list[pd.DataFrame],
    engine: DuckDBEngine | SparkEngine,
    threshold: float,
    min_candidate: float,
    seed: int,
    max_pairs_u: float,
) -> LinkResult:
    """:func:`link_records` on the engine ``engine``; ``sides`` (left, right) is emptied once they are prepared."""
    L, R = _prepare(sides[0]), _prepare(sides[1])
    sides.clear()
    num, rows_l, rows_r = _by_number(L, R, engine)
    num = num.assign(match_probability=1.0, method="number")
    empty_pairs = pd.DataFrame(
        {"id_l": pd.Series(dtype=str), "id_r": pd.Series(dtype=str), "match_probability": pd.Series(dtype=float)}
    )
    has_birth = "birth_date" in L and "birth_date" in R
    has_address = "ax" in L and "ax" in R
    keep = (
        ["rec_id", "nir_key", "surname", "first_name", "commune"]
        + (["birth_date", "sex"] if has_birth else [])
        + (["ax", "ay", "cell"] if has_address else [])
    )
    # one copy of each side at a time: the records not linked by number, the columns of the model
    unlinked_l, unlinked_r = np.ones(len(L), dtype=bool), np.ones(len(R), dtype=bool)
    unlinked_l[rows_l] = False
    unlinked_r[rows_r] = False
    L = L.loc[unlinked_l, keep]
    R = R.loc[unlinked_r, keep]
    release_arrow()  # the full prepared copies' blocks, kept by pyarrow's allocator otherwise
    params = {"n_pairs_scored": 0, "probability_two_random_records_match": float("nan")}
    if len(L) and len(R):
        sides = [L, R]  # _probabilistic lets them go once they are the engine's tables
        del L, R
        best, params = _probabilistic(sides, has_birth, has_address, seed, max_pairs_u, min_candidate, engine)
    else:
        best = empty_pairs
    acc = best["match_probability"] >= threshold
    prob = best[acc].assign(method="probabilistic")
    links = pd.concat([num[list(LINK_COLUMNS)], prob[list(LINK_COLUMNS)]], ignore_index=True)
    near = best[~acc][["id_l", "id_r", "match_probability"]].reset_index(drop=True)
    return LinkResult(links=links, near_misses=near, threshold=float(threshold), parameters=params)


def _decontaminate(model: dict, max_pairs_u: float) -> dict:
    """``u`` probabilities freed of the matches among the random pairs they were counted on.

    Random pairs include matches, a share ``lambda`` (the prior), so the raw
    estimate is ``u_raw = (1 - lambda) u + lambda m``. For a level that
    non-matches almost never reach (the same address to 5 m), ``u_raw`` is
    about ``lambda m``, and the level's weight ``log2(m / u_raw)`` only
    cancels the prior, whatever the number of records: a married name or a
    typo then sinks a true link as the files grow. Hence
    ``u = (u_raw - lambda m) / (1 - lambda)``, floored at one pair in the
    sample (``1 / max_pairs_u``: rarer levels cannot be told from that);
    a level no sampled pair reached gets the floor. ``ELSE`` levels keep
    theirs (close to 1).
    """
    lam = float(model["probability_two_random_records_match"])
    floor = 1.0 / max_pairs_u
    for comp in model["comparisons"]:
        for lv in comp["comparison_levels"]:
            m, u = lv.get("m_probability"), lv.get("u_probability")
            if lv.get("is_null_level") or lv.get("sql_condition") == "ELSE":
                continue
            # a level no sampled pair reached has no u (Splink would fall back on a default)
            lv["u_probability"] = floor if u is None else max((u - lam * (m or 0.0)) / (1.0 - lam), floor)
    return model


#: Recipients drawn for the EM sessions: their blocks hold all their candidate pairs, so that matches
#: keep their share of the pairs and the cost of training does not grow with the files. 25,000 recipients give each
#: EM session about ten thousand matches among their pairs: the m probabilities of the common levels to a few
#: thousandths (binomial standard error), enough for the weights log2(m/u); on the demo's files the links' true
#: precision and recall move in the fourth decimal from 100,000 (benchmarks/RESULTS.md).
EM_SAMPLE = 25_000


#: Records of both files (left + right, those not linked by number) up to which the files are small: ``u`` is
#: then counted on about :data:`SMALL_PAIRS_U` random pairs (at most ``max_pairs_u``) instead of ``max_pairs_u``.
#: On the demo's sources (about 0.4 to 0.6 M records) the links' true precision and recall moved in the fourth
#: decimal (benchmarks/RESULTS.md, when Splink still counted them in chunks). Larger files (national) are trained
#: by Splink itself (:func:`_train_splink`: ``u`` in chunks of ``max_pairs_u`` pairs, EM with term frequencies).
SMALL_FILES = 2_000_000

#: Random pairs ``u`` is counted on for small files: 300,000 pairs give the common levels (names within
#: Jaro-Winkler 0.8, the same commune) hundreds of pairs; the rarer levels get the floor 1 / 300,000.
SMALL_PAIRS_U = 300_000


#: Recipients (not linked by number) per chunk of Splink's prediction: the candidate pairs are scored chunk by chunk
#: (``predict(num_chunks_left=...)``), the same pairs and probabilities. On 914,236 recipients (520,000 left for the
#: health linkage) scoring in two chunks cut the prediction's peak of memory by 0.3 GiB for 25 % more CPU in the
#: linkage (benchmarks/RESULTS.md, run 6); fewer recipients left for the model are scored at once, as before.
PREDICT_CHUNK = 1_000_000


def _probabilistic(
    sides: list[pd.DataFrame],
    has_birth: bool,
    has_address: bool,
    seed: int,
    max_pairs_u: float,
    min_candidate: float,
    engine: DuckDBEngine | SparkEngine,
) -> tuple[pd.DataFrame, dict]:
    """Splink's candidate pairs of ``sides`` (the left and right records not linked by number), made one-to-one.

    ``sides`` is emptied: on a DuckDB engine the two frames of large files
    (beyond :data:`SMALL_FILES`) are copied into tables of the engine and let
    go, so that the training and the prediction do not hold them twice (as
    pandas frames outside the engine's memory limit and as Splink's tables
    inside it); at 5 million recipients about 0.8 GiB. Small files' frames are
    registered on the engine as they are (no copy), and scored by
    :func:`_predict`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from splink import Linker

    _quiet()
    L, R = sides
    numbers_both = bool(L["nir_key"].notna().any() and R["nir_key"].notna().any())
    # records per side, and those without a number: the smaller side of each blocking rule's join (_predict)
    sizes = {k: (len(side), int(side["nir_key"].isna().sum())) for k, side in (("l", L), ("r", R))}
    rng = np.random.default_rng(seed)
    share = min(1.0, EM_SAMPLE / max(len(L), 1))
    L["train"] = (rng.random(len(L)) < share).astype(np.int8)  # the caller's own copies: columns added in place
    L["source_dataset"] = "l"
    R["train"] = np.int8(0)
    R["source_dataset"] = "r"
    small = len(L) + len(R) <= SMALL_FILES
    pairs_u = min(max_pairs_u, SMALL_PAIRS_U) if small else max_pairs_u
    if small:
        # the records whose pairs u is counted on (_train): each side drawn with probability
        # sqrt(pairs_u / (nL nR)), as Splink's random sampling, so that about pairs_u pairs are compared
        draw = min(1.0, float(np.sqrt(pairs_u / (float(len(L)) * float(len(R))))))
        L["usample"] = (rng.random(len(L)) < draw).astype(np.int8)
        R["usample"] = (rng.random(len(R)) < draw).astype(np.int8)
    by_rank: list[Any] = []  # small files on DuckDB: each side's ids in their order
    with engine.scratch():  # the engine outlives the linkage: Splink's tables and the two inputs go with it
        db = engine.splink_api()
        n_left, n_pairs_lr = len(L), len(L) * len(R)
        # small files on DuckDB: the records' ranks in the order of their ids as Splink's ids (int64), the ids
        # kept in that order and given back to the links at the end; the ranks order (and break ties) as the ids
        # do (Arrow and DuckDB both compare text byte by byte), so the links are the same. Splink's scoring and the
        # one-to-one query then move and compare integers instead of ids of about twenty characters (on the demo's
        # TPN the one-to-one query 0.25 -> 0.11 CPU s)
        ranked = small and isinstance(engine, DuckDBEngine)
        if ranked:  # small files: the frames read by the engine where they are (scanned as fast as its own tables;
            # copying them cost 0.1 CPU s per linkage of the demo), their ids replaced by their ranks
            for name, side in (("recipients_l", L), ("source_r", R)):
                order = np.asarray(pc.sort_indices(pa.array(side["rec_id"].array)))
                rank = np.empty(len(side), dtype=np.int64)
                rank[order] = np.arange(len(side), dtype=np.int64)
                by_rank.append(side["rec_id"].array.take(order))
                side["rec_id"] = rank
                engine.register_frame(name, side)
            dl = db.register("recipients_l", table_name="recipients_l")
            dr = db.register("source_r", table_name="source_r")
        elif isinstance(engine, DuckDBEngine):  # the engine's tables (spilled beyond its limit), the frames let go
            for name, side in (("recipients_l", L), ("source_r", R)):
                engine.register_frame(f"{name}_frame", side)
                engine.create_table(name, f"select * from {name}_frame")
                engine.unregister(f"{name}_frame")
            sides.clear()
            del L, R, side
            release_arrow(heap=True)
            dl = db.register("recipients_l", table_name="recipients_l")
            dr = db.register("source_r", table_name="source_r")
        else:
            dl = db.register(L, table_name="recipients_l")
            dr = db.register(R, table_name="source_r")
        prior = _prior(engine, dl.physical_name, dr.physical_name, has_birth, n_pairs_lr)
        settings, _ = _settings(has_birth, has_address, numbers_both, prior)
        # Splink's column checks of the settings only log (its logging is silenced here): not run
        linker = Linker([dl, dr], settings, log_level=None, validate_settings=False)
        if small:
            model = _train(engine, linker, dl.physical_name, dr.physical_name, has_birth, pairs_u)
        else:  # national files: Splink's own training (see _train_splink)
            with engine.single_thread():  # sums of probabilities in one order: the same parameters on every run
                model = _train_splink(linker, dl, dr, has_birth, seed, pairs_u)
        if ranked:  # the trained parameters set on the linker's own model (Splink's SQL and parsing of a second
            # Linker built from the JSON cost as much as the first: 0.035 CPU s per demo linkage)
            _load_parameters(linker, model)
        else:
            linker = Linker([dl, dr], model, log_level=None, validate_settings=False)
        # scored by chunks of the recipients: DuckDB's hash tables of one chunk at a time (the same pairs)
        chunks = max(1, -(-n_left // PREDICT_CHUNK))
        if ranked and chunks == 1:  # small files on DuckDB: Splink's SQL in one statement (_predict)
            pred = _predict(linker, min_candidate, sizes)
        else:
            pred = linker.inference.predict(threshold_match_probability=min_candidate, num_chunks_left=chunks)
        lam = float(model["probability_two_random_records_match"])
        levels = {
            c["output_column_name"]: [
                (lv.get("sql_condition", "")[:40], lv.get("m_probability"), lv.get("u_probability"))
                for lv in c["comparison_levels"]
            ]
            for c in model["comparisons"]
        }
        n_pairs = int(engine.sql(f"select count(*) as n from {pred.physical_name}")["n"].iloc[0])
        # oriented (recipients on the left) and made one-to-one in the engine: best probability first,
        # each id used once (ties by ids)
        oriented = f"""
                select case when source_dataset_l = 'l' then rec_id_l else rec_id_r end as id_l,
                       case when source_dataset_l = 'l' then rec_id_r else rec_id_l end as id_r,
                       match_probability
                from {pred.physical_name}"""
        best = engine.sql(f"""
            with p as ({oriented}),
            a as (select * from p qualify row_number() over (
                    partition by id_l order by match_probability desc, id_r) = 1)
            select id_l, id_r, match_probability from a qualify row_number() over (
                partition by id_r order by match_probability desc, id_l) = 1
            order by match_probability desc, id_l, id_r""")
    if ranked:  # the records' own ids instead of their ranks
        best["id_l"] = by_rank[0].take(best["id_l"].to_numpy(dtype=np.int64))
        best["id_r"] = by_rank[1].take(best["id_r"].to_numpy(dtype=np.int64))
    out = pd.DataFrame(
        {
            "id_l": best["id_l"].astype("str"),
            "id_r": best["id_r"].astype("str"),
            "match_probability": best["match_probability"].astype(float),
        }
    )
    return out, {"n_pairs_scored": n_pairs, "probability_two_random_records_match": lam, "levels": levels}


def _load_parameters(linker: Any, model: dict) -> None:
    """The prior and each level's ``m`` and ``u`` of ``model`` (Splink's JSON of this linker's model, as
    :func:`_train` returns it) set on ``linker``'s comparison levels: the model ``Linker(..., model)`` would
    build."""
    so = linker._settings_obj
    so._probability_two_random_records_match = float(model["probability_two_random_records_match"])
    for cj, cc in zip(model["comparisons"], so.comparisons, strict=True):
        for lj, cl in zip(cj["comparison_levels"], cc.comparison_levels, strict=True):
            if not cl.is_null_level:
                cl.m_probability = lj.get("m_probability")
                cl.u_probability = lj.get("u_probability")


def _side_size(rule: str, side: str, sizes: dict[str, tuple[int, int]]) -> int:
    """The records of ``side`` (``l`` or ``r``) that a blocking rule of :func:`_settings` joins: all of them, or
    those without a number (``side.nir_key is null``) or with one, as the rule's one-sided filters say."""
    n, without = sizes[side]
    if f"{side}.nir_key is null" in rule:
        return without
    if f"{side}.nir_key is not null" in rule:
        return n - without
    return n


def _predict(linker: Any, min_candidate: float, sizes: dict[str, tuple[int, int]]) -> Any:
    """Splink's prediction (``linker.inference.predict``) in one statement: the same pairs, the same probabilities.

    Splink first writes the ids of the candidate pairs to a table, then joins each pair back to its two records
    (on the text key ``source || '-__-' || id``) to compare them. Here each blocking rule's join selects the
    records' columns at once (with Splink's own exclusion of the pairs of the preceding rules), and Splink's
    comparison and scoring SQL runs on that: on the demo's files the two joins back and the table of ids were
    half of the prediction's time. The pairs are only the two files' (``l`` against ``r``), as in Splink's
    two-file linkage.
    """
    from splink.internals.comparison_vector_values import compute_comparison_vector_values_sql
    from splink.internals.pipeline import CTEPipeline
    from splink.internals.predict import predict_from_comparison_vectors_sqls_using_settings
    from splink.internals.vertically_concatenate import enqueue_df_concat_with_tf

    from .linkage_em import hoist_similarities

    so = linker._settings_obj
    info = so.column_info_settings
    sd, uid = info.source_dataset_input_column, info.unique_id_input_column
    pipeline = CTEPipeline()
    enqueue_df_concat_with_tf(linker, pipeline)
    for side in ("l", "r"):
        pipeline.enqueue_sql(
            f"select * from __splink__df_concat_with_tf where {sd.name} = '{side}'", f"__splink__df_concat_{side}"
        )
    cols = ", ".join([*so._columns_to_select_for_blocking])
    blocks = []
    for br in so._blocking_rules_to_generate_predictions:
        rule = br.blocking_rule_sql
        # DuckDB builds its hash table on the join's right-hand table when it cannot tell the sides' sizes apart
        # (its estimates of the one-sided filters are alike): the smaller side there, e.g. the few recipients
        # without a number rather than the whole source
        pair = ["__splink__df_concat_l as l", "__splink__df_concat_r as r"]
        if _side_size(rule, "l", sizes) < _side_size(rule, "r", sizes):
            pair.reverse()
        blocks.append(
            f"select {cols}, '{br.match_key}' as match_key from {pair[0]} inner join {pair[1]} on ({rule}) "
            "where 1=1 " + br.exclude_pairs_generated_by_all_preceding_rules_sql(sd, uid)
        )
    pipeline.enqueue_sql(" union all ".join(blocks), "__splink__df_pairs")
    cases, hoisted = hoist_similarities(so._columns_to_select_for_comparison_vector_values)
    pipeline.enqueue_sql(
        f"select *{''.join(f', {e} as {n}' for n, e in hoisted)} from __splink__df_pairs", "__splink__df_blocked"
    )
    pipeline.enqueue_sql(compute_comparison_vector_values_sql(cases), "__splink__df_comparison_vectors")
    pipeline.enqueue_list_of_sqls(predict_from_comparison_vectors_sqls_using_settings(so, min_candidate, None))
    return linker._db_api.sql_pipeline_to_splink_dataframe(pipeline)


#: Share of the matches the exact rules of :func:`_prior` are assumed to find.
PRIOR_RECALL = 0.6


def _prior(engine: DuckDBEngine | SparkEngine, left: str, right: str, has_birth: bool, pairs: int) -> float | None:
    """The prior ``lambda`` from the pairs that agree exactly on names and birth date (or 200 m square).

    One count of a join instead of Splink's ten statements
    (``estimate_probability_two_random_records_match``), same value: with
    ``n`` the pairs of ``left`` x ``right`` equal on the keys (nulls never
    equal), ``lambda = n / PRIOR_RECALL / pairs``. ``None`` (Splink's default
    prior) when ``n`` exceeds ``PRIOR_RECALL * pairs``, where Splink's
    estimate refuses.
    """
    keys = ["surname", "first_name", "birth_date" if has_birth else "cell"]
    on = " and ".join(f"l.{k} = r.{k}" for k in keys)
    # the pairs counted by one join (nulls never equal): about the matches, fewer than the records; half the time
    # of counting the records per key on each side and summing the products (the same count)
    n = engine.sql(f"select count(*) as n from {left} as l join {right} as r on {on}")["n"].iloc[0]
    n = int(n)
    if n > pairs * PRIOR_RECALL:
        return None
    return n / PRIOR_RECALL / pairs


def _em_rules(has_birth: bool) -> list[str]:
    """The blocking rules of the EM sessions (each comparison estimated in a session whose rule does not fix it).

    Blocks narrow enough that matches are a visible share of their pairs; the sessions use the sampled recipients
    only (``train = 1``). With birth dates two sessions cover every comparison (names, sex, address in the first;
    commune, birth date, sex, address in the second): a third (surname and commune) cost a third of the EM's time
    and moved the demo's links in the fifth decimal of precision and recall (benchmarks/RESULTS.md).
    """
    if has_birth:
        return [
            "l.birth_date = r.birth_date and l.commune = r.commune",
            "l.surname = r.surname and l.first_name = r.first_name and "
            "substr(l.birth_date, 1, 4) = substr(r.birth_date, 1, 4)",
        ]
    return [
        "l.surname = r.surname and l.first_name = r.first_name and substr(l.commune, 1, 2) = substr(r.commune, 1, 2)",
        "l.cell = r.cell and l.first_name = r.first_name",
        "l.cell = r.cell and l.surname = r.surname",
    ]


def _em_sessions(engine: DuckDBEngine | SparkEngine, linker: Any, left: str, right: str, rules: list[str]) -> list:
    """Per EM session (blocking rule on the recipients with ``train = 1``): its pairs counted per comparison pattern,
    the comparisons it estimates (those whose columns the rule does not use) and the exact-match levels the rule
    implies (Splink's own reading of the rule), as :func:`~nonrecours.admin.linkage_em.train_m` takes them."""
    from splink.internals.parse_sql import get_columns_used_from_sql

    from .linkage_em import pattern_sql, read_patterns

    comps = linker._settings_obj.comparisons
    dialect = linker._db_api.sql_dialect.sqlglot_dialect
    # Splink's reading of a training rule (Settings._get_comparison_levels_corresponding_to_training_blocking_rule),
    # with each level's SQL parsed once for all the sessions: the exact-match levels, those on most columns first,
    # each taken when its columns are among the rule's not yet taken
    exact_levels = [
        (k, cl.comparison_vector_value, set(cl._exact_match_colnames))
        for k, cc in enumerate(comps)
        for cl in cc.comparison_levels
        if cl._is_exact_match
    ]
    exact_levels.sort(key=lambda x: -len(x[2]))
    sessions = []
    for rule in rules:
        on = f"{rule} and l.train = 1"
        patterns = read_patterns(engine.sql(pattern_sql(comps, left, right, on)), comps)
        used = set(get_columns_used_from_sql(on, dialect))
        active = [not used & {c.input_name for c in cc._input_columns_used_by_case_statement} for cc in comps]
        free, exact = set(used), []
        for k, cvv, cols in exact_levels:
            if cols <= free:
                free -= cols
                exact.append((k, cvv))
        sessions.append((patterns, active, exact))
    return sessions


def _train(
    engine: DuckDBEngine | SparkEngine, linker: Any, left: str, right: str, has_birth: bool, pairs_u: float
) -> dict:
    """``u`` on random pairs (freed of the matches), then ``m`` by EM sessions: the trained model (Splink's JSON).

    Each sample of pairs is one statement that counts its pairs per comparison pattern
    (:mod:`nonrecours.admin.linkage_em`): the random pairs of the records drawn for ``u`` (column ``usample``,
    about ``pairs_u`` pairs), then the blocked pairs of each EM session's recipients (``train = 1``); ``u`` and
    the EM's iterations are computed on the counts (Splink's EM without term frequencies, ``u`` fixed, the
    ``m`` of several sessions combined by their median). The counts are integers, the same on any number of
    threads: the parameters are the same to the last bit on every run.
    """
    from .linkage_em import pattern_sql, read_patterns, train_m, u_from_patterns

    so = linker._settings_obj
    comps = so.comparisons
    levels = [cc._comparison_levels_excluding_null for cc in comps]
    sizes = [len(lv) for lv in levels]
    sample = "(select * from {} where usample = 1)"
    counts = engine.sql(pattern_sql(comps, sample.format(left), sample.format(right), "1 = 1"))
    u = u_from_patterns(read_patterns(counts, comps), sizes)
    model = linker.misc.save_model_to_json()
    for cj, cc, uk in zip(model["comparisons"], comps, u):
        for lj, cl in zip(cj["comparison_levels"], cc.comparison_levels):
            if not cl.is_null_level:
                lj["u_probability"] = float(uk[cl.comparison_vector_value])
    model = _decontaminate(model, pairs_u)
    by_cvv = [
        {cl.comparison_vector_value: lj for lj, cl in zip(cj["comparison_levels"], cc.comparison_levels)}
        for cj, cc in zip(model["comparisons"], comps)
    ]
    u = [np.array([by_cvv[k][j]["u_probability"] for j in range(n)]) for k, n in enumerate(sizes)]
    m = [
        np.array([next(cl for cl in levels[k] if cl.comparison_vector_value == j).m_probability for j in range(n)])
        for k, n in enumerate(sizes)
    ]
    sessions = _em_sessions(engine, linker, left, right, _em_rules(has_birth))
    lam = float(model["probability_two_random_records_match"])
    ts = so.training_settings
    m = train_m(sessions, m, u, lam, ts.max_iterations, ts.em_convergence)
    for k, n in enumerate(sizes):
        for j in range(n):
            by_cvv[k][j]["m_probability"] = float(m[k][j])
    return model


def _train_splink(linker: Any, dl: Any, dr: Any, has_birth: bool, seed: int, pairs_u: float) -> dict:
    """Splink's own training for large files (beyond :data:`SMALL_FILES`): ``u`` by its random sampling in ten
    chunks of ``pairs_u`` pairs (stopping once every level has 100 pairs), freed of the matches, then ``m`` by its
    EM sessions *with* term frequencies (Splink's default); the trained model (Splink's JSON).

    At 5 million recipients the pattern-count training of :func:`_train` (Splink's EM without term
    frequencies, ``u`` on one sample) gave TSS a true precision of 0.971 against 0.983 with this training
    (benchmarks/RESULTS.md, issue 31 item 5): the large files keep it. Its cost there is small against the
    prediction's.
    """
    from splink import Linker

    linker.training.estimate_u_using_random_sampling(max_pairs=pairs_u, seed=seed, num_chunks=10)
    model = _decontaminate(linker.misc.save_model_to_json(), pairs_u)
    linker = Linker([dl, dr], model, log_level=None, validate_settings=False)
    for rule in _em_rules(has_birth):
        linker.training.estimate_parameters_using_expectation_maximisation(f"{rule} and l.train = 1")
    return linker.misc.save_model_to_json()


def link_quality(
    result: LinkResult, source: str, n_left: int, truth: pd.DataFrame | None = None, *, engine: Engine | None = None
) -> dict:
    """One row of the linkage-quality table.

    Returns
    -------
    dict
        ``source``, ``n_left``, ``links_number``, ``links_probabilistic``,
        ``share_number``, ``expected_false_links`` (sum of ``1 - p`` over links),
        ``expected_missed_links`` (sum of the near misses' ``p``),
        ``est_precision``, ``est_recall`` (the model's), and when ``truth`` (``id_l``,
        ``id_r`` of the true links) is given ``true_links``, ``true_precision``,
        ``true_recall`` (counted by ``engine``, default an in-memory DuckDB one).

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
    row = {
        "source": source,
        "n_left": int(n_left),
        "threshold": result.threshold,
        "links_number": n_num,
        "links_probabilistic": int(len(links) - n_num),
        "share_number": n_num / len(links) if len(links) else float("nan"),
        "expected_false_links": float((1 - p).sum()),
        "expected_missed_links": float(q.sum()),
        "est_precision": float(p.mean()) if len(p) else float("nan"),
        "est_recall": float(p.sum() / (p.sum() + q.sum())) if p.sum() + q.sum() > 0 else float("nan"),
    }
    if truth is not None:
        sql = (
            "select (select count(*) from (select distinct id_l, id_r from t)) as n_true, "
            "(select count(*) from (select distinct id_l, id_r from f)) as n_found, "
            "(select count(*) from (select distinct id_l, id_r from t) join (select distinct id_l, id_r from f) "
            "using (id_l, id_r)) as tp"
        )
        with borrow_engine(engine) as eng:
            c = eng.sql_frames(
                sql, {"t": truth[["id_l", "id_r"]].astype("str"), "f": links[["id_l", "id_r"]].astype("str")}
            ).iloc[0]
        n_true, n_found, tp = int(c["n_true"]), int(c["n_found"]), int(c["tp"])
        row.update(
            true_links=n_true,
            true_precision=tp / n_found if n_found else float("nan"),
            true_recall=tp / n_true if n_true else float("nan"),
        )
    return row
