"""Eligibility for CMU-C, ACS and the energy social tariffs from resources and household size.

The rules come from a rulebook (:mod:`nonrecours.admin.rules`: TOML, one entry
per year, every figure with its legal source; the package ships
:file:`rulebook/france.toml`, a user may pass their own).
:func:`eligibility_sql` turns an entry into one SQL ``CASE`` expression per
right, run by an :class:`~nonrecours.engines.base.Engine` (DuckDB or Spark: the
SQL is their common subset), so that any SQL engine evaluates the same rules,
set-based (no per-row Python).

Per recipient and right the result is ``eligible``, ``not_eligible`` or
``undetermined`` (what a rule needs is missing), with the rule that decided
(:data:`RULES`). A missing fact leaves a right undetermined only when it could
change the outcome: a household whose housing is unknown but whose resources
exceed the ceiling even without the forfait logement is not eligible.

The presumption of CSS L. 861-2 al. 2 comes first for the CMU-C (after the
territory): RSA recipients are deemed to meet its conditions (rule
``rsa_presumption``), whatever their resources, known or not; in 2009–2015
only the RSA socle (the file's ``rsa_component``), from 2016 every RSA
recipient (:attr:`~nonrecours.admin.rules.Rule.rsa_presumption`). The ACS,
whose band starts above the CMU-C ceiling, is then not due (same rule).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..engines import borrow_engine
from ..engines.base import Engine
from ..errors import InputError, message
from .rules import HOUSING_TENURES, RSA_COMPONENTS, Rule, Rulebook, load_rulebook

__all__ = [
    "Rule",
    "Rulebook",
    "load_rulebook",
    "eligibility_sql",
    "assess_eligibility",
    "STATUSES",
    "RESOURCE_COLUMNS",
    "OPTIONAL_COLUMNS",
    "RULES",
]

STATUSES = ("eligible", "not_eligible", "undetermined")
RESOURCE_COLUMNS = ("resources_q1", "resources_q2", "resources_q3", "resources_q4")
#: Columns used when present (absent: missing for every row): tenure (:data:`~nonrecours.admin.rules.HOUSING_TENURES`),
#: whether the household receives a personal housing aid (0/1), revenu fiscal de référence per part (euros), the
#: benefit paid (``RSA``...) and the RSA's component (:data:`~nonrecours.admin.rules.RSA_COMPONENTS`).
OPTIONAL_COLUMNS = ("housing", "housing_benefit", "rfr_per_part", "benefit", "rsa_component")
_COMMON = ("commune_missing", "territory_not_covered")
_MISSING = ("resources_missing", "household_size_missing", "housing_missing")
#: The rules that can decide, per right.
RULES = {
    "cmuc": (
        *_COMMON,
        "not_applicable_territory",
        "rsa_presumption",
        *_MISSING,
        "under_cmuc_ceiling",
        "over_cmuc_ceiling",
    ),
    "acs": (
        *_COMMON,
        "not_applicable_territory",
        "rsa_presumption",
        *_MISSING,
        "under_cmuc_ceiling",
        "in_acs_band",
        "over_acs_ceiling",
    ),
    "tpn": (
        *_COMMON,
        "no_electricity_contract",
        *_MISSING,
        "fiscal_income_missing",
        "under_tariff_ceiling",
        "under_fiscal_ceiling",
        "over_tariff_ceiling",
        "over_tariff_and_fiscal_ceilings",
    ),
    "tss": (
        *_COMMON,
        "no_gas_contract",
        *_MISSING,
        "fiscal_income_missing",
        "under_tariff_ceiling",
        "under_fiscal_ceiling",
        "over_tariff_ceiling",
        "over_tariff_and_fiscal_ceilings",
    ),
}


def _num(v: float) -> str:
    return repr(float(v))


def _starts(prefixes: tuple) -> str:
    """Whether ``commune`` begins with one of ``prefixes`` (``substr``: DuckDB and Spark alike, no pattern)."""
    return ("(" + " or ".join(f"substr(commune, 1, {len(p)}) = '{p}'" for p in prefixes) + ")") if prefixes else "false"


def _by_size(values, k: str = "k") -> str:
    """CASE on the forfait's size class ``k`` (1, 2, 3 = three or more persons)."""
    return "case " + " ".join(f"when {k} = {i + 1} then {_num(v)}" for i, v in enumerate(values)) + " end"


