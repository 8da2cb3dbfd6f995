"""Languages of the report and of the publication tables: French and English.

Every user-visible string of the report lives in a ``TEXT = {"en": {...},
"fr": {...}}`` dictionary next to the code that shows it (this module for the
strings shared by several sections, :mod:`nonrecours.report.html`,
:mod:`nonrecours.report.plots`, :mod:`nonrecours.report.publication`, and the
section modules of other features). Both languages hold the same keys, which
a test checks, together with the absence of one language's strings from the
other's report.

The names of the codes inside the tables (a column ``is_qpv``, its levels 0/1, a right ``cmuc``, a
statistic ``f``, a model term ``benefitASPA``) are in :mod:`nonrecours.report.labels`, with the study's
own labels over its defaults.

Numbers are not formatted here: :mod:`nonrecours.report.format` is the one
formatter of numbers, percents, percentage points, intervals and p-values in
both languages (``65,3 %`` and ``12 345`` in French, ``65.3 %`` and
``12,345`` in English).

A new report section plugs in with a module exposing
``render(..., lang: str) -> str`` and its own ``TEXT``; it formats numbers
with the functions of :mod:`nonrecours.report.format` (never its own), and
checks its ``TEXT`` with :func:`check_text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..options import ReportLanguage, choices

__all__ = ["LANGS", "Lang", "check_lang", "check_text", "TEXT", "label", "COLUMN_LABELS"]

#: A report language (a :class:`~nonrecours.options.ReportLanguage` value, "fr" or "en").
Lang = ReportLanguage
#: The report languages; French first, the default of new study files.
LANGS: tuple[str, ...] = choices(ReportLanguage)


def check_lang(lang: Any, where: str = "lang") -> str:
    """Check a report language (``"fr"`` or ``"en"``) and return it."""
    from ..errors import OptionError, message

    if lang not in LANGS:
        raise OptionError(message("unknown report language", where=where, expected="fr or en", found=repr(lang)))
    return lang


def check_text(text: Mapping[str, Mapping[str, Any]]) -> None:
    """Check that a ``TEXT`` dictionary has both languages with the same keys (raises ``AssertionError``)."""
    keys = {lang: set(text[lang]) for lang in LANGS}
    assert keys["fr"] == keys["en"], keys["fr"] ^ keys["en"]


#: Strings shared by the report and the publication tables.
TEXT: dict[str, dict[str, str]] = {
    "en": {
        "takeup": "take-up rate",
        "nontakeup": "non-take-up rate",
        "unreliable": "unreliable",
        "suppressed": "suppressed",
        "ok": "ok",
        "unreliable_mark": "† unreliable estimate",
        "suppressed_mark": "‡ suppressed (statistical confidentiality)",
        "qpv": "QPV",
        "rest": "rest",
        "all": "all",
        "direct": "direct",
        "eblup": "small-area",
    },
    "fr": {
        "takeup": "taux de recours",
        "nontakeup": "taux de non-recours",
        "unreliable": "fragile",
        "suppressed": "secret statistique",
        "ok": "publiable",
        "unreliable_mark": "† estimation fragile",
        "suppressed_mark": "‡ non diffusé (secret statistique)",
        "qpv": "QPV",
        "rest": "hors QPV",
        "all": "ensemble",
        "direct": "directe",
        "eblup": "petits domaines",
    },
}

#: Headers of the result tables' columns, per language (unknown columns keep their name).
COLUMN_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "right": "right",
        "n": "eligible respondents",
        "estimate": "take-up rate",
        "se": "standard error",
        "ci_low": "CI low",
        "ci_high": "CI high",
        "df": "degrees of freedom",
        "deff": "design effect",
        "cv": "CV",
        "flag": "quality",
        "territory": "territory",
        "benefit": "benefit",
        "is_qpv": "QPV",
        "stratum": "stratum",
        "N_h": "population",
        "n_h": "sample size",
        "take_all": "take-all",
        "method": "method",
        "S_h": "standard deviation",
        "cost_h": "unit cost",
        "halfwidth": "CI half-width",
        "n_sample": "sampled",
        "n_respondents": "respondents",
        "response_rate": "response rate",
        "gap": "gap",
        "p_value": "p-value",
        "domain_a": "domain A",
        "domain_b": "domain B",
        "estimator": "estimator",
        "subset": "territories",
        "bias": "bias",
        "rmse": "RMSE",
        "mae": "MAE",
        "relative_rmse": "relative RMSE",
        "coverage": "coverage",
        "mean_ci_width": "mean CI width",
        "direct": "direct estimate",
        "se_direct": "direct standard error",
        "eblup": "small-area estimate",
        "mse": "MSE",
        "gamma": "gamma",
        "synthetic": "synthetic estimate",
        "truth": "true rate",
        "statistic": "statistic",
        "level": "level",
        "departement": "département",
        "n_eligible": "eligible recipients",
        "n_takers": "takers",
        "n_non_takers": "non-takers",
        "rate": "take-up rate",
        "takers_adjusted": "takers corrected for linkage",
        "rate_adjusted": "take-up rate corrected for linkage",
        "moved": "correction",
        "status": "publication",
        "n_left": "recipients",
        "threshold": "match threshold",
        "links_number": "links by number",
        "links_probabilistic": "probabilistic links",
        "share_number": "share linked by number",
        "expected_false_links": "expected false links",
        "expected_missed_links": "expected missed links",
        "est_precision": "model precision",
        "est_recall": "model recall",
        "true_links": "true links",
        "true_precision": "true precision",
        "true_recall": "true recall",
        "sample_estimate": "survey estimate",
        "sample_ci_low": "survey CI low",
        "sample_ci_high": "survey CI high",
        "sample_n": "eligible respondents",
        "admin_n_eligible": "eligible recipients (administrative)",
        "admin_rate": "administrative rate",
        "admin_rate_adjusted": "administrative rate corrected for linkage",
        "admin_ci_low": "linkage CI low",
        "admin_ci_high": "linkage CI high",
        "difference": "survey minus administrative",
        "cells": "published cells",
        "mae_observed": "MAE before correction",
        "mae_adjusted": "MAE after correction",
        "mean_error_observed": "mean error before correction",
        "mean_error_adjusted": "mean error after correction",
        "ci_method": "CI method",
        "group": "group",
        "estimate_a": "rate A",
        "estimate_b": "rate B",
        "t": "t statistic",
        "p_adjusted": "adjusted p-value",
        "row": "row variable",
        "col": "column variable",
        "value": "value",
        "ndf": "numerator degrees of freedom",
        "ddf": "denominator degrees of freedom",
        "term": "term",
        "odds_ratio": "odds ratio",
        "or_low": "odds ratio CI low",
        "or_high": "odds ratio CI high",
        "F": "F statistic",
        "in_sample": "in the sample",
        "ci_low_logit": "logit CI low",
        "ci_high_logit": "logit CI high",
        "fitted": "fitted",
        "reason": "reason",
        "variable": "variable",
        "levels": "levels",
    },
    "fr": {
        "right": "droit",
        "n": "répondants éligibles",
        "estimate": "taux de recours",
        "se": "écart-type",
        "ci_low": "IC borne basse",
        "ci_high": "IC borne haute",
        "df": "degrés de liberté",
        "deff": "effet de plan",
        "cv": "CV",
        "flag": "qualité",
        "territory": "territoire",
        "benefit": "prestation",
        "is_qpv": "QPV",
        "stratum": "strate",
        "N_h": "population",
        "n_h": "taille d'échantillon",
        "take_all": "strate exhaustive",
        "method": "méthode",
        "S_h": "dispersion",
        "cost_h": "coût unitaire",
        "halfwidth": "demi-largeur de l'IC",
        "n_sample": "échantillonnés",
        "n_respondents": "répondants",
        "response_rate": "taux de réponse",
        "gap": "écart",
        "p_value": "p-valeur",
        "domain_a": "domaine A",
        "domain_b": "domaine B",
        "estimator": "estimateur",
        "subset": "territoires",
        "bias": "biais",
        "rmse": "REQM",
        "mae": "EAM",
        "relative_rmse": "REQM relative",
        "coverage": "taux de couverture",
        "mean_ci_width": "largeur moyenne de l'IC",
        "direct": "estimation directe",
        "se_direct": "écart-type direct",
        "eblup": "estimation petits domaines",
        "mse": "EQM",
        "gamma": "gamma",
        "synthetic": "estimation synthétique",
        "truth": "taux vrai",
        "statistic": "statistique",
        "level": "niveau",
        "departement": "département",
        "n_eligible": "allocataires éligibles",
        "n_takers": "recourants",
        "n_non_takers": "non-recourants",
        "rate": "taux de recours",
        "takers_adjusted": "recourants corrigés de l'appariement",
        "rate_adjusted": "taux de recours corrigé de l'appariement",
        "moved": "correction",
        "status": "diffusion",
        "n_left": "allocataires",
        "threshold": "seuil d'appariement",
        "links_number": "liens par numéro",
        "links_probabilistic": "liens probabilistes",
        "share_number": "part liée par numéro",
        "expected_false_links": "faux liens attendus",
        "expected_missed_links": "liens manqués attendus",
        "est_precision": "précision du modèle",
        "est_recall": "rappel du modèle",
        "true_links": "vrais liens",
        "true_precision": "précision vraie",
        "true_recall": "rappel vrai",
        "sample_estimate": "estimation de l'enquête",
        "sample_ci_low": "IC de l'enquête, borne basse",
        "sample_ci_high": "IC de l'enquête, borne haute",
        "sample_n": "répondants éligibles",
        "admin_n_eligible": "allocataires éligibles (administratif)",
        "admin_rate": "taux administratif",
        "admin_rate_adjusted": "taux administratif corrigé de l'appariement",
        "admin_ci_low": "IC d'appariement, borne basse",
        "admin_ci_high": "IC d'appariement, borne haute",
        "difference": "enquête moins administratif",
        "cells": "cellules diffusées",
        "mae_observed": "EAM avant correction",
        "mae_adjusted": "EAM après correction",
        "mean_error_observed": "erreur moyenne avant correction",
        "mean_error_adjusted": "erreur moyenne après correction",
        "ci_method": "méthode de l'IC",
        "group": "groupe",
        "estimate_a": "taux A",
        "estimate_b": "taux B",
        "t": "statistique t",
        "p_adjusted": "p-valeur ajustée",
        "row": "variable en ligne",
        "col": "variable en colonne",
        "value": "valeur",
        "ndf": "degrés de liberté du numérateur",
        "ddf": "degrés de liberté du dénominateur",
        "term": "terme",
        "odds_ratio": "rapport de cotes",
        "or_low": "rapport de cotes, IC borne basse",
        "or_high": "rapport de cotes, IC borne haute",
        "F": "statistique F",
        "in_sample": "dans l'échantillon",
        "ci_low_logit": "IC logit, borne basse",
        "ci_high_logit": "IC logit, borne haute",
        "fitted": "ajusté",
        "reason": "raison",
        "variable": "variable",
        "levels": "modalités",
    },
}


def label(column: str, lang: str) -> str:
    """The header of a result column in ``lang`` (the column name itself when unknown)."""
    return COLUMN_LABELS[lang].get(str(column), str(column))
