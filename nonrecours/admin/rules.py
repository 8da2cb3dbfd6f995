"""The rulebook: resource rules of CMU-C, ACS and the energy social tariffs, one entry per year.

A rulebook is a TOML file; the package ships :file:`rulebook/france.toml`
(2013–2017, every figure with its legal source) and a user may pass their own
(``nonrecours eligibility --rulebook FILE``). Its format:

``name``
    A title.
``[scale]``
    ``sizes`` (ceiling multipliers for households of 1, 2, … persons),
    ``per_extra_person`` (added for each person beyond), ``source``;
    optional ``rounding`` = ``"euro"`` (the household's ceiling rounded to the
    nearest euro, 0.50 up) or ``"none"`` (default) with ``rounding_source``.
``[territory]`` (optional)
    Commune-code prefixes: ``overseas_prefixes`` (overseas ceilings; default
    ``["97"]``), ``cmuc_not_applicable_prefixes`` (CMU-C and ACS do not apply:
    not eligible), ``not_covered_prefixes`` (rules not encoded: every right
    undetermined), each list with its ``*_source``.
``[forfait_logement]`` (optional)
    The housing lump sum added to the resources of households receiving a
    housing aid or housed free of charge (owners without aid included):
    ``rsa_household_scale`` (RSA amount of 1, 2, 3+ persons as multiples of
    one person's), ``housing_benefit_rates`` and ``housed_free_rates`` (share
    of that amount, for 1, 2, 3+ persons), each with a ``*_source``. An entry
    then needs ``rsa_base_amount`` (RSA monthly amount for one person) and
    ``rsa_source``.
``[[entry]]``, one per year
    ``year``, ``cmuc_ceiling_metropolitan``, ``cmuc_ceiling_overseas``
    (euros a year for one person), ``acs_ratio`` (ACS ceiling / CMU-C
    ceiling), ``tariff_ceiling`` (``"cmuc"`` or ``"acs"``: the resource
    ceiling of the TPN and TSS), optional ``tariff_fiscal_ceiling`` and
    ``tariff_fiscal_ceiling_overseas`` (revenu fiscal de référence per part
    under which the tariffs are also due; absent = no fiscal criterion), and
    the sources ``cmuc_source``, ``overseas_source``, ``acs_source``,
    ``tariff_source``, ``contract_source``; optional ``rsa_presumption``
    (:data:`RSA_PRESUMPTIONS`: which RSA recipients are deemed to meet the
    CMU-C conditions, CSS L. 861-2 al. 2; default ``"none"``) with
    ``rsa_presumption_source``.

Errors name the key path (``entry[2].acs_ratio``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ConfigError, OptionError, message

__all__ = ["Rule", "Rulebook", "load_rulebook", "HOUSING_TENURES", "ROUNDINGS", "RSA_COMPONENTS", "RSA_PRESUMPTIONS"]

#: Values of the recipients' ``housing`` column: tenants (``social``, ``private_rental``), ``owner``,
#: ``housed_free`` (housed free of charge).
HOUSING_TENURES = ("social", "private_rental", "owner", "housed_free")
#: Rounding of the household's ceiling.
ROUNDINGS = ("none", "euro")
#: Values of the recipients' ``rsa_component`` column (RSA recipients, 2009-2015): the RSA socle only, socle and
#: activité, activité only (the "RSA activité seul", replaced by the prime d'activité on 1 January 2016).
RSA_COMPONENTS = ("socle", "socle_activite", "activite")
#: Which RSA recipients are deemed eligible for the CMU-C (CSS L. 861-2 al. 2): nobody (``"none"``), recipients of
#: the RSA socle (``"socle"``: ``rsa_component`` socle or socle_activite; needs the column) or every RSA recipient
#: (``"all"``).
RSA_PRESUMPTIONS = ("none", "socle", "all")
_REQUIRED = (
    "year",
    "cmuc_ceiling_metropolitan",
    "cmuc_ceiling_overseas",
    "cmuc_source",
    "overseas_source",
    "acs_ratio",
    "acs_source",
    "tariff_ceiling",
    "tariff_source",
    "contract_source",
)


@dataclass(frozen=True)
class Rule:
    """The rules of one year (see the module docstring for the meaning of each field).

    Attributes
    ----------
    year : int
    cmuc_ceiling_metropolitan, cmuc_ceiling_overseas : float
        CMU-C resource ceiling for one person, euros per year.
    acs_ratio : float
        ACS ceiling as a multiple of the CMU-C ceiling (1.35 from 2012).
    tariff_ceiling : {"cmuc", "acs"}
        Which resource ceiling the energy social tariffs use.
    scale : tuple of float
        Multipliers for households of 1, 2, ... persons; ``per_extra_person`` beyond.
    per_extra_person : float
    sources : dict of str to str
        Legal source of each figure.
    rounding : {"none", "euro"}
        Rounding of the household's CMU-C ceiling.
    tariff_fiscal_ceiling, tariff_fiscal_ceiling_overseas : float or None
        Revenu fiscal de référence per part at or under which the tariffs are due.
    rsa_base_amount : float or None
        RSA monthly amount for one person (the forfait logement's base); None: no forfait.
    rsa_household_scale, housing_benefit_rates, housed_free_rates : tuple of float
        Forfait logement for 1, 2, 3+ persons: ``12 * rsa_base_amount * scale * rate``.
    overseas_prefixes, cmuc_not_applicable_prefixes, not_covered_prefixes : tuple of str
        Commune-code prefixes.
    rsa_presumption : {"none", "socle", "all"}
        RSA recipients deemed to meet the CMU-C conditions (:data:`RSA_PRESUMPTIONS`).
    """

    year: int
    cmuc_ceiling_metropolitan: float
    cmuc_ceiling_overseas: float
    acs_ratio: float
    tariff_ceiling: str
    scale: tuple
    per_extra_person: float
    sources: dict
    rounding: str = "none"
    tariff_fiscal_ceiling: float | None = None
    tariff_fiscal_ceiling_overseas: float | None = None
    rsa_base_amount: float | None = None
    rsa_household_scale: tuple = ()
    housing_benefit_rates: tuple = ()
    housed_free_rates: tuple = ()
    overseas_prefixes: tuple = ("97",)
    cmuc_not_applicable_prefixes: tuple = ()
    not_covered_prefixes: tuple = ()
    rsa_presumption: str = "none"

    def multiplier(self, size: np.ndarray) -> np.ndarray:
        """Household-size multiplier of the ceiling (``scale[size-1]``, then ``+ per_extra_person`` each)."""
        size = np.asarray(size, dtype=float)
        k = len(self.scale)
        table = np.asarray(self.scale)
        idx = np.clip(size, 1, k).astype(int) - 1
        return table[idx] + self.per_extra_person * np.maximum(size - k, 0)

    def cmuc_ceiling(self, size: np.ndarray, overseas: np.ndarray) -> np.ndarray:
        """CMU-C ceiling of each household, euros per year (rounded to the euro if the rulebook says so)."""
        base = np.where(np.asarray(overseas, dtype=bool), self.cmuc_ceiling_overseas, self.cmuc_ceiling_metropolitan)
        c = base * self.multiplier(size)
        return np.floor(c + 0.5) if self.rounding == "euro" else c

    def forfait_table(self, kind: str) -> tuple:
        """Annual forfait logement of households of 1, 2, 3+ persons (``"housing_benefit"`` or ``"housed_free"``).

        ``12 * round(rsa_base_amount * rsa_household_scale[k] * rate[k], 2)``:
        the forfait is a monthly amount (CSS R. 861-5: "évalués mensuellement"),
        rounded to the cent (half up) as the published amounts are.
        """
        if self.rsa_base_amount is None:
            return (0.0, 0.0, 0.0)
        rates = self.housing_benefit_rates if kind == "housing_benefit" else self.housed_free_rates
        cent = Decimal("0.01")
        return tuple(
            12.0
            * float(
                (Decimal(repr(self.rsa_base_amount)) * Decimal(repr(s)) * Decimal(repr(r))).quantize(
                    cent, ROUND_HALF_UP
                )
            )
            for s, r in zip(self.rsa_household_scale, rates)
        )

    def forfait_logement(self, size: np.ndarray, housing: np.ndarray, housing_benefit: np.ndarray) -> np.ndarray:
        """Annual forfait logement of each household (0 for tenants without housing aid).

        ``housing`` holds :data:`HOUSING_TENURES` values, ``housing_benefit`` 0/1.
        With a housing aid the aid's rates apply; without, owners and households
        housed free get the ``housed_free_rates``.
        """
        size = np.asarray(size, dtype=float)
        idx = np.clip(size, 1, 3).astype(int) - 1
        aid = np.asarray(housing_benefit) == 1
        free = np.isin(np.asarray(housing, dtype=object), ("owner", "housed_free"))
        return np.where(
            aid,
            np.asarray(self.forfait_table("housing_benefit"))[idx],
            np.where(free, np.asarray(self.forfait_table("housed_free"))[idx], 0.0),
        )


@dataclass(frozen=True)
class Rulebook:
    """Rules by year, with the file they came from."""

    name: str
    entries: dict
    path: str

    def entry(self, year: int) -> Rule:
        """The rules of ``year``; an error names the years available."""
        if year not in self.entries:
            raise OptionError(
                message(
                    "no rules for this year in the rulebook",
                    where="parameter year",
                    expected="one of " + ", ".join(map(str, sorted(self.entries))),
                    found=str(year),
                    hint="choose a covered year or give your own rulebook (parameter rulebook)",
                )
            )
        return self.entries[year]


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive_list(table: dict, key: str, n: int | None, where: str) -> tuple:
    v = table.get(key)
    if not isinstance(v, list) or not v or not all(_is_num(x) and x > 0 for x in v) or (n and len(v) != n):
        raise ConfigError(
            message(
                "must be a list of positive numbers",
                where=f"{where}.{key}",
                expected=f"{n} numbers" if n else "numbers",
                found=repr(v),
            )
        )
    return tuple(float(x) for x in v)


def _prefixes(table: dict, key: str, where: str, default: tuple) -> tuple:
    v = table.get(key, list(default))
    if not isinstance(v, list) or not all(isinstance(x, str) and x.isalnum() for x in v):
        raise ConfigError(
            message(
                "must be a list of commune-code prefixes",
                where=f"{where}.{key}",
                expected='strings of digits, e.g. ["971"]',
                found=repr(v),
            )
        )
    if key in table and v and f"{key.removesuffix('_prefixes')}_source" not in table:
        raise ConfigError(
            message(
                "a list of prefixes needs its source",
                where=where,
                expected=f"{key.removesuffix('_prefixes')}_source = text",
            )
        )
    return tuple(v)


def load_rulebook(path: str | os.PathLike | None = None) -> Rulebook:
    """Read a rulebook (TOML); the package's French rulebook by default.

    Every entry needs the keys of ``_REQUIRED``; every figure a ``*_source``.
    Errors name the key path (``entry[2].acs_ratio``).
    """
    if path is None:
        text = resources.files("nonrecours.admin").joinpath("rulebook/france.toml").read_text(encoding="utf-8")
        where = "package rulebook"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(
                message("rulebook not found", where=f"parameter rulebook {str(p)!r}", hint="check the path")
            )
        text = p.read_text(encoding="utf-8")
        where = f"rulebook {str(p)!r}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(message("invalid TOML", where=where, found=str(exc))) from None
    scale = data.get("scale", {})
    sizes = scale.get("sizes")
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(_is_num(v) and v > 0 for v in sizes)
        or not _is_num(scale.get("per_extra_person"))
        or "source" not in scale
    ):
        raise ConfigError(
            message(
                "the household-size scale is incomplete",
                where=f"{where}, [scale]",
                expected="sizes = [positive numbers], per_extra_person = number, source = text",
            )
        )
    rounding = scale.get("rounding", "none")
    if rounding not in ROUNDINGS or (rounding != "none" and "rounding_source" not in scale):
        raise ConfigError(
            message(
                "invalid rounding of the ceiling",
                where=f"{where}, [scale].rounding",
                expected=" or ".join(map(repr, ROUNDINGS)) + " (with rounding_source)",
                found=repr(rounding),
            )
        )
    terr = data.get("territory", {})
    tw = f"{where}, [territory]"
    territory = dict(
        overseas_prefixes=_prefixes(terr, "overseas_prefixes", tw, ("97",)),
        cmuc_not_applicable_prefixes=_prefixes(terr, "cmuc_not_applicable_prefixes", tw, ()),
        not_covered_prefixes=_prefixes(terr, "not_covered_prefixes", tw, ()),
    )
    fl = data.get("forfait_logement")
    forfait: dict = {}
    if fl is not None:
        fw = f"{where}, [forfait_logement]"
        forfait = dict(
            rsa_household_scale=_positive_list(fl, "rsa_household_scale", 3, fw),
            housing_benefit_rates=_positive_list(fl, "housing_benefit_rates", 3, fw),
            housed_free_rates=_positive_list(fl, "housed_free_rates", 3, fw),
        )
        missing = [k for k in ("rsa_scale_source", "housing_benefit_source", "housed_free_source") if k not in fl]
        if missing:
            raise ConfigError(
                message("forfait logement without its sources", where=fw, found="missing " + ", ".join(missing))
            )
    common_sources = (
        {"scale": scale["source"]}
        | ({"rounding": scale["rounding_source"]} if rounding != "none" else {})
        | {f"territory_{k}": v for k, v in terr.items() if k.endswith("_source")}
        | {f"forfait_{k}": v for k, v in (fl or {}).items() if k.endswith("_source")}
    )
    entries = {}
    for i, e in enumerate(data.get("entry", [])):
        ew = f"{where}, entry[{i}]"
        need = list(_REQUIRED) + (["rsa_base_amount", "rsa_source"] if fl is not None else [])
        missing = [k for k in need if k not in e]
        if missing:
            raise ConfigError(
                message(
                    "rulebook entry incomplete",
                    where=ew,
                    expected="keys " + ", ".join(need),
                    found="missing " + ", ".join(missing),
                )
            )
        for k in (
            "cmuc_ceiling_metropolitan",
            "cmuc_ceiling_overseas",
            "acs_ratio",
            *(k for k in ("rsa_base_amount", "tariff_fiscal_ceiling", "tariff_fiscal_ceiling_overseas") if k in e),
        ):
            if not _is_num(e[k]) or e[k] <= 0:
                raise ConfigError(message("must be a positive number", where=f"{ew}.{k}", found=repr(e[k])))
        if e["tariff_ceiling"] not in ("cmuc", "acs"):
            raise ConfigError(
                message(
                    "unknown tariff ceiling",
                    where=f"{ew}.tariff_ceiling",
                    expected="'cmuc' or 'acs'",
                    found=repr(e["tariff_ceiling"]),
                )
            )
        if ("tariff_fiscal_ceiling" in e) != ("tariff_fiscal_ceiling_overseas" in e):
            raise ConfigError(
                message(
                    "the fiscal criterion needs both ceilings",
                    where=ew,
                    expected="tariff_fiscal_ceiling and tariff_fiscal_ceiling_overseas",
                )
            )
        presumption = e.get("rsa_presumption", "none")
        if presumption not in RSA_PRESUMPTIONS or (presumption != "none" and "rsa_presumption_source" not in e):
            raise ConfigError(
                message(
                    "invalid RSA presumption",
                    where=f"{ew}.rsa_presumption",
                    expected=" or ".join(map(repr, RSA_PRESUMPTIONS)) + " (with rsa_presumption_source)",
                    found=repr(presumption),
                )
            )
        entries[int(e["year"])] = Rule(
            year=int(e["year"]),
            cmuc_ceiling_metropolitan=float(e["cmuc_ceiling_metropolitan"]),
            cmuc_ceiling_overseas=float(e["cmuc_ceiling_overseas"]),
            acs_ratio=float(e["acs_ratio"]),
            tariff_ceiling=e["tariff_ceiling"],
            scale=tuple(float(v) for v in sizes),
            per_extra_person=float(scale["per_extra_person"]),
            sources={k: e[k] for k in e if k.endswith("_source")} | common_sources,
            rounding=rounding,
            tariff_fiscal_ceiling=float(e["tariff_fiscal_ceiling"]) if "tariff_fiscal_ceiling" in e else None,
            tariff_fiscal_ceiling_overseas=(
                float(e["tariff_fiscal_ceiling_overseas"]) if "tariff_fiscal_ceiling_overseas" in e else None
            ),
            rsa_base_amount=float(e["rsa_base_amount"]) if fl is not None else None,
            rsa_presumption=presumption,
            **forfait,
            **territory,
        )
    if not entries:
        raise ConfigError(message("the rulebook has no entry", where=where, expected="[[entry]] tables, one per year"))
    return Rulebook(name=str(data.get("name", "")), entries=entries, path=str(path or "package"))