def _forfait_bounds(rule: Rule) -> tuple[str, str]:
    """SQL of the smallest and largest forfait logement the household's known facts allow (annual euros)."""
    if rule.rsa_base_amount is None:
        return "0.0", "0.0"
    aid = _by_size(rule.forfait_table("housing_benefit"))
    free = _by_size(rule.forfait_table("housed_free"))
    tenant = "housing in ('social', 'private_rental')"
    owner = "housing in ('owner', 'housed_free')"
    lo = (
        f"case when hb = 1 then {aid} when hb = 0 then (case when {owner} then {free} else 0.0 end) "
        f"else (case when {owner} then least({aid}, {free}) else 0.0 end) end"
    )
    hi = (
        f"case when hb = 1 then {aid} when hb = 0 then (case when {tenant} then 0.0 else {free} end) "
        f"else (case when {tenant} then {aid} else greatest({aid}, {free}) end) end"
    )
    return lo, hi


def eligibility_sql(rule: Rule, table: str = "recipients", *, engine: Engine | None = None) -> str:
    """SELECT statement giving, per row of ``table``, the status and deciding rule of each right.

    The input columns: ``rec_id``, ``commune`` (text), ``household_size``,
    :data:`RESOURCE_COLUMNS`, ``electricity_contract``, ``gas_contract`` and
    :data:`OPTIONAL_COLUMNS` (:func:`assess_eligibility` adds the absent ones,
    empty). Output: ``rec_id``, ``resources`` (the sum of the quarters),
    ``forfait_logement`` (empty when the housing facts leave it open),
    ``ceiling_cmuc``, ``ceiling_acs``, and for each right ``<right>`` (status)
    and ``<right>_rule``. ``engine`` (an :class:`~nonrecours.engines.base.Engine`)
    quotes the table's name in its dialect (default: ANSI double quotes).

    Notes
    -----
    With ``R`` the sum of the four quarters plus the forfait logement ``L``
    (housing aid: ``12 * round(rsa * s_k * a_k, 2)``, a monthly amount rounded
    to the cent; owner without aid or housed free: ``f_k`` instead of ``a_k``;
    tenant without aid: 0; ``k`` = household size capped at 3), ``C`` the
    household's CMU-C ceiling ``base * m(size)`` (``base`` metropolitan or
    overseas by commune prefix, ``m`` the household scale; rounded to the euro
    when the rulebook says so) and ``A =
    acs_ratio * C``: CMU-C iff ``R <= C``; ACS iff ``C < R <= A``; TPN (TSS)
    iff the household holds an electricity (gas) contract and ``R <=`` the
    tariff ceiling (``C`` or ``A``) or its revenu fiscal de référence per part
    is at most the fiscal ceiling. Where ``L`` is unknown, ``R`` is bounded by
    the smallest and largest forfait the known facts allow; the right is
    decided when both bounds agree, else undetermined (``housing_missing``).
    Communes under ``cmuc_not_applicable_prefixes`` are not eligible for
    CMU-C and ACS; under ``not_covered_prefixes`` every right is undetermined.
    Rules are tried in the order of :data:`RULES`: territory, contract (or,
    for CMU-C and ACS, the RSA presumption of CSS L. 861-2 al. 2: ``benefit =
    'RSA'``, and ``rsa_component`` socle or socle_activite when the rule is
    ``"socle"``), then missing facts, then the ceilings. Amounts are compared to the cent
    (resources, forfait and ceilings rounded to the cent), so that a household
    exactly at its ceiling is eligible whatever the floating-point noise.
    """
    k = len(rule.scale)
    mult = (
        "case "
        + " ".join(f"when n = {i + 1} then {_num(v)}" for i, v in enumerate(rule.scale))
        + f" else {_num(rule.scale[-1])} + {_num(rule.per_extra_person)} * (n - {k}) end"
    )
    res = "round(" + " + ".join(f"cast({c} as double)" for c in RESOURCE_COLUMNS) + ", 2)"
    c_raw = (
        f"(case when ov then {_num(rule.cmuc_ceiling_overseas)} "
        f"else {_num(rule.cmuc_ceiling_metropolitan)} end) * ({mult})"
    )
    c_expr = f"floor({c_raw} + 0.5)" if rule.rounding == "euro" else c_raw
    lo, hi = _forfait_bounds(rule)
    fiscal = rule.tariff_fiscal_ceiling is not None
    fis = (
        f"case when ov then {_num(rule.tariff_fiscal_ceiling_overseas)} else {_num(rule.tariff_fiscal_ceiling)} end"  # type: ignore[arg-type]
        if fiscal
        else "null"
    )
    tariff = "c" if rule.tariff_ceiling == "cmuc" else "a"

    def case(rows: list[tuple[str, str, str]]) -> tuple[str, str]:
        s = "case " + " ".join(f"when {cond} then '{st}'" for cond, st, _ in rows) + " end"
        r_ = "case " + " ".join(f"when {cond} then '{ru}'" for cond, _, ru in rows) + " end"
        return s, r_

    head = [("commune is null", "undetermined", "commune_missing"), ("nc", "undetermined", "territory_not_covered")]
    missing = [
        ("r is null", "undetermined", "resources_missing"),
        ("n is null or n < 1", "undetermined", "household_size_missing"),
    ]
    na = [("na", "not_eligible", "not_applicable_territory")]
    presumed = {
        "none": "false",
        "socle": "(benefit = 'RSA' and rsa_component in ('socle', 'socle_activite'))",
        "all": "benefit = 'RSA'",
    }[rule.rsa_presumption]

    def tariff_rows(contract: str, no_contract: str) -> list[tuple[str, str, str]]:
        known = "r is not null and n >= 1"
        rows = [
            *head,
            (f"{contract} = 0", "not_eligible", no_contract),
            (f"{known} and rhi <= {tariff}", "eligible", "under_tariff_ceiling"),
        ]
        if fiscal:
            rows += [
                ("rfr <= fis", "eligible", "under_fiscal_ceiling"),
                (f"{known} and rlo > {tariff} and rfr > fis", "not_eligible", "over_tariff_and_fiscal_ceilings"),
            ]
        else:
            rows += [(f"{known} and rlo > {tariff}", "not_eligible", "over_tariff_ceiling")]
        rows += missing
        if fiscal:
            rows += [(f"rlo > {tariff}", "undetermined", "fiscal_income_missing")]
        return rows + [("true", "undetermined", "housing_missing")]

    rights = {
        "cmuc": case(
            [
                *head,
                *na,
                (f"coalesce({presumed}, false)", "eligible", "rsa_presumption"),
                *missing,
                ("rhi <= c", "eligible", "under_cmuc_ceiling"),
                ("rlo > c", "not_eligible", "over_cmuc_ceiling"),
                ("true", "undetermined", "housing_missing"),
            ]
        ),
        "acs": case(
            [
                *head,
                *na,
                (f"coalesce({presumed}, false)", "not_eligible", "rsa_presumption"),
                *missing,
                ("rhi <= c", "not_eligible", "under_cmuc_ceiling"),
                ("rlo > a", "not_eligible", "over_acs_ceiling"),
                ("rlo > c and rhi <= a", "eligible", "in_acs_band"),
                ("true", "undetermined", "housing_missing"),
            ]
        ),
        "tpn": case(tariff_rows("elec", "no_electricity_contract")),
        "tss": case(tariff_rows("gas", "no_gas_contract")),
    }
    cols = ",\n  ".join(f"{s} as {name},\n  {r_} as {name}_rule" for name, (s, r_) in rights.items())
    quote = (engine or Engine).quote
    return (
        f"with b as (select rec_id, cast(commune as string) as commune, household_size as n, {res} as r, "
        f"cast(housing as string) as housing, cast(housing_benefit as double) as hb, "
        f"cast(rfr_per_part as double) as rfr, coalesce(electricity_contract, 0) as elec, "
        f"coalesce(gas_contract, 0) as gas, cast(benefit as string) as benefit, "
        f"cast(rsa_component as string) as rsa_component from {quote(table)}),\n"
        f"z as (select *, {_starts(rule.overseas_prefixes)} as ov, "
        f"{_starts(rule.cmuc_not_applicable_prefixes)} as na, "
        f"{_starts(rule.not_covered_prefixes)} as nc, least(greatest(n, 1), 3) as k from b),\n"
        f"f as (select *, round({c_expr}, 2) as c, ({lo}) as flo, ({hi}) as fhi, {fis} as fis from z),\n"
        f"d as (select *, round({_num(rule.acs_ratio)} * c, 2) as a, round(r + flo, 2) as rlo, "
        f"round(r + fhi, 2) as rhi from f)\n"
        f"select rec_id, r as resources, case when flo = fhi then flo end as forfait_logement, "
        f"c as ceiling_cmuc, a as ceiling_acs,\n  {cols}\nfrom d"
    )


