"""Take-up rates from eligibility and links, corrected for linkage errors, with disclosure control.

For each recipient ``i`` eligible for right ``r`` (``eligible`` in the
eligibility table; ``undetermined`` recipients are left out), the observed
taker indicator is 1 when ``i`` is linked to a record of the right's source
that carries ``r``. Linkage errors bias it: a false link makes a taker, a
missed link a non-taker. With ``p_i`` the match probability of ``i``'s link
(1 for a link by number) and ``q_i`` that of its best candidate below the
threshold (0 when none), the expected number of true takers in a cell is

    T_adj = sum_linked p_i + sum_unlinked q_i = T_obs - sum_linked (1 - p_i) + sum_unlinked q_i,

the expected false links removed and the expected missed links added. Taking
link statuses as independent Bernoulli variables,
``Var(T) = sum_linked p_i (1 - p_i) + sum_unlinked q_i (1 - q_i)``, and the
interval ``(T_adj ± z sqrt(Var T)) / N`` (clipped to [0, 1]) carries the
linkage uncertainty. ``moved`` is ``rate_adjusted - rate``.

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

import numpy as np
import pandas as pd

from .._checks import check_columns, check_level
from ..engines import borrow_engine
from ..engines.base import Engine
from ..estimation._dist import norm_ppf
from ..publication.policy import DEFAULT_MIN_CELL
from .contract import RIGHT_SOURCES

__all__ = ["LinkedRates", "linked_rates", "taker_table", "group_rates", "suppressed_margin", "phase_rates"]

RIGHTS = tuple(RIGHT_SOURCES)


@dataclass(frozen=True)
class LinkedRates:
    """Administrative rates per territory × right.

    Attributes
    ----------
    table : DataFrame
        ``territory``, ``departement``, ``right``, ``n_eligible``, ``n_takers``, ``rate``,
        ``takers_adjusted``, ``rate_adjusted``, ``ci_low``, ``ci_high``, ``moved``, ``status``.
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
        ``rec_id``, ``territory``, ``departement``.
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
        undetermined), ``taker`` (0/1), ``p_link``, ``q_miss``.
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
    rt = q("right")
    unpivot = " union all ".join(f"select rec_id, '{r}' as {rt}, {r} as status from el" for r in RIGHTS)
    sql = f"""
    with e as ({unpivot}),
    lr as (select l.id_l, l.match_probability, coalesce(m.{rt}, s.{rt}) as {rt}
           from links l left join single s on s.source = l.source
           left join multi m on m.source = l.source and m.rec_id = l.id_r),
    nr as (select l.id_l, l.match_probability, coalesce(m.{rt}, s.{rt}) as {rt}
           from near l left join single s on s.source = l.source
           left join multi m on m.source = l.source and m.rec_id = l.id_r),
    lk as (select id_l, {rt}, max(match_probability) as p from lr where {rt} is not null group by id_l, {rt}),
    nm as (select id_l, {rt}, max(match_probability) as q from nr where {rt} is not null group by id_l, {rt})
    select e.rec_id, r.territory, r.departement, e.{rt},
           case e.status when 'eligible' then cast(1 as double) when 'not_eligible' then cast(0 as double)
                else null end as eligible,
           case when lk.p is null then 0 else 1 end as taker,
           coalesce(lk.p, 0.0) as p_link,
           case when lk.p is null then coalesce(nm.q, 0.0) else 0.0 end as q_miss
    from e
    join rc r on r.rec_id = e.rec_id
    left join lk on lk.id_l = e.rec_id and lk.{rt} = e.{rt}
    left join nm on nm.id_l = e.rec_id and nm.{rt} = e.{rt}
    """
    cols = ["source", "id_l", "id_r", "match_probability"]
    return sql, {
        "links": links[cols],
        "near": near_misses[cols],
        "single": single,
        "multi": multi,
        "el": eligibility[["rec_id", *RIGHTS]].astype({"rec_id": "str"}),
        "rc": recipients[["rec_id", "territory", "departement"]].astype("str"),
    }


