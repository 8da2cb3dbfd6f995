"""Take-up rates from eligibility and links, corrected for linkage errors, with disclosure control.

For each recipient ``i`` eligible for right ``r`` (``eligible`` in the
eligibility table; ``undetermined`` recipients are left out), the observed
taker indicator is 1 when ``i`` is linked to a record of the right's source
that carries ``r``. Linkage errors bias it: a false link makes a taker, a
missed link a non-taker. With ``p_i`` the match probability of ``i``'s link
(1 for a link by number) and ``q_i`` that of its best candidate below the
threshold (0 when none), the expected number of true takers in a cell is

    T_adj = sum_linked p_i + sum_unlinked q_i = T_obs - sum_linked (1 - p_i) + sum_unlinked q_i,

the expected false links removed and the expected missed links added. ``moved`` is ``rate_adjusted - rate``.

**Calibration by a clerical review** (:mod:`nonrecours.admin.review`). The
model is optimistic about itself (its near misses leave out the true links no
blocking rule generated). Each eligible row falls in a stratum ``h`` of its
link status (``link_high``: ``p >= 0.99``, ``link_low``, ``near_miss``:
``q > 0``, ``no_candidate``) with a weight ``w_i`` (``p_i``, ``q_i`` or 1);
a review gives per source, group (eligible, in a QPV or not) and stratum a
ratio ``R_h`` with its variance ``V_h``, and ``T_adj = sum_h R_h W_ch``,
``W_ch`` the cell's sum of weights; without candidate, missed links are
missed takers and grow with them: there ``W_ch`` is the cell's number of
links times the review group's rows without candidate per link
(:func:`linkage_variance`). Without a review ``R_h`` is 1 for links and near
misses and 0 without candidate, ``V_h = 0``: the formula above.

**What the interval covers.** The interval of ``rate_adjusted`` is
``rate_adjusted ± z sqrt(V)``, clipped to [0, 1], with ``V`` the sum of

* the **linkage** variance (:func:`linkage_variance`): link statuses as
  independent Bernoulli variables of probability ``R_h w_i``,
  ``sum_h (R_h W_ch - R_h^2 sum_i w_i^2)`` (without candidate ``E (1 - E / n)``,
  ``E = R_h W_ch`` over the stratum's ``n`` rows), plus the uncertainty of the
  calibration ``sum_h W_ch^2 V_h`` (the review's estimation error, shared by
  every cell: the delta method), divided by ``N^2``;
* the **eligibility** variance (:func:`eligibility_variance`): recipients
  left undetermined for a fact missing at random (:data:`AT_RANDOM`: resources,
  household) drop out of the denominator; with ``U`` of them in the cell,
  ``N_u = U N_r / (N_r + N_0 + N_F)`` are eligible (imputed at the cell's
  eligible share among the recipients its resources decide: ``N_r`` eligible
  and ``N_0`` not eligible by their resources, not by a rule of
  :data:`BEFORE_RESOURCES` such as the RSA presumption, ``N_F`` undetermined
  for the fiscal income), and the rate of the ``N`` determined differs from that of all ``N + N_u`` by a
  random-subsample error of variance ``r (1 - r) N_u / (N (N + N_u))``
  (undetermined at random within the cell);
* the **QPV assignment** variance (:func:`boundary_variance`): an address
  within the tolerance of a contour (``boundary`` in the recipients table,
  :func:`~nonrecours.admin.geo.locate`) is counted in the QPV; taken as
  misassigned with probability at most 1/2, each moves the rate by
  ``(y_i - r) / N``: ``B r (1 - r) / (4 N^2)`` for ``B`` such eligible recipients.

It does not cover recipients undetermined for a fact the files lack for a
whole group (``fiscal_income_missing``: above the ACS band, the social
tariffs depend on the fiscal income), eligibility rules wrongly applied (a
resource missing from the files, issue 27), nor links a reviewer would also miss.

Counts are aggregated in SQL on an :class:`~nonrecours.engines.base.Engine`
(DuckDB or Spark), then the disclosure control of
:func:`nonrecours.admin.admin_rates` decides which cells are published; the
adjusted figures of a suppressed cell are suppressed with it.

The sums of probabilities are exact: each term is cast to a fixed-point
decimal (18 decimals, ``DECIMAL(38, 18)``) and added as an integer, so that
the sum does not depend on the order in which the engine's threads add the
rows (a sum of doubles does, in its last digits); it is then read as a
double. The same takers give the same bytes on every run and thread count.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from .._checks import check_columns, check_level
from ..engines import borrow_engine
from ..engines.base import Engine
from ..estimation._dist import norm_ppf
from ..publication.policy import DEFAULT_MIN_CELL
from .contract import RIGHT_SOURCES

__all__ = [
    "LinkedRates",
    "linked_rates",
    "taker_table",
    "group_rates",
    "suppressed_margin",
    "phase_rates",
    "linkage_variance",
    "eligibility_variance",
    "boundary_variance",
]

RIGHTS = tuple(RIGHT_SOURCES)
#: Rules of an undetermined status taken as missing at random within a cell: imputed in the eligibility variance.
#: The others (``fiscal_income_missing``: a fact the files lack for a whole group) are not in the interval.
AT_RANDOM = ("resources_missing", "household_size_missing", "housing_missing")
#: Rules that decide before the resources are read (a recipient they decide is no comparison for one whose
#: resources are missing): their recipients are left out of the eligible share that imputes (the RSA presumption
#: makes a recipient eligible for the CMU-C and not for the ACS whatever the resources, known or not: none of them
#: is ever undetermined for a missing resource).
BEFORE_RESOURCES = (
    "rsa_presumption",
    "commune_missing",
    "territory_not_covered",
    "not_applicable_territory",
    "no_electricity_contract",
    "no_gas_contract",
)


@dataclass(frozen=True)
class LinkedRates:
    """Administrative rates per territory × right.

    Attributes
    ----------
    table : DataFrame
        ``territory``, ``departement``, ``right``, ``n_eligible``, ``n_takers``, ``rate``,
        ``takers_adjusted``, ``rate_adjusted``, ``se`` (its standard error: linkage, eligibility and QPV
        boundary, see the module docstring), ``ci_low``, ``ci_high``, ``moved``, ``status``.
    departements : DataFrame
        Département totals (as published by :func:`~nonrecours.admin.admin_rates`).
    level : float
    margins : dict of str to DataFrame
        Totals of the margins given to :func:`linked_rates` (``status`` says which may be published).
    n_suppressed : dict of str to int
        Number of cells of ``table`` suppressed by each rule (``primary``, ``secondary``), for the
        producer: ``status`` says only ``suppressed``.
    """

    table: pd.DataFrame
    departements: pd.DataFrame
    level: float
    margins: dict = field(default_factory=dict)
    n_suppressed: dict = field(default_factory=dict)


def taker_table(
    recipients: pd.DataFrame,
    eligibility: pd.DataFrame,
    links: pd.DataFrame,
    near_misses: pd.DataFrame,
    source_rights: dict[str, pd.DataFrame],
    *,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Per recipient × right: eligible, observed taker and link probabilities (long format).

    Parameters
    ----------
    recipients : DataFrame
        ``rec_id``, ``territory``, ``departement``; optional ``boundary`` (1: the address is within the
        tolerance of a QPV contour, :func:`~nonrecours.admin.geo.locate`).
    eligibility : DataFrame
        ``rec_id`` and one status column per right.
    links, near_misses : DataFrame
        ``source``, ``id_l``, ``id_r``, ``match_probability``.
    source_rights : dict
        For a source holding several rights (``health``), a table ``rec_id``,
        ``right``; other sources hold one right.
    engine : Engine, optional
        The SQL engine; default: an in-memory DuckDB engine opened for the call.

    Returns
    -------
    DataFrame
        ``rec_id``, ``territory``, ``departement``, ``right``, ``eligible`` (0/1, NaN
        undetermined), ``taker`` (0/1), ``p_link``, ``q_miss``, ``boundary`` (0/1),
        ``undetermined_at_random`` (1: undetermined for a fact in :data:`AT_RANDOM`, or for any reason when
        ``eligibility`` has no ``<right>_rule`` columns), ``by_resources`` (0: decided by a rule of
        :data:`BEFORE_RESOURCES`).
    """
    with borrow_engine(engine) as eng:
        sql, tables = _taker_query(recipients, eligibility, links, near_misses, source_rights, eng.quote)
        return eng.sql_frames(sql, tables)


