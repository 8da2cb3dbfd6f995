"""Plain words for the codes of the result tables: variables, their levels, rights, statistics, model terms.

The one place where a column name (``is_qpv``), a level code (``couple_children``, ``0``), a right
(``cmuc``), a test statistic (``f``) or a model term (``benefitASPA``) becomes words, in French and in
English, for the report, its sections and the publication workbook. Defaults cover the columns of the
recipients file (``benefit``, ``is_qpv``, ``household``, ``housing``, ``age_band``, the rights ``cmuc``,
``acs``, ``tpn``, ``tss``); a study names its own columns and levels, or overrides the defaults, in
``[report.labels]`` (a column's label) and ``[report.levels.<column>]`` (its levels' labels)::

    [report.labels]
    household = "type de ménage"
    tss = "tarif social"

    [report.levels.household]
    couple_children = "couple avec enfant(s)"

An unknown code is shown as it is. Numbers are never formatted here (:mod:`nonrecours.report.format`).

Examples
--------
>>> lab = labels("fr")
>>> lab.term("benefitASPA", ["benefit", "is_qpv"]), lab.level("is_qpv", 0.0), lab.right("cmuc")
('bénéficiaire de l’ASPA', 'hors QPV', 'CMU-C')
>>> labels("en").term("is_qpv:householdcouple_children", ["is_qpv", "household"])
'living in a QPV × couple with children'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .i18n import check_lang

__all__ = ["LEVELS", "RIGHTS", "STATISTICS", "VARIABLES", "Labels", "from_provenance", "labels"]

#: Names of the rights (the same in both languages).
RIGHTS: dict[str, str] = {"cmuc": "CMU-C", "acs": "ACS", "tpn": "TPN", "tss": "TSS"}

#: "to take up X" in French needs X's article.
_RIGHTS_TO_FR: dict[str, str] = {"cmuc": "à la CMU-C", "acs": "à l’ACS", "tpn": "au TPN", "tss": "au TSS"}

#: Labels of the known columns, per language.
VARIABLES: dict[str, dict[str, str]] = {
    "fr": {
        "benefit": "prestation",
        "is_qpv": "quartier",
        "household": "composition du foyer",
        "housing": "logement",
        "age_band": "tranche d’âge",
        "territory": "territoire",
        "departement": "département",
        "urban_area": "unité urbaine",
        # the territories file's covariates
        "poverty_rate": "taux de pauvreté",
        "unemployment_rate": "taux de chômage",
        "social_housing_share": "part de logements sociaux",
        "median_income": "revenu médian",
        "gp_density": "densité de médecins généralistes",
        "service_density": "densité de services",
        "rsa_share": "part des allocataires du RSA",
        "population": "population",
        "n_recipients": "nombre d’allocataires",
    },
    "en": {
        "benefit": "benefit",
        "is_qpv": "neighbourhood",
        "household": "household",
        "housing": "housing",
        "age_band": "age band",
        "territory": "territory",
        "departement": "département",
        "urban_area": "urban area",
        "poverty_rate": "poverty rate",
        "unemployment_rate": "unemployment rate",
        "social_housing_share": "share of social housing",
        "median_income": "median income",
        "gp_density": "density of general practitioners",
        "service_density": "density of services",
        "rsa_share": "share of RSA recipients",
        "population": "population",
        "n_recipients": "recipients",
    },
}

#: "by X" phrases of the known columns (a test of take-up against a group).
_BY: dict[str, dict[str, str]] = {
    "fr": {
        "benefit": "selon la prestation",
        "is_qpv": "entre QPV et reste de l’unité urbaine",
        "household": "selon la composition du foyer",
        "housing": "selon le logement",
        "age_band": "selon l’âge",
        "territory": "selon le territoire",
    },
    "en": {
        "benefit": "by benefit",
        "is_qpv": "between QPV and the rest of the urban area",
        "household": "by household",
        "housing": "by housing",
        "age_band": "by age band",
        "territory": "by territory",
    },
}

#: Labels of the levels of the known columns, per language.
LEVELS: dict[str, dict[str, dict[str, str]]] = {
    "fr": {
        "is_qpv": {"0": "hors QPV", "1": "QPV"},
        "household": {
            "single": "personne seule",
            "couple": "couple sans enfant",
            "couple_children": "couple avec enfants",
            "lone_parent": "famille monoparentale",
        },
        "housing": {
            "owner": "propriétaire",
            "private_rental": "locataire du parc privé",
            "social": "locataire du parc social",
        },
        "age_band": {
            "18-24": "18–24 ans",
            "25-34": "25–34 ans",
            "35-49": "35–49 ans",
            "50-64": "50–64 ans",
            "65-74": "65–74 ans",
            "75+": "75 ans ou plus",
        },
    },
    "en": {
        "is_qpv": {"0": "rest of the urban area", "1": "QPV"},
        "household": {
            "single": "single person",
            "couple": "couple without children",
            "couple_children": "couple with children",
            "lone_parent": "lone parent",
        },
        "housing": {"owner": "owner", "private_rental": "private tenant", "social": "social housing tenant"},
        "age_band": {
            "18-24": "aged 18–24",
            "25-34": "aged 25–34",
            "35-49": "aged 35–49",
            "50-64": "aged 50–64",
            "65-74": "aged 65–74",
            "75+": "aged 75 or over",
        },
    },
}

#: A level as a model term (compared with the reference level), where the level's label alone would not say it.
_TERMS: dict[str, dict[str, dict[str, str]]] = {
    "fr": {
        "benefit": {
            "RSA": "bénéficiaire du RSA",
            "AAH": "bénéficiaire de l’AAH",
            "ASPA": "bénéficiaire de l’ASPA",
            "ASS": "bénéficiaire de l’ASS",
        },
        "is_qpv": {"1": "habitant d’un QPV"},
    },
    "en": {
        "benefit": {"RSA": "RSA recipient", "AAH": "AAH recipient", "ASPA": "ASPA recipient", "ASS": "ASS recipient"},
        "is_qpv": {"1": "living in a QPV"},
    },
}

#: Test statistics of the association tests (R's ``svychisq``), per language.
STATISTICS: dict[str, dict[str, str]] = {
    "fr": {"f": "F de Rao–Scott", "chisq": "khi-deux corrigé de Rao–Scott", "wald": "Wald", "adjwald": "Wald ajusté"},
    "en": {"f": "Rao–Scott F", "chisq": "Rao–Scott corrected chi-square", "wald": "Wald", "adjwald": "adjusted Wald"},
}


def _code(value: Any) -> str:
    """A level code as text: ``1.0`` and ``1`` give ``'1'``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _code(value.item())
    return str(value)