def _exact_sum(expr: str) -> str:
    """``SUM(expr)`` added in fixed point (18 decimals, exact whatever the order of the rows), read as a double."""
    return f"cast(sum(cast({expr} as decimal(38, 18))) as double)"


def _agg_sql(q: Callable[[str], str] = Engine.quote, source: str = "t") -> str:
    """Expected false and missed links, adjusted takers and their variance per territory × right."""
    rt = q("right")
    adjusted = "eligible * (case when taker = 1 then p_link else q_miss end)"
    variance = "eligible * (case when taker = 1 then p_link * (1 - p_link) else q_miss * (1 - q_miss) end)"
    return f"""
    select territory, {rt},
           {_exact_sum("taker * (1 - p_link) * eligible")} as false_links,
           {_exact_sum("q_miss * eligible")} as missed_links,
           {_exact_sum(adjusted)} as takers_adjusted,
           {_exact_sum(variance)} as var_takers
    from {source} where eligible is not null group by territory, {rt}
    """


def linked_rates(
    takers: pd.DataFrame,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    level: float = 0.95,
    margins: dict[str, pd.Series] | None = None,
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
    ``engine``: the SQL engine of the sums (default: an in-memory DuckDB engine opened for the call).
    ``suppression``: the secondary suppression's method (``heuristic`` or ``optimal``,
    :func:`~nonrecours.admin.counts.protected_rates`).
    """
    level = check_level(level)
    present = [r for r in RIGHTS if (takers["right"] == r).any()]
    with borrow_engine(engine) as eng:
        coded = eng.sql_frames(_coded_sql(present, eng.quote), {"t": takers})
        agg = eng.sql_frames(_agg_sql(eng.quote), {"t": takers})
    return _finish_linked(coded, agg, present, min_cell, level, margins, suppression)


def _coded_sql(present: list[str], q: Callable[[str], str] = Engine.quote) -> str:
    """Per recipient: 1 taker, 0 eligible non-taker, NaN not eligible or undetermined, for each right."""
    rt = q("right")
    cols_sql = ", ".join(
        f"max(case when {rt} = '{r}' and eligible = 1 then cast(taker as double) "
        f"when {rt} = '{r}' and eligible = 0 then null end) as {r}"
        for r in present
    )
    return f"select rec_id, territory, departement, {cols_sql} from t group by rec_id, territory, departement"


def _finish_linked(
    coded: pd.DataFrame,
    agg: pd.DataFrame,
    present: list[str],
    min_cell: int,
    level: float,
    margins: dict[str, pd.Series] | None = None,
    suppression: str = "heuristic",
) -> LinkedRates:
    """Disclosure control on the observed counts, then the adjusted columns (see :func:`linked_rates`)."""
    from .counts import count_territories, counts_table, protected_rates

    z = float(norm_ppf(0.5 + level / 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # suppression counts are reported by the caller
        cells = counts_table(count_territories(coded, present), present)
        for name, values in (margins or {}).items():
            cells[name] = values.reindex(cells["territory"]).to_numpy()
        base = protected_rates(cells, min_cell=min_cell, margins=tuple(margins or ()), suppression=suppression)
    t = base.table.merge(agg, on=["territory", "right"], how="left")
    pub = (t["status"] == "published").to_numpy()
    n = t["n_eligible"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    ta = np.where(pub, t["takers_adjusted"].to_numpy(dtype=float), np.nan)
    sd = np.sqrt(np.where(pub, t["var_takers"].to_numpy(dtype=float), np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        ra = ta / n
        t["takers_adjusted"] = ta
        t["rate_adjusted"] = ra
        t["ci_low"] = np.clip((ta - z * sd) / n, 0, 1)
        t["ci_high"] = np.clip((ta + z * sd) / n, 0, 1)
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


def group_rates(takers: pd.DataFrame, by: str, *, level: float = 0.95, engine: Engine | None = None) -> pd.DataFrame:
    """Observed and adjusted rates per ``by`` group × right (large groups: no suppression), with intervals.

    ``takers`` is :func:`taker_table`'s output with a ``by`` column added
    (e.g. ``is_qpv``). Same formulas as :func:`linked_rates`; ``engine`` as there.
    """
    level = check_level(level)
    with borrow_engine(engine) as eng:
        return _finish_group(eng.sql_frames(_group_sql(by, "t", eng.quote), {"t": takers}), level)


def _group_sql(by: str, source: str = "t", q: Callable[[str], str] = Engine.quote) -> str:
    rt = q("right")
    adjusted = "eligible * (case when taker = 1 then p_link else q_miss end)"
    variance = "eligible * (case when taker = 1 then p_link * (1 - p_link) else q_miss * (1 - q_miss) end)"
    return f"""
    select {by}, {rt}, sum(eligible) as n_eligible, sum(eligible * taker) as n_takers,
           {_exact_sum(adjusted)} as takers_adjusted,
           {_exact_sum(variance)} as v
    from {source} where eligible is not null group by {by}, {rt} order by {by}, {rt}
    """


def _finish_group(g: pd.DataFrame, level: float) -> pd.DataFrame:
    z = float(norm_ppf(0.5 + level / 2))
    n = g["n_eligible"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        g["rate"] = g["n_takers"] / n
        g["rate_adjusted"] = g["takers_adjusted"] / n
        sd = np.sqrt(g["v"].to_numpy(dtype=float))
        g["ci_low"] = np.clip((g["takers_adjusted"] - z * sd) / n, 0, 1)
        g["ci_high"] = np.clip((g["takers_adjusted"] + z * sd) / n, 0, 1)
    g["moved"] = g["rate_adjusted"] - g["rate"]
    return g.drop(columns="v")


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
    engine: Engine | None = None,
    suppression: str = "heuristic",
) -> tuple[LinkedRates, pd.DataFrame]:
    """:func:`linked_rates` and :func:`group_rates` by QPV flag, the taker table kept in the engine.

    The same SQL as :func:`taker_table`, :func:`linked_rates` and
    :func:`group_rates`, run on one engine where the long table (one row per
    recipient and right) stays (DuckDB spills to its temporary folder beyond
    its memory limit): only the per-recipient codes and the aggregated counts
    come back to Python. ``qpv_flags`` maps ``territory`` to ``is_qpv``: the
    QPV / rest totals are a margin the territory cells are protected against
    (``linked_rates(..., margins={"is_qpv": ...})``), and a suppressed total is
    emptied in the groups (:func:`suppressed_margin`). ``engine``: the SQL
    engine (DuckDB or Spark); default: a DuckDB engine under ``memory_limit``
    opened for the call. ``suppression``: the secondary suppression's method (:func:`linked_rates`).

    Returns
    -------
    LinkedRates, DataFrame
        The rates per territory × right, and per ``is_qpv`` × right.
    """
    level = check_level(level)
    with borrow_engine(engine, memory_limit=memory_limit) as eng:
        q = eng.quote
        sql, tables = _taker_query(recipients, eligibility, links, near_misses, source_rights, q)
        tables["flags"] = qpv_flags[["territory", "is_qpv"]].astype({"territory": "str"})
        try:
            for name, df in tables.items():
                eng.register_frame(name, df)
            eng.create_table("t", sql)
            for name in tables:  # the inputs are no longer needed (flags are, for the QPV groups)
                if name != "flags":
                    eng.unregister(name)
            found = set(eng.sql(f"select distinct {q('right')} as r from t")["r"])
            present = [r for r in RIGHTS if r in found]
            coded = eng.sql(_coded_sql(present, q))
            agg = eng.sql(_agg_sql(q))
            grouped = eng.sql(
                _group_sql("is_qpv", "(select t.*, f.is_qpv from t left join flags f using (territory)) as tf", q)
            )
        finally:
            for name in (*tables, "t"):
                eng.unregister(name)
    # the QPV / rest totals are published beside the territory cells: the cells are protected against them too
    margins = {"is_qpv": qpv_flags.set_index("territory")["is_qpv"]}
    rates = _finish_linked(coded, agg, present, min_cell, level, margins, suppression)
    return rates, suppressed_margin(_finish_group(grouped, level), rates.margins["is_qpv"], "is_qpv")