def _taker_query(
    recipients: pd.DataFrame,
    eligibility: pd.DataFrame,
    links: pd.DataFrame,
    near_misses: pd.DataFrame,
    source_rights: dict[str, pd.DataFrame],
    q: Callable[[str], str] = Engine.quote,
) -> tuple[str, dict]:
    """SQL of :func:`taker_table` (identifiers quoted by ``q``, an engine's :meth:`~Engine.quote`) and its tables."""
    check_columns(recipients, ["rec_id", "territory", "departement"], role="column", source="recipients")
    check_columns(eligibility, ["rec_id", *RIGHTS], role="column", source="eligibility table")
    # the right each link carries: the source's only right, or the record's (health: CMU-C or ACS);
    # everything below runs in the engine: no long table is built in pandas
    single = pd.DataFrame(
        [(src, r) for r, src in RIGHT_SOURCES.items() if src not in source_rights],
        columns=["source", "right"],
        dtype="str",
    )
    multi = pd.concat(
        [
            pd.DataFrame({"source": src, "rec_id": recs["rec_id"].astype("str"), "right": recs["right"].astype("str")})
            for src, recs in source_rights.items()
        ]
        or [pd.DataFrame({"source": [], "rec_id": [], "right": []}, dtype="str")],
        ignore_index=True,
    )
    ruled = all(f"{r}_rule" in eligibility for r in RIGHTS)
    cols = ["source", "id_l", "id_r", "match_probability"]
    # the links and the near misses in one table (``near`` 0/1): the records of source_rights hashed once
    both = pd.concat([links[cols], near_misses[cols]], ignore_index=True)
    both["near"] = np.repeat(np.array([0, 1], dtype=np.int8), [len(links), len(near_misses)])
    return _taker_sql(q, ruled, partial(_right, keyed=False)), {
        "links": both,
        "single": single,
        "multi": multi,
        "el": eligibility[["rec_id", *RIGHTS, *(f"{r}_rule" for r in RIGHTS if ruled)]].astype({"rec_id": "str"}),
        "rc": recipients[["rec_id", "territory", "departement"]]
        .astype("str")
        .assign(boundary=_boundary_flags(recipients)),
    }


