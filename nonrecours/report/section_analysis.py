"""Report section "Who does not take up" (issue 14), in English and French.

Rendered from the tables of the study's ``analysis`` stage (``analysis_nontakers``,
``analysis_tests``, ``analysis_model``, ``analysis_predicted``) as read back from disk;
display only, no statistic is computed here. ``render(tables, lang)`` returns an HTML
fragment; the report assembles it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ._format import esc, img, is_missing, table

__all__ = ["TEXT", "render", "forest_plot", "fmt_count", "fmt_pct"]

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Who does not take up",
        "intro": "Estimated numbers of eligible recipients who do not take up each right, by group; tests of "
                 "whether take-up differs between groups; and a survey logistic regression of take-up.",
        "nontakers": "Non-takers by right and group (weighted estimates, 95 % confidence intervals)",
        "right": "Right", "group": "Group", "level": "Level", "estimate": "Non-takers", "ci": "95 % CI",
        "flag": "Quality",
        "reading_count": "About {n} eligible recipients in group {group} = {level} do not take up {right} "
                         "(95 % CI {low} to {high}).",
        "tests": "Does take-up differ between groups? (Rao–Scott corrected chi-square, R's svychisq)",
        "statistic": "Statistic", "value": "Value", "df": "Degrees of freedom", "p": "p-value",
        "reading_sig": "Take-up of {right} differs between the levels of {group} (p = {p}): the difference is "
                       "unlikely to be chance alone.",
        "reading_ns": "No clear difference in take-up of {right} between the levels of {group} (p = {p}): "
                      "the differences seen may be sampling noise.",
        "model": "Odds ratios of taking up (survey logistic regression, 95 % confidence intervals)",
        "forest_alt": "Forest plot of the odds ratios of taking up each right",
        "term": "Term", "or": "Odds ratio",
        "reading_or": "For {right}, {term} multiplies the odds of taking up by {or_} (95 % CI {low} to {high}), "
                      "other covariates held equal.",
        "predicted": "Predicted take-up by group, other covariates as observed (marginal standardisation)",
        "rate": "Predicted take-up",
        "none": "No analysis results in this study.",
        "unreliable": "unreliable", "suppressed": "suppressed", "ok": "",
    },
    "fr": {
        "title": "Qui ne recourt pas",
        "intro": "Nombre estimé d’allocataires éligibles qui ne recourent pas à chaque droit, par groupe ; tests "
                 "de différence de recours entre groupes ; régression logistique du recours sur l’enquête.",
        "nontakers": "Non-recourants par droit et par groupe (estimations pondérées, intervalles de confiance "
                     "à 95 %)",
        "right": "Droit", "group": "Groupe", "level": "Modalité", "estimate": "Non-recourants",
        "ci": "IC à 95 %", "flag": "Qualité",
        "reading_count": "Environ {n} allocataires éligibles du groupe {group} = {level} ne recourent pas "
                         "à {right} (IC à 95 % : {low} à {high}).",
        "tests": "Le recours diffère-t-il entre groupes ? (khi-deux corrigé de Rao–Scott, svychisq de R)",
        "statistic": "Statistique", "value": "Valeur", "df": "Degrés de liberté", "p": "p-valeur",
        "reading_sig": "Le recours à {right} diffère selon {group} (p = {p}) : la différence ne s’explique "
                       "vraisemblablement pas par le seul hasard de l’échantillon.",
        "reading_ns": "Pas de différence nette de recours à {right} selon {group} (p = {p}) : les écarts "
                      "observés peuvent venir du hasard de l’échantillon.",
        "model": "Rapports de cotes du recours (régression logistique sur l’enquête, intervalles de confiance "
                 "à 95 %)",
        "forest_alt": "Graphique en forêt des rapports de cotes du recours à chaque droit",
        "term": "Terme", "or": "Rapport de cotes",
        "reading_or": "Pour {right}, {term} multiplie la cote de recours par {or_} (IC à 95 % : {low} à "
                      "{high}), à autres caractéristiques égales.",
        "predicted": "Taux de recours prédit par groupe, autres caractéristiques telles qu’observées "
                     "(standardisation marginale)",
        "rate": "Taux de recours prédit",
        "none": "Pas de résultat d’analyse dans cette étude.",
        "unreliable": "peu fiable", "suppressed": "masqué", "ok": "",
    },
}

_NNBSP = "\u202f"


def _check_lang(lang: str) -> str:
    if lang not in TEXT:
        from ..errors import OptionError, message
        raise OptionError(message("unknown report language", where="parameter lang", expected="fr or en",
                                  found=repr(lang)))
    return lang


def fmt_count(x: Any, lang: str) -> str:
    """A count rounded to the unit: ``12 345`` (fr: narrow no-break space), ``12,345`` (en)."""
    if is_missing(x):
        return "–"
    s = f"{round(float(x)):,}"
    return s.replace(",", _NNBSP) if lang == "fr" else s


def fmt_num(x: Any, lang: str, digits: int = 2) -> str:
    """A number with ``digits`` decimals; French decimal comma."""
    if is_missing(x):
        return "–"
    v = float(x)
    if math.isinf(v):
        return "∞"
    s = f"{v:,.{digits}f}"
    return s.replace(",", _NNBSP).replace(".", ",") if lang == "fr" else s


def fmt_pct(x: Any, lang: str, digits: int = 1) -> str:
    """A proportion as a percentage: ``61.7 %`` (en), ``61,7 %`` (fr, narrow no-break space)."""
    if is_missing(x):
        return "–"
    s = f"{100 * float(x):.{digits}f}"
    return (s.replace(".", ",") + _NNBSP + "%") if lang == "fr" else s + " %"


def fmt_p(p: Any, lang: str) -> str:
    """A p-value: three significant digits, ``< 0.001`` below."""
    if is_missing(p):
        return "–"
    if float(p) < 0.001:
        return "< 0,001" if lang == "fr" else "< 0.001"
    s = f"{float(p):.3f}"
    return s.replace(".", ",") if lang == "fr" else s


def forest_plot(model: pd.DataFrame, lang: str = "fr") -> bytes:
    """Odds ratios with their CIs, one panel row per term and right (log scale); PNG bytes."""
    from .plots import _figure, png_bytes

    m = model[model["term"] != "(Intercept)"].reset_index(drop=True)
    rights = list(dict.fromkeys(m["right"]))
    terms = list(dict.fromkeys(m["term"]))
    fig = _figure(7.0, 0.35 * max(len(terms), 1) * max(len(rights), 1) / 1.5 + 1.5)
    ax = fig.add_subplot(111)
    step = 0.8 / max(len(rights), 1)
    for k, r in enumerate(rights):  # one series per right (a handful)
        sub = m[m["right"] == r]
        y = [terms.index(t) + k * step for t in sub["term"]]
        ax.errorbar(sub["odds_ratio"], y, xerr=[sub["odds_ratio"] - sub["or_low"], sub["or_high"] - sub["odds_ratio"]],
                    fmt="o", ms=3, capsize=2, label=str(r))
    ax.axvline(1.0, color="0.5", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks([i + step * (len(rights) - 1) / 2 for i in range(len(terms))])
    ax.set_yticklabels(terms)
    ax.invert_yaxis()
    ax.set_xlabel(TEXT[_check_lang(lang)]["or"])
    if len(rights) > 1:
        ax.legend(fontsize=7, loc="best")
    return png_bytes(fig)


def render(tables: Mapping[str, pd.DataFrame], lang: str = "fr") -> str:
    """The "Who does not take up" section as an HTML fragment, in ``lang`` ("fr" or "en")."""
    T = TEXT[_check_lang(lang)]
    parts = [f'<section id="analysis"><h2>{esc(T["title"])}</h2><p>{esc(T["intro"])}</p>']
    nt = tables.get("analysis_nontakers")
    if nt is None or nt.empty:
        return parts[0] + f"<p>{esc(T['none'])}</p></section>"
    non = nt[nt["right"].astype(str).str.endswith(":non_takers")].copy()
    non["right_name"] = non["right"].astype(str).str.rsplit(":", n=1).str[0]
    rows = [[r.right_name, r.group, r.level, fmt_count(r.estimate, lang),
             f"{fmt_count(r.ci_low, lang)} – {fmt_count(r.ci_high, lang)}", T.get(str(r.flag), str(r.flag))]
            for r in non.itertuples(index=False)]
    parts.append(table(rows, [T["right"], T["group"], T["level"], T["estimate"], T["ci"], T["flag"]],
                       numeric_from=3, caption=T["nontakers"]))
    readings = []
    ok = non[non["flag"].astype(str) != "suppressed"].dropna(subset=["estimate"])
    for (right, group), sub in ok.groupby(["right_name", "group"], sort=False):  # largest group per right
        top = sub.loc[sub["estimate"].idxmax()]
        readings.append(T["reading_count"].format(n=fmt_count(top["estimate"], lang), group=group, level=top["level"],
                                                  right=right, low=fmt_count(top["ci_low"], lang),
                                                  high=fmt_count(top["ci_high"], lang)))
    tests = tables.get("analysis_tests")
    if tests is not None and not tests.empty:
        trows = [[r.right, r.group, r.statistic, fmt_num(r.value, lang),
                  f"{fmt_num(r.ndf, lang)} ; {fmt_num(r.ddf, lang)}" if lang == "fr" else
                  f"{fmt_num(r.ndf, lang)}, {fmt_num(r.ddf, lang)}", fmt_p(r.p_value, lang)]
                 for r in tests.itertuples(index=False)]
        parts.append(table(trows, [T["right"], T["group"], T["statistic"], T["value"], T["df"], T["p"]],
                           numeric_from=3, caption=T["tests"]))
        for r in tests.itertuples(index=False):
            key = "reading_sig" if not is_missing(r.p_value) and float(r.p_value) < 0.05 else "reading_ns"
            readings.append(T[key].format(right=r.right, group=r.group, p=fmt_p(r.p_value, lang)))
    model = tables.get("analysis_model")
    if model is not None and not model.empty:
        parts.append(f"<h3>{esc(T['model'])}</h3>")
        parts.append(f"<figure>{img(forest_plot(model, lang), T['forest_alt'])}</figure>")
        mrows = [[r.right, r.term, fmt_num(r.odds_ratio, lang), f"{fmt_num(r.or_low, lang)} – {fmt_num(r.or_high, lang)}",
                  fmt_p(r.p_value, lang)] for r in model.itertuples(index=False) if r.term != "(Intercept)"]
        parts.append(table(mrows, [T["right"], T["term"], T["or"], T["ci"], T["p"]], numeric_from=2))
        sig = model[(model["term"] != "(Intercept)") & (model["p_value"] < 0.05)]
        for r in sig.itertuples(index=False):
            readings.append(T["reading_or"].format(right=r.right, term=r.term, or_=fmt_num(r.odds_ratio, lang),
                                                   low=fmt_num(r.or_low, lang), high=fmt_num(r.or_high, lang)))
    pred = tables.get("analysis_predicted")
    if pred is not None and not pred.empty:
        prows = [[r.right, r.group, r.level, fmt_pct(r.estimate, lang),
                  f"{fmt_pct(r.ci_low, lang)} – {fmt_pct(r.ci_high, lang)}"] for r in pred.itertuples(index=False)]
        parts.append(table(prows, [T["right"], T["group"], T["level"], T["rate"], T["ci"]],
                           numeric_from=3, caption=T["predicted"]))
    if readings:
        parts.append("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in readings) + "</ul>")
    parts.append("</section>")
    return "".join(parts)