def assess_eligibility(recipients: pd.DataFrame, rule: Rule, *, engine: Engine | None = None) -> pd.DataFrame:
    """Eligibility of each recipient for each right (see :func:`eligibility_sql`), in input order.

    Parameters
    ----------
    recipients : DataFrame
        ``rec_id``, ``commune``, ``household_size``, :data:`RESOURCE_COLUMNS`,
        ``electricity_contract``, ``gas_contract``; when present,
        :data:`OPTIONAL_COLUMNS` (an absent one is missing for every row: the
        rights it could change are undetermined, with the rule named; without
        ``benefit`` no RSA presumption applies, without ``rsa_component`` not
        the 2009–2015 one).
    rule : Rule
        One year of a rulebook (``load_rulebook().entry(year)``).
    engine : Engine, optional
        The SQL engine (:func:`nonrecours.engines.open_engine`); default: an
        in-memory DuckDB engine opened for the call.

    Raises
    ------
    InputError
        A needed column is missing, ``rec_id`` is not unique, or an optional
        column holds values outside its domain (counts, never values).

    Examples
    --------
    >>> df = pd.DataFrame({"rec_id": ["a", "b"], "commune": ["75101", "97411"], "household_size": [1, 1],
    ...                    **{c: [2000.0, 2200.0] for c in RESOURCE_COLUMNS}, "electricity_contract": [1, 1],
    ...                    "gas_contract": [0, 0], "housing": ["social", "owner"], "housing_benefit": [1, 0]})
    >>> out = assess_eligibility(df, load_rulebook().entry(2015))
    >>> out[["forfait_logement", "ceiling_cmuc"]].round(2).to_numpy().tolist()
    [[754.8, 8645.0], [754.8, 9621.0]]
    >>> out[["cmuc", "acs", "cmuc_rule"]].to_numpy().tolist()
    [['not_eligible', 'eligible', 'over_cmuc_ceiling'], ['eligible', 'not_eligible', 'under_cmuc_ceiling']]

    The first household (8,000 euros) is over the CMU-C ceiling of 8,645 euros
    once its housing aid counts as a forfait of 754.80 euros (12 x 62.90); the second, in
    La Réunion, is under the overseas ceiling.
    """
    from .._checks import check_columns

    need = ["rec_id", "commune", "household_size", *RESOURCE_COLUMNS, "electricity_contract", "gas_contract"]
    check_columns(recipients, need, role="column", source="recipients file")
    dup = recipients["rec_id"].duplicated()
    if dup.any():
        raise InputError(
            message(
                "record ids are not unique",
                where="recipients file, column 'rec_id'",
                found=f"{int(dup.sum())} duplicated rows",
                hint="deduplicate the file",
            )
        )
    n = len(recipients)
    housing = (
        recipients["housing"].astype("str")  # text (missing stays missing), no Python object per row
        if "housing" in recipients
        else pd.Series(pd.NA, index=recipients.index, dtype="str")
    )
    bad = housing.notna() & ~housing.isin(HOUSING_TENURES)
    if bad.any():
        raise InputError(
            message(
                "unknown housing tenure",
                where="recipients file, column 'housing'",
                expected=", ".join(HOUSING_TENURES) + " or empty",
                found=f"{int(bad.sum())} rows",
            )
        )
    text = {}
    for col in ("benefit", "rsa_component"):  # the RSA presumption's facts: text, missing stays missing
        text[col] = (  # Arrow strings passed as they are: no Python object per row
            recipients[col].astype("str")
            if col in recipients
            else pd.Series(pd.NA, index=recipients.index, dtype="str")
        )
    wrong = text["rsa_component"].notna() & ~text["rsa_component"].isin(RSA_COMPONENTS)
    if wrong.any():
        raise InputError(
            message(
                "unknown RSA component",
                where="recipients file, column 'rsa_component'",
                expected=", ".join(RSA_COMPONENTS) + " or empty",
                found=f"{int(wrong.sum())} rows",
                hint="code the component of each RSA recipient, or leave the column out (the resources then decide)",
            )
        )
    numeric = {}
    for col, allowed in (("housing_benefit", (0, 1)), ("rfr_per_part", None)):
        if col not in recipients:
            numeric[col] = np.full(n, np.nan)
            continue
        v = pd.to_numeric(recipients[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        wrong = np.isnan(v) & recipients[col].notna().to_numpy()
        if allowed is not None:
            wrong |= ~np.isnan(v) & ~np.isin(v, allowed)
        if wrong.any():
            raise InputError(
                message(
                    "invalid values",
                    where=f"recipients file, column {col!r}",
                    expected="0, 1 or empty" if allowed else "a number of euros or empty",
                    found=f"{int(wrong.sum())} rows",
                )
            )
        numeric[col] = v
    data = recipients[need].assign(commune=recipients["commune"].astype("str"), housing=housing, **numeric, **text)
    with borrow_engine(engine) as eng, eng.insertion_order():
        out = eng.sql_frames(eligibility_sql(rule, "recipients", engine=eng), {"recipients": data})
    if _same_ids(out["rec_id"], recipients["rec_id"]):  # the engine kept the input order: no reordering copy
        if out["rec_id"].dtype == recipients["rec_id"].dtype:
            # the input's own ids (the same values): text taken from an engine's Arrow result keeps the result's
            # every column alive while it lives (one block per batch of rows), so that the ids alone held the
            # whole table's text (at 5.18 million recipients 1.2 GiB for a table of 0.3 GiB once its statuses
            # are categories, benchmarks/RESULTS.md)
            out["rec_id"] = recipients["rec_id"].array
        return out
    return out.set_index("rec_id").reindex(recipients["rec_id"]).reset_index()


def _same_ids(a: pd.Series, b: pd.Series) -> bool:
    """Whether two id columns hold the same values in the same order (compared in Arrow, without Python objects)."""
    if len(a) != len(b):
        return False
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return bool((a.astype("str").to_numpy() == b.astype("str").to_numpy()).all())
    same = pc.all(pc.equal(pa.array(a.astype("str")), pa.array(b.astype("str")))).as_py()
    return bool(same) and not a.isna().any()