def _keyed_query(
    recipients: pd.DataFrame,
    eligibility: pd.DataFrame,
    links: pd.DataFrame,
    near_misses: pd.DataFrame,
    source_rights: dict[str, pd.DataFrame],
    qpv_flags: pd.DataFrame,
    q: Callable[[str], str] = Engine.quote,
) -> tuple[tuple[str, str], dict, _Labels]:
    """:func:`_taker_query` on integer keys, with ``is_qpv`` (by ``qpv_flags``' territory): its SQL (that of
    :func:`_recipient_sql`, and :func:`_long_sql` over a table ``w`` holding its rows), its tables and the labels
    of their codes.

    The recipients' ids (the eligibility table's and the links' ``id_l`` numbered as one factorize of both,
    :func:`~nonrecours._text.factorize_both`; the recipients' looked up among them), the territories, départements
    and rights are integer codes: the engine joins and groups on integers instead of text (issue 31: with the links
    joined once per recipient and the counts in two passes, :func:`phase_rates` spends about 40 % fewer CPU seconds
    on the demo). A missing id or text is a missing code (``NULL``: it matches nothing, as a missing text); an id of
    the recipients or of the links absent from the eligibility table matches no recipient, as its text did; a right
    of ``source_rights`` that is no right of :data:`RIGHTS` a code no right has. The records' ids of
    ``source_rights`` and the links' ``id_r`` stay text (one join in the engine, where coding them took as many
    Arrow hashes). Whether each recipient is once in both tables comes with the codes (the engine counted it on the
    text before): no hash table of its own.
    """
    from .._text import factorize_both, index_text, same_text

    _, tables = _taker_query(recipients, eligibility, links, near_misses, source_rights, q)
    el, rc, lk = tables["el"], tables["rc"], tables["links"]
    # the eligibility's ids and the links' id_l numbered as one factorize of both (the eligibility's first: its ids
    # are the first labels, an id_l of no recipient has a code above theirs: it matches none)
    ids, lk_ids, _, id_labels, _ = factorize_both(el["rec_id"], lk["id_l"])
    # each recipient once in both tables (missing ids equal among themselves, as pandas' is_unique)
    unique = len(id_labels) + int((ids < 0).any()) == len(ids)
    if same_text(el["rec_id"], rc["rec_id"]):  # the phase's recipient cells: the eligibility's, row for row
        rc_ids = ids
    else:  # (the labels hold no missing value: a missing id is -1, NULL)
        rc_ids = index_text(rc["rec_id"], id_labels)
        unique = unique and _unique_text(rc["rec_id"])
    terr, terr_labels = pd.factorize(rc["territory"])
    dep, dep_labels = pd.factorize(rc["departement"])
    rights = pd.Series(RIGHTS, dtype="str")

    def right_codes(values: pd.Series) -> np.ndarray:
        at = index_text(values, rights)
        at[at < 0] = len(RIGHTS)
        at[values.isna().to_numpy()] = -1
        return _nullable(at)

    tables["el"] = el.assign(rec_id=_nullable(ids))
    tables["rc"] = rc.assign(rec_id=_nullable(rc_ids), territory=_nullable(terr), departement=_nullable(dep))
    tables["links"] = lk.assign(id_l=_nullable(lk_ids))
    for name in ("single", "multi"):
        tables[name] = tables[name].assign(right=right_codes(tables[name]["right"]))
    tables["flags"] = pd.DataFrame(
        {
            "territory": _nullable(index_text(qpv_flags["territory"].astype("str"), terr_labels)),
            "is_qpv": qpv_flags["is_qpv"].array,
        }
    )
    ruled = all(f"{r}_rule" in eligibility for r in RIGHTS)
    # the ids' texts decode the per-recipient counts, run only when a recipient is listed twice (not held else:
    # 5 million ids at the national scale)
    labels = _Labels(pd.Index(id_labels if not unique else []), pd.Index(terr_labels), pd.Index(dep_labels), unique)
    code = partial(_right, keyed=True)
    return (_recipient_sql(q, code, ruled, flags=True), _long_sql(q, code, ruled, flags=True)), tables, labels


