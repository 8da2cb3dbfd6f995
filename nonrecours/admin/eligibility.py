"""Eligibility for CMU-C, ACS and the energy social tariffs from resources and household size.

The rules come from a rulebook (TOML, one entry per year, every figure with
its legal source; the package ships :file:`rulebook/france.toml`, a user may
pass their own). :func:`eligibility_sql` turns an entry into one SQL
``CASE`` expression per right, run by :func:`nonrecours.admin.sql.run_sql`,
so that any SQL engine evaluates the same rules.

Per recipient and right the result is ``eligible``, ``not_eligible`` or
``undetermined`` (resources or household size missing), with the rule that
decided.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError, OptionError, message

__all__ = ["Rule", "Rulebook", "load_rulebook", "eligibility_sql", "assess_eligibility", "STATUSES",
           "RESOURCE_COLUMNS", "RULES"]

STATUSES = ("eligible", "not_eligible", "undetermined")
RESOURCE_COLUMNS = ("resources_q1", "resources_q2", "resources_q3", "resources_q4")
#: The rules that can decide, per right.
RULES = {
    "cmuc": ("resources_missing", "household_size_missing", "under_cmuc_ceiling", "over_cmuc_ceiling"),
    "acs": ("resources_missing", "household_size_missing", "in_acs_band", "under_cmuc_ceiling", "over_acs_ceiling"),
    "tpn": ("resources_missing", "household_size_missing", "no_electricity_contract", "under_tariff_ceiling",
            "over_tariff_ceiling"),
    "tss": ("resources_missing", "household_size_missing", "no_gas_contract", "under_tariff_ceiling",
            "over_tariff_ceiling"),
}
_REQUIRED = ("year", "cmuc_ceiling_metropolitan", "cmuc_ceiling_overseas", "cmuc_source", "overseas_source",
             "acs_ratio", "acs_source", "tariff_ceiling", "tariff_source", "contract_source")


@dataclass(frozen=True)
class Rule:
    """The rules of one year.

    Attributes
    ----------
    year : int
    cmuc_ceiling_metropolitan, cmuc_ceiling_overseas : float
        CMU-C resource ceiling for one person, euros per year.
    acs_ratio : float
        ACS ceiling as a multiple of the CMU-C ceiling (1.35 from 2012).
    tariff_ceiling : {"cmuc", "acs"}
        Which ceiling the energy social tariffs use.
    scale : tuple of float
        Multipliers for households of 1, 2, ... persons; ``per_extra_person`` beyond.
    per_extra_person : float
    sources : dict of str to str
        Legal source of each figure.
    """

    year: int
    cmuc_ceiling_metropolitan: float
    cmuc_ceiling_overseas: float
    acs_ratio: float
    tariff_ceiling: str
    scale: tuple
    per_extra_person: float
    sources: dict

    def multiplier(self, size: np.ndarray) -> np.ndarray:
        """Household-size multiplier of the ceiling (``scale[size-1]``, then ``+ per_extra_person`` each)."""
        size = np.asarray(size, dtype=float)
        k = len(self.scale)
        table = np.asarray(self.scale)
        idx = np.clip(size, 1, k).astype(int) - 1
        return table[idx] + self.per_extra_person * np.maximum(size - k, 0)

    def cmuc_ceiling(self, size: np.ndarray, overseas: np.ndarray) -> np.ndarray:
        """CMU-C ceiling of each household, euros per year."""
        base = np.where(np.asarray(overseas, dtype=bool), self.cmuc_ceiling_overseas, self.cmuc_ceiling_metropolitan)
        return base * self.multiplier(size)


@dataclass(frozen=True)
class Rulebook:
    """Rules by year, with the file they came from."""

    name: str
    entries: dict
    path: str

    def entry(self, year: int) -> Rule:
        """The rules of ``year``; an error names the years available."""
        if year not in self.entries:
            raise OptionError(message("no rules for this year in the rulebook", where="--year",
                                      expected="one of " + ", ".join(map(str, sorted(self.entries))), found=str(year),
                                      hint="choose a covered year or pass a rulebook with --rulebook"))
        return self.entries[year]


def load_rulebook(path: str | os.PathLike | None = None) -> Rulebook:
    """Read a rulebook (TOML); the package's French rulebook by default.

    Every entry needs the keys of :data:`_REQUIRED`; every figure a ``*_source``.
    Errors name the key path (``entry[2].acs_ratio``).
    """
    if path is None:
        text = resources.files("nonrecours.admin").joinpath("rulebook/france.toml").read_text(encoding="utf-8")
        where = "package rulebook"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(message("rulebook not found", where=f"--rulebook {str(p)!r}", hint="check the path"))
        text = p.read_text(encoding="utf-8")
        where = f"rulebook {str(p)!r}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(message("invalid TOML", where=where, found=str(exc))) from None
    scale = data.get("scale", {})
    sizes = scale.get("sizes")
    if (not isinstance(sizes, list) or not sizes or not all(isinstance(v, (int, float)) and v > 0 for v in sizes)
            or not isinstance(scale.get("per_extra_person"), (int, float)) or "source" not in scale):
        raise ConfigError(message("the household-size scale is incomplete", where=f"{where}, [scale]",
                                  expected="sizes = [positive numbers], per_extra_person = number, source = text"))
    entries = {}
    for i, e in enumerate(data.get("entry", [])):
        missing = [k for k in _REQUIRED if k not in e]
        if missing:
            raise ConfigError(message("rulebook entry incomplete", where=f"{where}, entry[{i}]",
                                      expected="keys " + ", ".join(_REQUIRED), found="missing " + ", ".join(missing)))
        for k in ("cmuc_ceiling_metropolitan", "cmuc_ceiling_overseas", "acs_ratio"):
            if not isinstance(e[k], (int, float)) or isinstance(e[k], bool) or e[k] <= 0:
                raise ConfigError(message("must be a positive number", where=f"{where}, entry[{i}].{k}",
                                          found=repr(e[k])))
        if e["tariff_ceiling"] not in ("cmuc", "acs"):
            raise ConfigError(message("unknown tariff ceiling", where=f"{where}, entry[{i}].tariff_ceiling",
                                      expected="'cmuc' or 'acs'", found=repr(e["tariff_ceiling"])))
        entries[int(e["year"])] = Rule(
            year=int(e["year"]), cmuc_ceiling_metropolitan=float(e["cmuc_ceiling_metropolitan"]),
            cmuc_ceiling_overseas=float(e["cmuc_ceiling_overseas"]), acs_ratio=float(e["acs_ratio"]),
            tariff_ceiling=e["tariff_ceiling"], scale=tuple(float(v) for v in sizes),
            per_extra_person=float(scale["per_extra_person"]),
            sources={k: e[k] for k in e if k.endswith("_source")} | {"scale": scale["source"]})
    if not entries:
        raise ConfigError(message("the rulebook has no entry", where=where, expected="[[entry]] tables, one per year"))
    return Rulebook(name=str(data.get("name", "")), entries=entries, path=str(path or "package"))


def _num(v: float) -> str:
    return repr(float(v))


def eligibility_sql(rule: Rule, table: str = "recipients") -> str:
    """SELECT statement giving, per row of ``table``, the status and deciding rule of each right.

    The input columns: ``rec_id``, ``commune`` (overseas when it starts with
    ``97``), ``household_size``, :data:`RESOURCE_COLUMNS`, ``electricity_contract``,
    ``gas_contract``. Output: ``rec_id``, ``resources``, ``ceiling_cmuc`` and
    for each right ``<right>`` (status) and ``<right>_rule``.

    Notes
    -----
    With ``R`` the sum of the four quarters, ``C = base * m(size)`` (``base``
    metropolitan or overseas, ``m`` the household scale): CMU-C iff ``R <= C``;
    ACS iff ``C < R <= acs_ratio * C``; TPN (TSS) iff ``R <=`` the tariff
    ceiling and the household holds an electricity (gas) contract.
    """
    k = len(rule.scale)
    mult = ("case " + " ".join(f"when household_size = {i + 1} then {_num(v)}" for i, v in enumerate(rule.scale))
            + f" else {_num(rule.scale[-1])} + {_num(rule.per_extra_person)} * (household_size - {k}) end")
    base = (f"case when starts_with(cast(commune as varchar), '97') then {_num(rule.cmuc_ceiling_overseas)} "
            f"else {_num(rule.cmuc_ceiling_metropolitan)} end")
    res = " + ".join(f"cast({c} as double)" for c in RESOURCE_COLUMNS)
    tariff = "c" if rule.tariff_ceiling == "cmuc" else f"c * {_num(rule.acs_ratio)}"
    und = ("when r is null then 'undetermined' ", "when household_size is null or household_size < 1 then 'undetermined' ")
    und_rule = ("when r is null then 'resources_missing' ",
                "when household_size is null or household_size < 1 then 'household_size_missing' ")

    def right(status_cases: list[tuple[str, str, str]]) -> tuple[str, str]:
        s = "case " + "".join(und) + " ".join(f"when {cond} then '{st}'" for cond, st, _ in status_cases) + " end"
        r_ = "case " + "".join(und_rule) + " ".join(f"when {cond} then '{ru}'" for cond, _, ru in status_cases) + " end"
        return s, r_

    rights = {
        "cmuc": right([("r <= c", "eligible", "under_cmuc_ceiling"), ("true", "not_eligible", "over_cmuc_ceiling")]),
        "acs": right([("r <= c", "not_eligible", "under_cmuc_ceiling"),
                      (f"r <= c * {_num(rule.acs_ratio)}", "eligible", "in_acs_band"),
                      ("true", "not_eligible", "over_acs_ceiling")]),
        "tpn": right([(f"r > {tariff}", "not_eligible", "over_tariff_ceiling"),
                      ("coalesce(electricity_contract, 0) = 0", "not_eligible", "no_electricity_contract"),
                      ("true", "eligible", "under_tariff_ceiling")]),
        "tss": right([(f"r > {tariff}", "not_eligible", "over_tariff_ceiling"),
                      ("coalesce(gas_contract, 0) = 0", "not_eligible", "no_gas_contract"),
                      ("true", "eligible", "under_tariff_ceiling")]),
    }
    cols = ",\n  ".join(f"{s} as {name},\n  {r_} as {name}_rule" for name, (s, r_) in rights.items())
    return (f"with base as (select rec_id, commune, household_size, electricity_contract, gas_contract, "
            f"{res} as r, ({base}) * ({mult}) as c from {table})\n"
            f"select rec_id, r as resources, c as ceiling_cmuc,\n  {cols}\nfrom base")


def assess_eligibility(recipients: pd.DataFrame, rule: Rule, *, engine: str = "duckdb") -> pd.DataFrame:
    """Eligibility of each recipient for each right (see :func:`eligibility_sql`), in input order.

    Raises
    ------
    InputError
        A needed column is missing, or ``rec_id`` is not unique (counts, never values).
    """
    from .._checks import check_columns
    from .sql import run_sql

    need = ["rec_id", "commune", "household_size", *RESOURCE_COLUMNS, "electricity_contract", "gas_contract"]
    check_columns(recipients, need, role="column", source="recipients file")
    dup = recipients["rec_id"].duplicated()
    if dup.any():
        raise InputError(message("record ids are not unique", where="recipients file, column 'rec_id'",
                                 found=f"{int(dup.sum())} duplicated rows", hint="deduplicate the file"))
    data = recipients[need].assign(commune=recipients["commune"].astype("str"))
    out = run_sql(eligibility_sql(rule, "recipients"), {"recipients": data}, engine=engine)
    return out.set_index("rec_id").reindex(recipients["rec_id"]).reset_index()
