"""Report section: territory estimators compared (direct, Fay–Herriot, adjusted REML, unit-level EBP).

``render(summary, lang)`` turns the comparison with the truth of the study at
hand (``comparison_summary`` of a dry run: :attr:`~nonrecours.territorial.compare.Comparison.summary`)
and, optionally, the summary of a Monte Carlo validation
(:meth:`~nonrecours.validation.ValidationResult.summary`, with its Monte Carlo
errors) into an HTML fragment, in English or French. Display only: every number
comes from those tables.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._format import esc, is_missing, table

__all__ = ["render", "TEXT"]

TEXT = {
    "en": {
        "title": "Territory estimates compared",
        "intro": "Each territory estimator against the true rates of the simulated population, separately for "
                 "territories with respondents (sampled) and without (unsampled, where only a model predicts).",
        "study": "This study",
        "validation": "Repeated samples (Monte Carlo validation)",
        "estimator": "estimator", "subset": "territories", "right": "right", "n": "territories (n)",
        "bias": "bias (pts)", "rmse": "RMSE (pts)", "coverage": "coverage", "width": "mean CI width (pts)",
        "mcse": "± MC error", "replications": "replications",
        "sampled": "sampled", "unsampled": "unsampled", "all": "all",
        "direct": "direct", "eblup": "Fay–Herriot", "fay-herriot": "Fay–Herriot (REML)",
        "fay-herriot-amrl": "Fay–Herriot (adjusted REML, Li–Lahiri)",
        "fay-herriot-amrl-yl": "Fay–Herriot (adjusted REML, Yoshimori–Lahiri)",
        "fay-herriot-ml": "Fay–Herriot (ML)", "fay-herriot-fh": "Fay–Herriot (moments)",
        "unit-ebp": "unit-level EBP",
        "note": "Coverage of nominal {level} intervals; a well-calibrated estimator is within ±2 Monte Carlo "
                "errors of it.",
        "empty": "No comparison with true rates in this study.",
    },
    "fr": {
        "title": "Comparaison des estimations territoriales",
        "intro": "Chaque estimateur territorial confronté aux taux vrais de la population simulée, séparément "
                 "pour les territoires avec répondants (échantillonnés) et sans (non échantillonnés, où seul un "
                 "modèle prédit).",
        "study": "Cette étude",
        "validation": "Échantillons répétés (validation Monte-Carlo)",
        "estimator": "estimateur", "subset": "territoires", "right": "droit", "n": "territoires (n)",
        "bias": "biais (pts)", "rmse": "REQM (pts)", "coverage": "couverture", "width": "largeur moyenne de l’IC (pts)",
        "mcse": "± erreur MC", "replications": "réplications",
        "sampled": "échantillonnés", "unsampled": "non échantillonnés", "all": "tous",
        "direct": "direct", "eblup": "Fay–Herriot", "fay-herriot": "Fay–Herriot (REML)",
        "fay-herriot-amrl": "Fay–Herriot (REML ajusté, Li–Lahiri)",
        "fay-herriot-amrl-yl": "Fay–Herriot (REML ajusté, Yoshimori–Lahiri)",
        "fay-herriot-ml": "Fay–Herriot (MV)", "fay-herriot-fh": "Fay–Herriot (moments)",
        "unit-ebp": "meilleur prédicteur empirique (modèle individuel)",
        "note": "Couverture des intervalles de niveau nominal {level} ; un estimateur bien calibré en est à "
                "moins de 2 erreurs Monte-Carlo.",
        "empty": "Pas de comparaison avec des taux vrais dans cette étude.",
    },
}


def _number(value: Any, digits: int, lang: str) -> str:
    """A number with ``digits`` decimals: French with a decimal comma and U+202F between thousands."""
    if is_missing(value):
        return "–"
    text = f"{float(value):,.{digits}f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def _percent(value: Any, digits: int, lang: str) -> str:
    if is_missing(value):
        return "–"
    return _number(100 * float(value), digits, lang) + ("\u202f%" if lang == "fr" else " %")


def _label(text: dict, key: str) -> str:
    return text.get(str(key), str(key))


def _estimator(text: dict, name: str) -> tuple[str, str]:
    """(estimator label, subset label) of a validation estimator name such as ``unit-ebp/sampled``."""
    base, _, subset = str(name).partition("/")
    return _label(text, base), _label(text, subset or "all")


def render(summary: pd.DataFrame | None, lang: str = "fr", *, validation: pd.DataFrame | None = None,
           level: float = 0.95) -> str:
    """HTML fragment comparing the territory estimators.

    Parameters
    ----------
    summary : DataFrame or None
        ``comparison_summary`` of the study: ``right``, ``estimator``, ``subset``, ``n``,
        ``bias``, ``rmse``, ``coverage``, ``mean_ci_width``.
    lang : {"fr", "en"}
    validation : DataFrame, optional
        Summary of a validation run (``estimator`` with ``/sampled`` or ``/unsampled``,
        ``ci``, ``estimands``, ``coverage``, ``coverage_mcse``, ``rmse``, ``mean_width``).
    level : float
        Nominal level of the intervals.

    Returns
    -------
    str
    """
    from ..options import ReportLanguage, check_option

    t = TEXT[check_option("lang", lang, ReportLanguage)]
    parts = [f"<section class=\"territorial-comparison\"><h2>{esc(t['title'])}</h2><p>{esc(t['intro'])}</p>"]
    if summary is None or len(summary) == 0:
        parts.append(f"<p>{esc(t['empty'])}</p>")
    else:
        rows = []
        for r in summary.itertuples(index=False):
            rows.append([_label(t, r.right), _label(t, r.estimator), _label(t, r.subset), _number(r.n, 0, lang),
                         _number(100 * r.bias, 1, lang), _number(100 * r.rmse, 1, lang),
                         _percent(r.coverage, 1, lang), _number(100 * r.mean_ci_width, 1, lang)])
        parts.append(table(rows, [t["right"], t["estimator"], t["subset"], t["n"], t["bias"], t["rmse"],
                                  t["coverage"], t["width"]], numeric_from=3, caption=t["study"]))
    if validation is not None and len(validation):
        v = validation[validation["level"] == "territory"] if "level" in validation else validation
        rows = []
        for r in v.itertuples(index=False):
            est, sub = _estimator(t, r.estimator)
            rows.append([est, sub, str(r.ci), _number(r.estimands, 0, lang), _percent(r.coverage, 1, lang),
                         _percent(2 * r.coverage_mcse, 1, lang), _number(100 * r.rmse, 1, lang),
                         _number(100 * r.mean_width, 1, lang)])
        parts.append(table(rows, [t["estimator"], t["subset"], "CI", t["n"], t["coverage"], t["mcse"], t["rmse"],
                                  t["width"]], numeric_from=3, caption=t["validation"]))
    parts.append(f"<p class=\"note\">{esc(t['note'].format(level=_percent(level, 0, lang)))}</p></section>")
    return "".join(parts)
