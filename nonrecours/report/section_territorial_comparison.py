"""Report section: territory estimators compared (direct, Fay–Herriot, adjusted REML, unit-level EBP; with an
administrative phase and the frame's record ids, the administrative rates, raw and corrected by the survey, and the
combined estimate).

``render(summary, lang)`` turns the comparison with the truth of the study at
hand (``comparison_summary`` of a dry run: :attr:`~nonrecours.territorial.compare.Comparison.summary`)
and, optionally, the summary of a Monte Carlo validation
(:meth:`~nonrecours.validation.ValidationResult.summary`, with its Monte Carlo
errors) into an HTML fragment, in English or French. Display only: every number
comes from those tables, formatted by :mod:`nonrecours.report.format`.
"""

from __future__ import annotations

import pandas as pd

from ._format import esc, table
from .format import count, pct, pts
from .labels import labels as make_labels

__all__ = ["render", "TEXT"]

TEXT = {
    "en": {
        "title": "Territory estimates compared",
        "intro": "Each territory estimator against the true rates of the simulated population, separately for "
        "territories with respondents (sampled) and without (unsampled, where only a model predicts).",
        "study": "This study",
        "validation": "Repeated samples (Monte Carlo validation)",
        "estimator": "estimator",
        "subset": "territories",
        "right": "right",
        "n": "territories (n)",
        "bias": "bias",
        "rmse": "RMSE",
        "coverage": "coverage",
        "width": "mean CI width",
        "mcse": "± MC error",
        "replications": "replications",
        "sampled": "sampled",
        "unsampled": "unsampled",
        "all": "all",
        "direct": "direct",
        "eblup": "Fay–Herriot",
        "fay-herriot": "Fay–Herriot (REML)",
        "fay-herriot-amrl": "Fay–Herriot (adjusted REML, Li–Lahiri)",
        "fay-herriot-amrl-yl": "Fay–Herriot (adjusted REML, Yoshimori–Lahiri)",
        "fay-herriot-ml": "Fay–Herriot (ML)",
        "fay-herriot-fh": "Fay–Herriot (moments)",
        "unit-ebp": "unit-level EBP",
        "admin": "administrative (files' eligibility)",
        "admin_corrected": "administrative, corrected by the survey",
        "combined": "combined (administrative corrected + Fay–Herriot)",
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
        "estimator": "estimateur",
        "subset": "territoires",
        "right": "droit",
        "n": "territoires (n)",
        "bias": "biais",
        "rmse": "REQM",
        "coverage": "couverture",
        "width": "largeur moyenne de l’IC",
        "mcse": "± erreur MC",
        "replications": "réplications",
        "sampled": "échantillonnés",
        "unsampled": "non échantillonnés",
        "all": "tous",
        "direct": "direct",
        "eblup": "Fay–Herriot",
        "fay-herriot": "Fay–Herriot (REML)",
        "fay-herriot-amrl": "Fay–Herriot (REML ajusté, Li–Lahiri)",
        "fay-herriot-amrl-yl": "Fay–Herriot (REML ajusté, Yoshimori–Lahiri)",
        "fay-herriot-ml": "Fay–Herriot (MV)",
        "fay-herriot-fh": "Fay–Herriot (moments)",
        "unit-ebp": "meilleur prédicteur empirique (modèle individuel)",
        "admin": "administratif (éligibilité des fichiers)",
        "admin_corrected": "administratif corrigé par l’enquête",
        "combined": "combiné (administratif corrigé + Fay–Herriot)",
        "note": "Couverture des intervalles de niveau nominal {level} ; un estimateur bien calibré en est à "
        "moins de 2 erreurs Monte-Carlo.",
        "empty": "Pas de comparaison avec des taux vrais dans cette étude.",
    },
}


def _label(text: dict, key: str) -> str:
    return text.get(str(key), str(key))


def _estimator(text: dict, name: str) -> tuple[str, str]:
    """(estimator label, subset label) of a validation estimator name such as ``unit-ebp/sampled``."""
    base, _, subset = str(name).partition("/")
    return _label(text, base), _label(text, subset or "all")


def render(
    summary: pd.DataFrame | None, lang: str = "fr", *, validation: pd.DataFrame | None = None, level: float = 0.95
) -> str:
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
    parts = [f'<section class="territorial-comparison"><h2>{esc(t["title"])}</h2><p>{esc(t["intro"])}</p>']
    if summary is None or len(summary) == 0:
        parts.append(f"<p>{esc(t['empty'])}</p>")
    else:
        rows = []
        for r in summary.itertuples(index=False):
            right = _label(t, r.right) if str(r.right) in t else make_labels(lang).right(r.right)  # CMU-C; "all"
            rows.append(
                [
                    right,
                    _label(t, r.estimator),
                    _label(t, r.subset),
                    count(r.n, lang),
                    pts(r.bias, lang),
                    pts(r.rmse, lang, signed=False),
                    pct(r.coverage, lang),
                    pts(r.mean_ci_width, lang, signed=False),
                ]
            )
        parts.append(
            table(
                rows,
                [t["right"], t["estimator"], t["subset"], t["n"], t["bias"], t["rmse"], t["coverage"], t["width"]],
                numeric_from=3,
                caption=t["study"],
            )
        )
    if validation is not None and len(validation):
        v = validation[validation["level"] == "territory"] if "level" in validation else validation
        rows = []
        for r in v.itertuples(index=False):
            est, sub = _estimator(t, r.estimator)
            rows.append(
                [
                    est,
                    sub,
                    str(r.ci),
                    count(r.estimands, lang),
                    pct(r.coverage, lang),
                    pct(2 * r.coverage_mcse, lang),
                    pts(r.rmse, lang, signed=False),
                    pts(r.mean_width, lang, signed=False),
                ]
            )
        parts.append(
            table(
                rows,
                [t["estimator"], t["subset"], "CI", t["n"], t["coverage"], t["mcse"], t["rmse"], t["width"]],
                numeric_from=3,
                caption=t["validation"],
            )
        )
    parts.append(f'<p class="note">{esc(t["note"].format(level=pct(level, lang, 0)))}</p></section>')
    return "".join(parts)