@dataclass(frozen=True)
class Labels:
    """Labels of one report language: the defaults, overridden by the study's.

    Build it with :func:`labels` (or :func:`from_provenance` in the report).

    Attributes
    ----------
    lang : {"fr", "en"}
    variables : mapping of str to str
        The study's column labels (``[report.labels]``); rights are columns too.
    levels : mapping of str to mapping of str to str
        The study's level labels (``[report.levels.<column>]``), by column and level code.
    """

    lang: str
    variables: Mapping[str, str] = field(default_factory=dict)
    levels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def variable(self, name: Any) -> str:
        """A column's label (``is_qpv`` -> ``quartier``); an unknown column keeps its name."""
        name = str(name)
        return self.variables.get(name) or VARIABLES[self.lang].get(name) or name

    def level(self, variable: Any, code: Any) -> str:
        """A level's label (``is_qpv``, ``0`` -> ``hors QPV``); an unknown level keeps its code."""
        variable, code = str(variable), _code(code)
        return self.levels.get(variable, {}).get(code) or LEVELS[self.lang].get(variable, {}).get(code) or code

    def known_levels(self, variable: Any) -> set[str]:
        """The level codes the labels know for ``variable`` (defaults and study)."""
        variable = str(variable)
        return set(LEVELS[self.lang].get(variable, {})) | set(self.levels.get(variable, {}))

    def right(self, code: Any) -> str:
        """A right's name (``cmuc`` -> ``CMU-C``); an unknown right in capitals.

        ``cmuc:non_takers`` (a part of a right in the analysis tables) gives the right's name.
        """
        code = str(code).partition(":")[0]
        return self.variables.get(code) or RIGHTS.get(code) or code.upper()

    def right_to(self, code: Any) -> str:
        """The right as the object of "take up": ``à la CMU-C`` in French, ``CMU-C`` in English."""
        code = str(code).partition(":")[0]
        if self.lang == "en":
            return self.right(code)
        if code in self.variables or code not in _RIGHTS_TO_FR:
            return "à " + self.right(code)
        return _RIGHTS_TO_FR[code]

    def by(self, variable: Any) -> str:
        """ "by X" for a test of take-up against a group: ``selon la prestation``, ``by benefit``."""
        variable = str(variable)
        if variable not in self.variables and variable in _BY[self.lang]:
            return _BY[self.lang][variable]
        return ("selon « " + self.variable(variable) + " »") if self.lang == "fr" else "by " + self.variable(variable)

    def statistic(self, code: Any) -> str:
        """A test statistic's name (``f`` -> ``F de Rao–Scott``); an unknown one keeps its code."""
        return STATISTICS[self.lang].get(str(code).lower(), str(code))

    def term(self, term: Any, variables: Iterable[str] = ()) -> str:
        """A model term in words (R's names: ``benefitASPA``, ``is_qpv``, ``is_qpv:benefitASPA``).

        Parameters
        ----------
        term : str
            The coefficient's name: the variable followed by its level (treatment contrasts), a
            numeric variable alone, parts joined by ``:`` for an interaction (shown with ``×``).
        variables : iterable of str
            The model's variables (the longest that starts a part is that part's variable); the
            known columns and the study's labelled ones are tried too.
        """
        names = sorted(
            set(variables)
            | set(VARIABLES[self.lang])
            | set(LEVELS[self.lang])
            | set(self.levels)
            | set(self.variables),
            key=len,
            reverse=True,
        )
        parts = []
        for part in str(term).split(":"):
            var = next((v for v in names if part.startswith(v)), None)
            if var is None:
                parts.append(part)
            elif part == var:  # a numeric covariate: its coefficient is that of the value 1 against 0
                parts.append(self._term_level(var, "1") if "1" in self.known_levels(var) else self.variable(var))
            else:
                parts.append(self._term_level(var, part[len(var) :]))
        return " × ".join(parts)

    def _term_level(self, variable: str, code: str) -> str:
        """One level of a variable as a model term."""
        own = self.levels.get(variable, {}).get(code)
        if own is None and code in _TERMS[self.lang].get(variable, {}):
            return _TERMS[self.lang][variable][code]
        if own is None and code in LEVELS[self.lang].get(variable, {}):
            return LEVELS[self.lang][variable][code]  # a level of a known column says what it is
        sep = " : " if self.lang == "fr" else ": "
        return self.variable(variable) + sep + (own or code)

    def reference(self, variable: str, levels: Iterable[Any]) -> str | None:
        """The reference level of a factor of a model (its first level in sorted order, as R's
        treatment contrasts), among ``levels`` and the known ones; None when unknown."""
        seen = {_code(v) for v in levels} | self.known_levels(variable)
        return min(seen) if seen else None


def labels(lang: str, study: Mapping[str, Any] | None = None) -> Labels:
    """The labels of ``lang``, with the study's ``{"labels": {...}, "levels": {...}}`` over the defaults.

    Parameters
    ----------
    lang : {"fr", "en"}
    study : mapping, optional
        ``labels`` (column -> label) and ``levels`` (column -> level code -> label), as the
        study file's ``[report.labels]`` and ``[report.levels]``.
    """
    check_lang(lang)
    study = study or {}
    levels = {str(v): {_code(k): str(x) for k, x in lv.items()} for v, lv in (study.get("levels") or {}).items()}
    return Labels(lang=lang, variables={str(k): str(v) for k, v in (study.get("labels") or {}).items()}, levels=levels)


def from_provenance(provenance: Mapping[str, Any] | None, lang: str) -> Labels:
    """The labels of a run: the study's (``provenance["labels"]``, when it gave some) over the defaults."""
    return labels(lang, (provenance or {}).get("labels"))