@dataclass(frozen=True)
class _Labels:
    """The texts of :func:`_keyed_query`'s codes (code ``i``: label ``i``; no ``rec_id`` labels when ``unique``),
    and whether each recipient is once in the eligibility table and in the recipients' (``rec_id.is_unique`` of
    both)."""

    rec_id: pd.Index
    territory: pd.Index
    departement: pd.Index
    unique: bool

    def decode(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s code columns (``rec_id``, ``territory``, ``departement``, ``right``) as their texts (a
        missing code: a missing text), as the taker table's text would have come from the engine."""
        out = frame.copy()
        for col, labels in (
            ("rec_id", self.rec_id),
            ("territory", self.territory),
            ("departement", self.departement),
            ("right", pd.Index(RIGHTS)),
        ):
            if col in out:
                at = pd.Series(out[col]).to_numpy(dtype=np.int64, na_value=-1)
                out[col] = pd.Index(labels, dtype="str").array.take(at, allow_fill=True)
        return out


def _nullable(codes: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Codes as an engine's column: 32-bit integers, a code below 0 missing (``NULL``, matching nothing)."""
    codes = np.asarray(codes, dtype=np.int32)
    missing = codes < 0
    return pd.arrays.IntegerArray(codes, missing) if missing.any() else codes


def _taker_sql(q: Callable[[str], str], ruled: bool, right: Callable[[str], str], flags: bool = False) -> str:
    """The taker table's SQL on the tables of :func:`_taker_query` (or of :func:`_keyed_query`: ``right`` writes
    a right as the tables have it, its text or its code; ``flags``: with ``is_qpv``)."""
    return f"with {_recipient_sql(q, right, ruled, flags, 'w as (')}) {_long_sql(q, right, ruled, flags)}"


def _recipient_sql(
    q: Callable[[str], str], right: Callable[[str], str], ruled: bool, flags: bool = False, into: str = ""
) -> str:
    """One row per recipient of both tables: its cell, its statuses and rules, its highest link ``p_<right>`` and
    near miss ``q_<right>`` of each right (``NULL``: none); ``flags``: its territory's ``is_qpv`` (table
    ``flags``). ``into``: the opening of a common table expression that holds the last select (the query is
    then the ``WITH`` list of :func:`_taker_sql`).

    The links are joined to the recipients once per recipient, not once per recipient and right: the
    highest probabilities of a recipient's rights are columns of one row, and the long table (one row per
    recipient and right, :func:`_long_sql`) a projection of these rows: the same rows as a join of the long
    table to the links grouped by recipient and right, with a quarter of the probes.
    """
    rt = q("right")
    best = ", ".join(
        f"max(case when near = {k} and {rt} = {right(r)} then match_probability end) as {pre}_{r}"
        for k, pre in ((0, "p"), (1, "q"))
        for r in RIGHTS
    )
    statuses = ", ".join(f"e.{r}" + (f", e.{r}_rule" if ruled else "") + f", lk.p_{r}, lk.q_{r}" for r in RIGHTS)
    return f"""{"" if into else "with "}lr as (
                select l.id_l, l.near, l.match_probability, coalesce(m.{rt}, s.{rt}) as {rt}
                from links l left join single s on s.source = l.source
                left join multi m on m.source = l.source and m.rec_id = l.id_r),
    lk as (select id_l, {best} from lr group by id_l){"," if into else ""}
    {into}select e.rec_id, r.territory, r.departement, r.boundary, {statuses}{", f.is_qpv" if flags else ""}
          from el e join rc r on r.rec_id = e.rec_id
          left join lk on lk.id_l = e.rec_id{" left join flags f on f.territory = r.territory" if flags else ""}"""


def _long_sql(
    q: Callable[[str], str], right: Callable[[str], str], ruled: bool, flags: bool = False, source: str = "w"
) -> str:
    """The taker table (one row per recipient and right) from :func:`_recipient_sql`'s rows in ``source``."""
    rt = q("right")
    # an undetermined status for a fact missing at random (resources, household) enters the eligibility variance;
    # without the rule columns, every undetermined status does
    at_random = ", ".join(f"'{m}'" for m in AT_RANDOM)
    before = ", ".join(f"'{m}'" for m in BEFORE_RESOURCES)

    def one(r: str) -> str:
        undetermined = f"{r} = 'undetermined' and {r}_rule in ({at_random})" if ruled else f"{r} = 'undetermined'"
        by_resources = f"case when {r}_rule not in ({before}) then 1 else 0 end" if ruled else "1"
        return f"""
    select rec_id, territory, departement, {right(r)} as {rt},
           case {r} when 'eligible' then cast(1 as double) when 'not_eligible' then cast(0 as double)
                else null end as eligible,
           case when p_{r} is null then 0 else 1 end as taker,
           coalesce(p_{r}, 0.0) as p_link,
           case when p_{r} is null then coalesce(q_{r}, 0.0) else 0.0 end as q_miss,
           boundary,
           case when {undetermined} then 1 else 0 end as undetermined_at_random,
           {by_resources} as by_resources{", is_qpv" if flags else ""}
    from {source}"""

    return " union all ".join(one(r) for r in RIGHTS)


def _boundary_flags(recipients: pd.DataFrame) -> np.ndarray:
    """``boundary`` of the recipients table as 0/1 (0 when the column is absent)."""
    if "boundary" not in recipients:
        return np.zeros(len(recipients), dtype=np.int8)
    return pd.to_numeric(recipients["boundary"], errors="coerce").fillna(0).to_numpy(dtype=np.int8)


def _exact_sum(expr: str) -> str:
    """``SUM(expr)`` added in fixed point (18 decimals, exact whatever the order of the rows), read as a double."""
    return f"cast(sum(cast({expr} as decimal(38, 18))) as double)"


#: Stratum of an eligible row (its link status) and its model weight, as :mod:`nonrecours.admin.review` has them.
_STRATUM = (
    "case when taker = 1 and p_link >= 0.99 then 'link_high' when taker = 1 then 'link_low' "
    "when q_miss > 0 then 'near_miss' else 'no_candidate' end"
)
_WEIGHT = "case when taker = 1 then p_link when q_miss > 0 then q_miss else 1.0 end"


def _with_defaults(takers: pd.DataFrame) -> pd.DataFrame:
    """A taker table with ``boundary`` (0) and ``undetermined_at_random`` (every undetermined) when absent."""
    if "boundary" not in takers:
        takers = takers.assign(boundary=np.int8(0))
    if "undetermined_at_random" not in takers:
        takers = takers.assign(undetermined_at_random=takers["eligible"].isna().astype(np.int8))
    if "by_resources" not in takers:
        takers = takers.assign(by_resources=np.int8(1))
    return takers


def _strata_sql(
    keys: list[str], q: Callable[[str], str] = Engine.quote, source: str = "t", where: str = "eligible = 1"
) -> str:
    """Per ``keys`` × right × stratum, over the rows of ``where`` (default: the eligible rows): ``n``, the sums of
    weights ``sw`` and squares ``sw2``."""
    rt = q("right")
    k = ", ".join(keys)
    return f"""
    select {k}, {rt}, stratum, count(*) as n, {_exact_sum("w")} as sw, {_exact_sum("w * w")} as sw2
    from (select {k}, {rt}, {_STRATUM} as stratum, {_WEIGHT} as w from {source} where {where}) as s
    group by {k}, {rt}, stratum
    """


def _strata_sets_sql(q: Callable[[str], str] = Engine.quote, source: str = "t") -> str:
    """:func:`_strata_sql` per ``territory`` and per ``is_qpv`` in one pass over ``source`` (grouping sets): the
    ``is_qpv`` rows have ``by_qpv`` 1 (``territory`` empty), the others 0 (``is_qpv`` empty)."""
    rt = q("right")
    return f"""
    select territory, is_qpv, {rt}, stratum, grouping(territory) as by_qpv, count(*) as n,
           {_exact_sum("w")} as sw, {_exact_sum("w * w")} as sw2
    from (select territory, is_qpv, {rt}, {_STRATUM} as stratum, {_WEIGHT} as w from {source} where eligible = 1) as s
    group by grouping sets ((territory, {rt}, stratum), (is_qpv, {rt}, stratum))
    """


def _status_sql(keys: list[str], q: Callable[[str], str] = Engine.quote, source: str = "t", rows: bool = False) -> str:
    """Per ``keys`` × right: eligible, takers, undetermined (at random), not eligible, eligible and undetermined
    (not at random) decided by the resources, and eligible on a QPV boundary (``rows``: first the rows,
    ``n_rows``)."""
    rt = q("right")
    k = ", ".join(keys)
    return f"""
    select {k}, {rt},{" count(*) as n_rows," if rows else ""}
           sum(case when eligible = 1 then 1 else 0 end) as n_eligible,
           sum(case when eligible = 1 then taker else 0 end) as n_takers,
           sum(case when eligible is null then undetermined_at_random else 0 end) as n_undetermined,
           sum(case when eligible = 0 then by_resources else 0 end) as n_not_eligible,
           sum(case when eligible = 1 then by_resources else 0 end) as n_eligible_resources,
           sum(case when eligible is null and undetermined_at_random = 0 then by_resources else 0 end)
               as n_undetermined_other,
           sum(case when eligible = 1 then coalesce(boundary, 0) else 0 end) as n_boundary
    from {source} group by {k}, {rt}
    """


def _calibration(
    strata: pd.DataFrame, calibration: pd.DataFrame | None, qpv: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``strata`` (``right``, ``stratum``): the ratio ``R_h``, its variance ``V_h`` and, for a
    ``no_candidate`` row, the group's rows without candidate per link ``U_g / L_g`` (else NaN).

    From :func:`~nonrecours.admin.review.review_estimates`, for the right's source, the first group the review
    has among ``eligible_qpv`` / ``eligible_rest`` (by ``qpv``, 0/1 per row), ``eligible`` and ``all``; a stratum
    the review does not have keeps the model (``R`` 1, or 0 without candidate; ``V`` 0).
    """
    model = np.where(strata["stratum"].to_numpy() == "no_candidate", 0.0, 1.0)
    ratio = np.full(len(strata), np.nan)
    var = np.zeros(len(strata))
    per_link = np.full(len(strata), np.nan)
    if calibration is None or calibration.empty:
        return model, var, per_link
    c = calibration.set_index(["source", "group", "stratum"])
    pl = pd.Series(np.nan, index=pd.MultiIndex.from_arrays([[], []]), dtype=float)
    if "N" in calibration:  # stratum sizes known: missed links spread by links
        size = calibration.pivot_table(index=["source", "group"], columns="stratum", values="N", aggfunc="sum")
        linked_n = size.reindex(columns=["link_high", "link_low"]).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            pl = (size.reindex(columns=["no_candidate"]).iloc[:, 0] / linked_n).replace(np.inf, np.nan)
    src = strata["right"].map(RIGHT_SOURCES).astype(str).to_numpy()
    st = strata["stratum"].astype(str).to_numpy()
    split = np.full(len(strata), "eligible", dtype=object)
    if qpv is not None:
        q = np.asarray(qpv, dtype=float)
        split = np.where(q == 1, "eligible_qpv", np.where(q == 0, "eligible_rest", "eligible")).astype(object)
    for group in (split, "eligible", "all"):
        grp = np.broadcast_to(np.asarray(group, dtype=object), src.shape)
        key = pd.MultiIndex.from_arrays([src, grp, st])
        todo = np.isnan(ratio)
        ratio = np.where(todo, c["ratio"].reindex(key).to_numpy(dtype=float), ratio)
        var = np.where(todo, np.nan_to_num(c["var_ratio"].reindex(key).to_numpy(dtype=float)), var)
        per_link = np.where(todo, pl.reindex(pd.MultiIndex.from_arrays([src, grp])).to_numpy(dtype=float), per_link)
    found = ~np.isnan(ratio)
    per_link = np.where(found & (st == "no_candidate"), per_link, np.nan)
    return np.where(found, ratio, model), np.where(found, var, 0.0), per_link


def linkage_variance(
    strata: pd.DataFrame, calibration: pd.DataFrame | None = None, qpv: np.ndarray | None = None
) -> pd.DataFrame:
    """Adjusted takers and the variance of their linkage error, per cell × right of ``strata``.

    Parameters
    ----------
    strata : DataFrame
        Per cell (e.g. ``territory``) × ``right`` × ``stratum``: ``n``, ``sw`` (sum of the weights ``w_i``),
        ``sw2`` (sum of their squares).
    calibration : DataFrame, optional
        :func:`~nonrecours.admin.review.review_estimates`' table; default: the model's own probabilities.
    qpv : array, optional
        Per row of ``strata``, 1 in a QPV, 0 in the rest of an urban area: the review's ratios of that group
        when it has them.

    Returns
    -------
    DataFrame
        The cell keys and ``right``, ``takers_adjusted`` (``sum_h R_h W_h``, at most ``n`` per stratum),
        ``var_within`` (``sum_h max(R_h W_h - R_h^2 sum w^2, 0)``: the links' Bernoulli errors) and
        ``var_calibration`` (``sum_h W_h^2 V_h``: the error of the review's ratios), in takers squared.

    Notes
    -----
    Links missed without a candidate are missed takers: their number grows with the cell's takers, not with
    its non-linked recipients. For the ``no_candidate`` stratum, ``W`` is therefore the cell's number of links
    ``L_c`` times the review group's rows without candidate per link ``U_g / L_g`` (the review's missed links
    per link, spread by links), and the Bernoulli variance is ``E (1 - E / n)`` with ``E = R W`` over the
    stratum's ``n`` rows. See the module docstring. The two parts are kept apart so that another error source
    (e.g. a misclassification correction of eligibility) can add its own.
    """
    keys = [c for c in strata.columns if c not in ("stratum", "n", "sw", "sw2")]
    # rows in a fixed order (the engine returns them in its threads' order): sums of doubles to the same bits
    order = np.lexsort([strata[c].astype(str).to_numpy() for c in reversed([*keys, "stratum"])])
    strata = strata.iloc[order].reset_index(drop=True)
    qpv = None if qpv is None else np.asarray(qpv)[order]
    ratio, var, per_link = _calibration(strata, calibration, qpv)
    n = strata["n"].to_numpy(dtype=float)
    sw = strata["sw"].to_numpy(dtype=float)
    sw2 = strata["sw2"].to_numpy(dtype=float)
    # links of each cell x right, on each of its rows
    linked = strata["stratum"].isin(["link_high", "link_low"]).to_numpy()
    links = pd.Series(np.where(linked, n, 0.0)).groupby([strata[k] for k in keys]).transform("sum").to_numpy()
    by_link = ~np.isnan(per_link)
    w = np.where(by_link, np.nan_to_num(per_link) * links, sw)
    expected = np.minimum(ratio * w, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        bern = np.where(by_link, expected * (1 - expected / np.maximum(n, 1)), ratio * sw - ratio**2 * sw2)
    terms = pd.DataFrame(
        {"takers_adjusted": expected, "var_within": np.maximum(bern, 0.0), "var_calibration": w**2 * var}
    )
    out = terms.groupby([strata[k] for k in keys], sort=True).sum()
    return out.reset_index()


def eligibility_variance(
    rate: np.ndarray,
    n_eligible: np.ndarray,
    n_not_eligible: np.ndarray,
    n_undetermined: np.ndarray,
    n_eligible_resources: np.ndarray | None = None,
    n_undetermined_other: np.ndarray | None = None,
) -> np.ndarray:
    """Variance of a rate from the recipients left undetermined (missing from the denominator at random).

    Parameters
    ----------
    rate, n_eligible : array
        The cell's rate and its ``N`` eligible recipients.
    n_not_eligible : array
        ``N_0``: the not eligible by their resources (not by a rule of :data:`BEFORE_RESOURCES`).
    n_undetermined : array
        ``U``: the undetermined for a fact missing at random (:data:`AT_RANDOM`).
    n_eligible_resources : array, optional
        ``N_r``: the eligible by their resources (not by a rule of :data:`BEFORE_RESOURCES`, e.g. the RSA
        presumption); default ``N``.
    n_undetermined_other : array, optional
        ``N_F``: the undetermined, by their resources, for a fact the files lack for a whole group
        (``fiscal_income_missing``: outside the rate); default 0.

    Notes
    -----
    The undetermined recipients are decided by their resources, like the ``N_r + N_0 + N_F`` of the cell:
    ``N_u = U N_r / (N_r + N_0 + N_F)`` of them are imputed eligible; the rate of the ``N`` determined differs
    from that of all ``N + N_u`` with variance ``r (1 - r) N_u / (N (N + N_u))`` (the rate of a simple random
    subsample of ``N`` among ``N + N_u``; Cochran 1977, *Sampling Techniques*, eq. 3.4 with its finite-population
    correction).
    """
    n = np.asarray(n_eligible, dtype=float)
    nr = n if n_eligible_resources is None else np.asarray(n_eligible_resources, dtype=float)
    nf = 0.0 if n_undetermined_other is None else np.asarray(n_undetermined_other, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        nu = np.asarray(n_undetermined, dtype=float) * nr / (nr + np.asarray(n_not_eligible, dtype=float) + nf)
        nu = np.nan_to_num(nu)
        r = np.clip(np.asarray(rate, dtype=float), 0, 1)
        return r * (1 - r) * nu / (n * (n + nu))


def boundary_variance(rate: np.ndarray, n_eligible: np.ndarray, n_boundary: np.ndarray) -> np.ndarray:
    """Variance of a rate from its eligible recipients on a QPV contour: ``B r (1 - r) / (4 N^2)``.

    Each of the ``B`` addresses within the tolerance of a contour is taken as misassigned with probability
    at most 1/2, moving the rate by ``(y_i - r) / N``, of mean square ``r (1 - r)``.
    """
    n = np.asarray(n_eligible, dtype=float)
    r = np.clip(np.asarray(rate, dtype=float), 0, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(n_boundary, dtype=float) * r * (1 - r) / (4 * n**2)


def _cell_terms(
    strata: pd.DataFrame,
    status: pd.DataFrame,
    keys: list[str],
    calibration: pd.DataFrame | None,
    qpv: pd.Series | None = None,
):
    """:func:`linkage_variance` joined to the status counts, per ``keys`` × right (``qpv``: the first key's
    value -> 0/1, or ``None``: the key is ``is_qpv`` itself, or no QPV flag)."""
    flag = None
    if keys == ["is_qpv"]:
        flag = pd.to_numeric(strata["is_qpv"], errors="coerce").to_numpy(dtype=float)
    elif qpv is not None:
        flag = pd.to_numeric(qpv.reindex(strata[keys[0]]), errors="coerce").to_numpy(dtype=float)
    lv = linkage_variance(strata, calibration, flag)
    out = status.merge(lv, on=[*keys, "right"], how="left")
    for c in ("takers_adjusted", "var_within", "var_calibration"):
        out[c] = out[c].fillna(0.0)
    return out


def _rate_variance(t: pd.DataFrame, n: np.ndarray, ra: np.ndarray) -> np.ndarray:
    """Variance of ``rate_adjusted``: linkage, eligibility and QPV-boundary parts (the module docstring)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        link = (t["var_within"].to_numpy(dtype=float) + t["var_calibration"].to_numpy(dtype=float)) / n**2
    elig = eligibility_variance(
        ra,
        n,
        t["n_not_eligible"].to_numpy(dtype=float),
        t["n_undetermined"].to_numpy(dtype=float),
        t["n_eligible_resources"].to_numpy(dtype=float) if "n_eligible_resources" in t else None,
        t["n_undetermined_other"].to_numpy(dtype=float) if "n_undetermined_other" in t else None,
    )
    return link + np.nan_to_num(elig) + np.nan_to_num(boundary_variance(ra, n, t["n_boundary"].to_numpy(dtype=float)))


def linked_rates(
    takers: pd.DataFrame,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    level: float = 0.95,
    margins: dict[str, pd.Series] | None = None,
    calibration: pd.DataFrame | None = None,
    engine: Engine | None = None,
    suppression: str = "heuristic",
) -> LinkedRates:
    """Rates per territory × right from :func:`taker_table`, corrected for linkage errors.

    The observed counts go through :func:`nonrecours.admin.admin_rates`
    (primary and secondary suppression); the adjusted columns are added and
    masked where the cell is not published. See the module docstring for the
    formulas. ``margins`` (``{name: Series territory -> value}``, e.g. ``is_qpv``): groups of
    territories whose totals are published too (QPV vs rest); the cells are protected
    against them as well and :attr:`LinkedRates.margins` says which totals may be published.
    ``calibration``: a clerical review's ratios (:func:`~nonrecours.admin.review.review_estimates`) that
    replace the model's probabilities (default: the model's own).
    ``engine``: the SQL engine of the sums (default: an in-memory DuckDB engine opened for the call).
    ``suppression``: the secondary suppression's method (``heuristic`` or ``optimal``,
    :func:`~nonrecours.admin.counts.protected_rates`).
    """
    level = check_level(level)
    present = [r for r in RIGHTS if (takers["right"] == r).any()]
    takers = _with_defaults(takers)
    with borrow_engine(engine) as eng:
        coded = eng.sql_frames(_coded_sql(present, eng.quote), {"t": takers})
        strata = eng.sql_frames(_strata_sql(["territory"], eng.quote), {"t": takers})
        status = eng.sql_frames(_status_sql(["territory"], eng.quote), {"t": takers})
    qpv = (margins or {}).get("is_qpv")
    agg = _cell_terms(strata, status, ["territory"], calibration, qpv)
    return _finish_linked(coded, agg, present, min_cell, level, margins, suppression)


def _coded_sql(
    present: list[str], q: Callable[[str], str] = Engine.quote, source: str = "t", keyed: bool = False
) -> str:
    """Per recipient: 1 taker, 0 eligible non-taker, NaN not eligible or undetermined, for each right (``keyed``:
    rights as :func:`_keyed_query`'s codes)."""
    rt = q("right")
    cols_sql = ", ".join(
        f"max(case when {rt} = {_right(r, keyed)} and eligible = 1 then cast(taker as double) "
        f"when {rt} = {_right(r, keyed)} and eligible = 0 then null end) as {r}"
        for r in present
    )
    return f"select rec_id, territory, departement, {cols_sql} from {source} group by rec_id, territory, departement"


def _right(r: str, keyed: bool) -> str:
    """Right ``r`` in SQL: its text, or (``keyed``) its code in :func:`_keyed_query`'s tables."""
    return str(RIGHTS.index(r)) if keyed else f"'{r}'"


def _split_status(fine: pd.DataFrame, present: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`_status_sql`'s counts per ``territory``, ``departement``, ``is_qpv`` and right (with ``n_rows``) added
    up per territory × right, per ``is_qpv`` × right, and as the wide counts of
    :func:`~nonrecours.admin.counts.count_territories` (per territory and département: ``n_rows``,
    ``n_eligible_<j>``, ``n_takers_<j>`` for the j-th right of ``present``) of a taker table with one row per
    recipient and right: the per-recipient codes of :func:`_coded_sql` counted without building them.

    Sums of counts: exact, the same integers as the engine's per key. Empty keys are keys, as in SQL.
    """
    counts = [c for c in fine.columns if c.startswith("n_") and c != "n_rows"]
    status = fine.groupby(["territory", "right"], dropna=False, sort=False)[counts].sum().reset_index()
    g_status = fine.groupby(["is_qpv", "right"], dropna=False, sort=False)[counts].sum().reset_index()
    cells = ["territory", "departement"]
    # every recipient has a row of each right: the same cells, in the same (sorted) order, for each right
    per_right = [fine[fine["right"] == r].groupby(cells, dropna=False, sort=True) for r in present]
    wide = per_right[0][["n_rows"]].sum()
    for j, g in enumerate(per_right):
        sums = g[["n_eligible", "n_takers"]].sum()
        wide[f"n_eligible_{j}"] = sums["n_eligible"].to_numpy()
        wide[f"n_takers_{j}"] = sums["n_takers"].to_numpy()
    return status, g_status, wide.reset_index()


def _as_engine_gives(values: pd.Series) -> pd.Series:
    """A column of nullable integers or booleans as the engine gives a result's column: nullable only with a
    missing value (:meth:`~nonrecours.engines.duckdb.DuckDBEngine.sql`)."""
    if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and hasattr(values.dtype, "numpy_dtype"):
        if not values.isna().any() and values.dtype.kind in "iub":
            return values.astype(values.dtype.numpy_dtype)
    return values


def _unique_text(values: pd.Series) -> bool:
    """``values.is_unique`` on text, by Arrow's hash table (pandas' goes through Python objects)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pyarrow is optional
        return bool(values.is_unique)
    arrow = pa.array(pd.Series(values, dtype="str"), type=pa.large_string())
    return len(pc.unique(arrow)) == len(arrow)


def _finish_linked(
    coded: pd.DataFrame,
    agg: pd.DataFrame,
    present: list[str],
    min_cell: int,
    level: float,
    margins: dict[str, pd.Series] | None = None,
    suppression: str = "heuristic",
    wide: bool = False,
) -> LinkedRates:
    """Disclosure control on the observed counts, then the adjusted columns (see :func:`linked_rates`); ``coded``:
    :func:`_coded_sql`'s codes, or (``wide``) :func:`_split_status`'s wide counts."""
    from .counts import count_territories, counts_table, protected_rates

    z = float(norm_ppf(0.5 + level / 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # suppression counts are reported by the caller
        cells = counts_table(coded if wide else count_territories(coded, present), present)
        for name, values in (margins or {}).items():
            cells[name] = values.reindex(cells["territory"]).to_numpy()
        base = protected_rates(cells, min_cell=min_cell, margins=tuple(margins or ()), suppression=suppression)
    t = base.table.merge(agg.drop(columns=["n_eligible", "n_takers"]), on=["territory", "right"], how="left")
    pub = (t["status"] == "published").to_numpy()
    n = t["n_eligible"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    ta = np.where(pub, t["takers_adjusted"].to_numpy(dtype=float), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ra = ta / n
        sd = np.sqrt(_rate_variance(t, n, ra))
        t["takers_adjusted"] = ta
        t["rate_adjusted"] = ra
        t["se"] = sd
        t["ci_low"] = np.clip(ra - z * sd, 0, 1)
        t["ci_high"] = np.clip(ra + z * sd, 0, 1)
    t["moved"] = t["rate_adjusted"] - t["rate"]
    cols = [
        "territory",
        "departement",
        "right",
        "n_eligible",
        "n_takers",
        "rate",
        "takers_adjusted",
        "rate_adjusted",
        "se",
        "ci_low",
        "ci_high",
        "moved",
        "status",
    ]
    return LinkedRates(
        table=t[cols],
        departements=base.departements,
        level=level,
        margins={name: base.margin(name) for name in (margins or {})},
        n_suppressed=base.n_suppressed,
    )


def group_rates(
    takers: pd.DataFrame,
    by: str,
    *,
    level: float = 0.95,
    calibration: pd.DataFrame | None = None,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Observed and adjusted rates per ``by`` group × right (large groups: no suppression), with intervals.

    ``takers`` is :func:`taker_table`'s output with a ``by`` column added
    (e.g. ``is_qpv``). Same formulas as :func:`linked_rates`; ``calibration`` and ``engine`` as there.
    """
    level = check_level(level)
    takers = _with_defaults(takers)
    with borrow_engine(engine) as eng:
        strata = eng.sql_frames(_strata_sql([by], eng.quote), {"t": takers})
        status = eng.sql_frames(_status_sql([by], eng.quote), {"t": takers})
    return _finish_group(_cell_terms(strata, status, [by], calibration), by, level)


def _finish_group(g: pd.DataFrame, by: str, level: float) -> pd.DataFrame:
    z = float(norm_ppf(0.5 + level / 2))
    # groups with a determined row (eligible or not), as before the error model
    g = g[g["n_eligible"] + g["n_not_eligible"] > 0].sort_values([by, "right"], ignore_index=True)
    n = g["n_eligible"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        g["rate"] = g["n_takers"] / n
        g["rate_adjusted"] = g["takers_adjusted"] / n
        sd = np.sqrt(_rate_variance(g, n, g["rate_adjusted"].to_numpy(dtype=float)))
        g["ci_low"] = np.clip(g["rate_adjusted"] - z * sd, 0, 1)
        g["ci_high"] = np.clip(g["rate_adjusted"] + z * sd, 0, 1)
    g["moved"] = g["rate_adjusted"] - g["rate"]
    cols = [by, "right", "n_eligible", "n_takers", "takers_adjusted", "rate", "rate_adjusted", "ci_low", "ci_high"]
    return g[[*cols, "moved"]]


def suppressed_margin(groups: pd.DataFrame, margin: pd.DataFrame, by: str) -> pd.DataFrame:
    """:func:`group_rates`' table with the groups whose total :func:`linked_rates` suppressed emptied
    (disclosure: a margin total below ``min_cell``, or one that would give a suppressed cell away)."""
    from ..publication import blank_rows, code_key

    hidden = set(
        zip(
            code_key(margin.loc[margin["status"] != "published", by]),
            margin.loc[margin["status"] != "published", "right"].astype(str),
        )
    )
    hide = np.fromiter(
        ((k, r) in hidden for k, r in zip(code_key(groups[by]), groups["right"].astype(str))),
        dtype=bool,
        count=len(groups),
    )
    return blank_rows(groups, hide, keep=(by, "right"))


def phase_rates(
    recipients: pd.DataFrame,
    eligibility: pd.DataFrame,
    links: pd.DataFrame,
    near_misses: pd.DataFrame,
    source_rights: dict[str, pd.DataFrame],
    qpv_flags: pd.DataFrame,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    level: float = 0.95,
    memory_limit: str | None = "2GB",
    calibration: pd.DataFrame | None = None,
    engine: Engine | None = None,
    suppression: str = "heuristic",
) -> tuple[LinkedRates, pd.DataFrame]:
    """:func:`linked_rates` and :func:`group_rates` by QPV flag, the taker table kept in the engine.

    The same SQL as :func:`taker_table`, :func:`linked_rates` and
    :func:`group_rates`, on integer keys (:func:`_keyed_query`), run on one
    engine where the recipients' rows stay (DuckDB spills to its temporary
    folder beyond its memory limit) and the long table (one row per recipient
    and right) is a projection of them that the counts read: only the
    aggregated counts (per recipient when a recipient is listed twice) come
    back to Python, decoded to the frames the text keys gave. ``qpv_flags`` maps ``territory`` to ``is_qpv``: the
    QPV / rest totals are a margin the territory cells are protected against
    (``linked_rates(..., margins={"is_qpv": ...})``), and a suppressed total is
    emptied in the groups (:func:`suppressed_margin`). ``engine``: the SQL
    engine (DuckDB or Spark); default: a DuckDB engine under ``memory_limit``
    opened for the call. ``suppression``: the secondary suppression's method (:func:`linked_rates`).
    ``calibration``: as in :func:`linked_rates`.

    Returns
    -------
    LinkedRates, DataFrame
        The rates per territory × right, and per ``is_qpv`` × right.
    """
    level = check_level(level)
    with borrow_engine(engine, memory_limit=memory_limit) as eng:
        q = eng.quote
        # on integer keys (decoded below: the same frames), with the QPV flag of each recipient
        (rec_sql, long_sql), tables, labels = _keyed_query(
            recipients, eligibility, links, near_misses, source_rights, qpv_flags, q
        )
        try:
            for name, df in tables.items():
                eng.register_frame(name, df)
            # the recipients' rows kept, the long table (one row per recipient and right) a projection of them
            # that each count reads: 4 times fewer rows written
            eng.create_table("w", rec_sql)
            for name in tables:  # the inputs are no longer needed
                eng.unregister(name)
            t = f"({long_sql}) as t"
            # the counts per territory, per QPV flag and per territory and département in one pass
            fine = labels.decode(eng.sql(_status_sql(["territory", "departement", "is_qpv"], q, t, rows=True)))
            # (every right of the long table has a row in it)
            present = [r for r in RIGHTS if r in set(fine["right"])]
            if not labels.unique:  # a recipient twice: its rows counted once
                coded = labels.decode(eng.sql(_coded_sql(present, q, t, keyed=True)))
            sets = labels.decode(eng.sql(_strata_sets_sql(q, t)))
        finally:
            for name in (*tables, "w"):
                eng.unregister(name)
    status, g_status, counts = _split_status(fine, present)
    wide = labels.unique
    if wide:  # each recipient once in both tables: one row per recipient and right, counted without the codes
        coded = counts
    by_qpv = sets["by_qpv"].to_numpy() == 1
    strata = sets[~by_qpv].drop(columns=["is_qpv", "by_qpv"]).reset_index(drop=True)
    g_strata = sets[by_qpv].drop(columns=["territory", "by_qpv"]).reset_index(drop=True)
    g_strata["is_qpv"] = _as_engine_gives(g_strata["is_qpv"])
    # the QPV / rest totals are published beside the territory cells: the cells are protected against them too
    margins = {"is_qpv": qpv_flags.set_index("territory")["is_qpv"]}
    agg = _cell_terms(strata, status, ["territory"], calibration, margins["is_qpv"])
    rates = _finish_linked(coded, agg, present, min_cell, level, margins, suppression, wide)
    groups = _finish_group(_cell_terms(g_strata, g_status, ["is_qpv"], calibration), "is_qpv", level)
    return rates, suppressed_margin(groups, rates.margins["is_qpv"], "is_qpv")
