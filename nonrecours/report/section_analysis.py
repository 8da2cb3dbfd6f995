"""Report section "Who does not take up" (issue 14), in English and French.

Rendered from the tables of the study's ``analysis`` stage (``analysis_nontakers``,
``analysis_tests``, ``analysis_model``, ``analysis_predicted``) as read back from disk;
display only, no statistic is computed here; numbers are formatted by
:mod:`nonrecours.report.format`. ``render(tables, lang)`` returns an HTML fragment; the
report assembles it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ._format import esc, img, table
from .format import ci, count, decimal, is_missing, p_phrase, pct, pvalue
from .labels import Labels
from .labels import labels as make_labels

__all__ = ["TEXT", "render", "forest_plot", "model_notes"]

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Who does not take up",
        "intro": "Estimated numbers of eligible recipients who do not take up each right, by group; tests of "
        "whether take-up differs between groups; and a survey logistic regression of take-up.",
        "nontakers": "Non-takers by right and group (weighted estimates, 95 % confidence intervals)",
        "right": "Right",
        "group": "Group",
        "level": "Level",
        "estimate": "Non-takers",
        "ci": "95 % CI",
        "flag": "Quality",
        "reading_count": "About {n} eligible recipients ({group}: {level}) do not take up {right} "
        "(95 % CI {low} to {high}).",
        "tests": "Does take-up differ between groups? (Rao–Scott corrected chi-square, R's svychisq)",
        "statistic": "Statistic",
        "value": "Value",
        "df": "Degrees of freedom",
        "p": "p-value",
        "reading_sig": "Take-up of {right} differs {by} ({p}): the difference is unlikely to be chance alone.",
        "reading_ns": "No clear difference in take-up of {right} {by} ({p}): the differences seen may be "
        "sampling noise.",
        "model": "Odds ratios of taking up (survey logistic regression, 95 % confidence intervals)",
        "forest_alt": "Forest plot of the odds ratios of taking up each right",
        "term": "Term",
        "or": "Odds ratio",
        "reading_or": "Take-up of {right}: the odds of taking up are multiplied by {or_} (95 % CI {low} to "
        "{high}) for {term}, against the reference level, other covariates held equal.",
        "predicted": "Predicted take-up by group, other covariates as observed (marginal standardisation)",
        "predicted_logit": "; 95 % confidence intervals on the logit scale, inside 0–100 % (the CSV also has "
        "R's Wald interval)",
        "rate": "Predicted take-up",
        "reference": "Each level is compared with the reference level of its variable: {refs}.",
        "reference_item": "{level} ({variable})",
        "not_fitted": "The model of take-up of {right} could not be fitted: {why}.",
        "why_empty_level": "no eligible respondent has the level {levels} of “{variable}”, so its coefficient "
        "cannot be estimated (drop the covariate or merge its levels)",
        "why_empty_cell": "no eligible respondent is in the cell {levels} of the interaction “{variable}”, so its "
        "coefficient cannot be estimated (remove the interaction)",
        "why_constant": "the covariate “{variable}” takes a single value among the eligible respondents",
        "why_separation": "in a group everyone or no one takes up (separation), so an odds ratio would be infinite",
        "why_not_converged": "the fit did not converge (a group where almost everyone or no one takes up?)",
        "why_collinear": "its covariates are collinear (one is determined by the others)",
        "quote": "“{}”",
        "none": "No analysis results in this study.",
        "unreliable": "unreliable",
        "suppressed": "suppressed",
        "ok": "",
    },
    "fr": {
        "title": "Qui ne recourt pas",
        "intro": "Nombre estimé d’allocataires éligibles qui ne recourent pas à chaque droit, par groupe ; tests "
        "de différence de recours entre groupes ; régression logistique du recours sur l’enquête.",
        "nontakers": "Non-recourants par droit et par groupe (estimations pondérées, intervalles de confiance à 95 %)",
        "right": "Droit",
        "group": "Groupe",
        "level": "Modalité",
        "estimate": "Non-recourants",
        "ci": "IC à 95 %",
        "flag": "Qualité",
        "reading_count": "Environ {n} allocataires éligibles ({group} : {level}) ne recourent pas "
        "{right} (IC à 95 % : {low} à {high}).",
        "tests": "Le recours diffère-t-il entre groupes ? (khi-deux corrigé de Rao–Scott, svychisq de R)",
        "statistic": "Statistique",
        "value": "Valeur",
        "df": "Degrés de liberté",
        "p": "p-valeur",
        "reading_sig": "Le recours {right} diffère {by} ({p}) : la différence ne s’explique "
        "vraisemblablement pas par le seul hasard de l’échantillon.",
        "reading_ns": "Pas de différence nette de recours {right} {by} ({p}) : les écarts "
        "observés peuvent venir du hasard de l’échantillon.",
        "model": "Rapports de cotes du recours (régression logistique sur l’enquête, intervalles de confiance à 95 %)",
        "forest_alt": "Graphique en forêt des rapports de cotes du recours à chaque droit",
        "term": "Terme",
        "or": "Rapport de cotes",
        "reading_or": "Recours {right} : la cote de recours est multipliée par {or_} (IC à 95 % : {low} à "
        "{high}) pour {term}, par rapport à la modalité de référence, à autres caractéristiques "
        "égales.",
        "predicted": "Taux de recours prédit par groupe, autres caractéristiques telles qu’observées "
        "(standardisation marginale)",
        "predicted_logit": " ; intervalles de confiance à 95 % sur l’échelle logit, compris entre 0 et 100 % (le "
        "fichier CSV donne aussi l’intervalle de Wald de R)",
        "rate": "Taux de recours prédit",
        "reference": "Chaque modalité est comparée à la modalité de référence de sa variable : {refs}.",
        "reference_item": "{level} ({variable})",
        "not_fitted": "Le modèle du recours {right} n’a pas pu être ajusté : {why}.",
        "why_empty_level": "aucun répondant éligible n’a la modalité {levels} de « {variable} », dont le "
        "coefficient ne peut donc pas être estimé (retirer cette variable du modèle ou regrouper "
        "ses modalités)",
        "why_empty_cell": "aucun répondant éligible n’est dans la case {levels} de l’interaction « {variable} », "
        "dont le coefficient ne peut donc pas être estimé (retirer l’interaction)",
        "why_constant": "la variable « {variable} » ne prend qu’une valeur parmi les répondants éligibles",
        "why_separation": "dans un groupe, tous ou aucun recourent (séparation) : un rapport de cotes serait infini",
        "why_not_converged": "l’ajustement n’a pas convergé (un groupe où presque tous ou presque aucun recourent ?)",
        "why_collinear": "ses variables explicatives sont colinéaires (l’une est déterminée par les autres)",
        "quote": "« {} »",
        "none": "Pas de résultat d’analyse dans cette étude.",
        "unreliable": "peu fiable",
        "suppressed": "masqué",
        "ok": "",
    },
}


def _check_lang(lang: str) -> str:
    if lang not in TEXT:
        from ..errors import OptionError, message

        raise OptionError(
            message("unknown report language", where="parameter lang", expected="fr or en", found=repr(lang))
        )
    return lang


def _model_variables(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """The model's variables, from its term tests (``is_qpv:benefit`` gives both)."""
    tests = tables.get("analysis_model_tests")
    if tests is None or "term" not in tests.columns:
        return []
    return list(dict.fromkeys(v for t in tests["term"].astype(str) for v in t.split(":")))


def forest_plot(
    model: pd.DataFrame, lang: str = "fr", *, labels: Labels | None = None, variables: Sequence[str] = ()
) -> bytes:
    """Odds ratios with their CIs, one panel row per term and right (log scale); PNG bytes.

    Terms and rights are named by ``labels`` (:mod:`nonrecours.report.labels`; the defaults of ``lang``).
    """
    from .plots import _figure, png_bytes

    lab = labels or make_labels(_check_lang(lang))
    m = model[model["term"] != "(Intercept)"].reset_index(drop=True)
    rights = list(dict.fromkeys(m["right"]))
    terms = list(dict.fromkeys(m["term"]))
    fig = _figure(7.0, 0.35 * max(len(terms), 1) * max(len(rights), 1) / 1.5 + 1.5)
    ax = fig.add_subplot(111)
    step = 0.8 / max(len(rights), 1)
    for k, r in enumerate(rights):  # one series per right (a handful)
        sub = m[m["right"] == r]
        y = [terms.index(t) + k * step for t in sub["term"]]
        ax.errorbar(
            sub["odds_ratio"],
            y,
            xerr=[sub["odds_ratio"] - sub["or_low"], sub["or_high"] - sub["odds_ratio"]],
            fmt="o",
            ms=3,
            capsize=2,
            label=lab.right(r),
        )
    ax.axvline(1.0, color="0.5", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks([i + step * (len(rights) - 1) / 2 for i in range(len(terms))])
    ax.set_yticklabels([lab.term(t, variables) for t in terms])
    ax.invert_yaxis()
    ax.set_xlabel(TEXT[_check_lang(lang)]["or"])
    if len(rights) > 1:
        ax.legend(fontsize=7, loc="best")
    return png_bytes(fig)


def model_notes(tables: Mapping[str, pd.DataFrame], lang: str = "fr", *, labels: Labels | None = None) -> list[str]:
    """One sentence per right whose model could not be fitted, saying why (``analysis_models``)."""
    T = TEXT[_check_lang(lang)]
    lab = labels or make_labels(lang)
    status = tables.get("analysis_models")
    if status is None or status.empty:
        return []
    out = []
    failed = status[~status["fitted"].astype(str).str.lower().isin(("true", "1"))]
    for r in failed.itertuples(index=False):  # a handful of rights
        var = "" if is_missing(r.variable) else str(r.variable)
        codes = [] if is_missing(r.levels) else str(r.levels).split("|")
        key = f"why_{r.reason}" if f"why_{r.reason}" in T else "why_collinear"
        if r.reason == "empty_cell":  # an interaction: its coefficients' names (is_qpv:benefitASPA)
            levels = ", ".join(T["quote"].format(lab.term(c, var.split(":"))) for c in codes)
            name = " × ".join(lab.variable(v) for v in var.split(":"))
        else:
            levels = ", ".join(T["quote"].format(lab.level(var, c)) for c in codes)
            name = lab.variable(var)
        why = T[key].format(variable=name, levels=levels)
        out.append(T["not_fitted"].format(right=lab.right_to(r.right), why=why))
    return out


def _references(
    tables: Mapping[str, pd.DataFrame], model: pd.DataFrame, variables: Sequence[str], lab: Labels
) -> list[tuple[str, str]]:
    """(variable, reference level) of each factor of the model whose levels are known (R's first level)."""
    out = []
    terms = [p for t in model["term"].astype(str) for p in t.split(":")]
    for v in variables:
        shown = {p[len(v) :] for p in terms if p.startswith(v) and p != v}
        if not shown:  # a numeric covariate
            continue
        seen = set(shown)
        for name in ("analysis_nontakers", "analysis_predicted"):
            t = tables.get(name)
            if t is not None and {"group", "level"} <= set(t.columns):
                seen |= set(t.loc[t["group"].astype(str) == v, "level"].astype(str))
        ref = lab.reference(v, seen)
        if ref is not None and ref not in shown:
            out.append((v, ref))
    return out


def render(tables: Mapping[str, pd.DataFrame], lang: str = "fr", *, labels: Labels | None = None) -> str:
    """The "Who does not take up" section as an HTML fragment, in ``lang`` ("fr" or "en").

    Variables, levels, rights, statistics and model terms are named by ``labels``
    (:func:`nonrecours.report.labels.labels`: the defaults of ``lang`` unless the study gives its own).
    """
    T = TEXT[_check_lang(lang)]
    lab = labels or make_labels(lang)
    parts = [f'<section id="analysis"><h2>{esc(T["title"])}</h2><p>{esc(T["intro"])}</p>']
    nt = tables.get("analysis_nontakers")
    if nt is None or nt.empty:
        return parts[0] + f"<p>{esc(T['none'])}</p></section>"
    non = nt[nt["right"].astype(str).str.endswith(":non_takers")].copy()
    non["right_name"] = non["right"].astype(str).str.rsplit(":", n=1).str[0]
    rows = [
        [
            lab.right(r.right_name),
            lab.variable(r.group),
            lab.level(r.group, r.level),
            count(r.estimate, lang),
            ci(r.ci_low, r.ci_high, lang, kind="count"),
            T.get(str(r.flag), str(r.flag)),
        ]
        for r in non.itertuples(index=False)
    ]
    parts.append(
        table(
            rows,
            [T["right"], T["group"], T["level"], T["estimate"], T["ci"], T["flag"]],
            numeric_from=3,
            caption=T["nontakers"],
        )
    )
    readings = []
    ok = non[non["flag"].astype(str) != "suppressed"].dropna(subset=["estimate"])
    for (right, group), sub in ok.groupby(["right_name", "group"], sort=False):  # largest group per right
        top = sub.loc[sub["estimate"].idxmax()]
        readings.append(
            T["reading_count"].format(
                n=count(top["estimate"], lang),
                group=lab.variable(group),
                level=lab.level(group, top["level"]),
                right=lab.right_to(right),
                low=count(top["ci_low"], lang),
                high=count(top["ci_high"], lang),
            )
        )
    tests = tables.get("analysis_tests")
    if tests is not None and not tests.empty:
        trows = [
            [
                lab.right(r.right),
                lab.variable(r.group),
                lab.statistic(r.statistic),
                decimal(r.value, lang),
                f"{decimal(r.ndf, lang)} ; {decimal(r.ddf, lang)}"
                if lang == "fr"
                else f"{decimal(r.ndf, lang)}, {decimal(r.ddf, lang)}",
                pvalue(r.p_value, lang),
            ]
            for r in tests.itertuples(index=False)
        ]
        parts.append(
            table(
                trows,
                [T["right"], T["group"], T["statistic"], T["value"], T["df"], T["p"]],
                numeric_from=3,
                caption=T["tests"],
            )
        )
        for r in tests.itertuples(index=False):
            key = "reading_sig" if not is_missing(r.p_value) and float(r.p_value) < 0.05 else "reading_ns"
            readings.append(T[key].format(right=lab.right_to(r.right), by=lab.by(r.group), p=p_phrase(r.p_value, lang)))
    model = tables.get("analysis_model")
    notes = model_notes(tables, lang, labels=lab)
    if (model is not None and not model.empty) or notes:
        parts.append(f"<h3>{esc(T['model'])}</h3>")
        parts.extend(f'<p class="note">{esc(n)}</p>' for n in notes)
    if model is not None and not model.empty:
        variables = _model_variables(tables)
        parts.append(
            f"<figure>{img(forest_plot(model, lang, labels=lab, variables=variables), T['forest_alt'])}</figure>"
        )
        mrows = [
            [
                lab.right(r.right),
                lab.term(r.term, variables),
                decimal(r.odds_ratio, lang),
                ci(r.or_low, r.or_high, lang, 2, kind="decimal"),
                pvalue(r.p_value, lang),
            ]
            for r in model.itertuples(index=False)
            if r.term != "(Intercept)"
        ]
        refs = _references(tables, model, variables, lab)
        caption = (
            T["reference"].format(
                refs=", ".join(
                    T["reference_item"].format(level=lab.level(v, ref), variable=lab.variable(v)) for v, ref in refs
                )
            )
            if refs
            else None
        )
        parts.append(table(mrows, [T["right"], T["term"], T["or"], T["ci"], T["p"]], numeric_from=2, caption=caption))
        sig = model[(model["term"] != "(Intercept)") & (model["p_value"] < 0.05)]
        for r in sig.itertuples(index=False):
            readings.append(
                T["reading_or"].format(
                    right=lab.right_to(r.right),
                    term=T["quote"].format(lab.term(r.term, variables)),
                    or_=decimal(r.odds_ratio, lang),
                    low=decimal(r.or_low, lang),
                    high=decimal(r.or_high, lang),
                )
            )
    pred = tables.get("analysis_predicted")
    if pred is not None and not pred.empty:
        logit = {"ci_low_logit", "ci_high_logit"} <= set(pred.columns)  # runs before issue 28: R's Wald interval
        low, high = ("ci_low_logit", "ci_high_logit") if logit else ("ci_low", "ci_high")
        prows = [
            [
                lab.right(r["right"]),
                lab.variable(r["group"]),
                lab.level(r["group"], r["level"]),
                pct(r["estimate"], lang),
                ci(r[low], r[high], lang),
            ]
            for _, r in pred.iterrows()
        ]
        parts.append(
            table(
                prows,
                [T["right"], T["group"], T["level"], T["rate"], T["ci"]],
                numeric_from=3,
                caption=T["predicted"] + (T["predicted_logit"] if logit else ""),
            )
        )
    if readings:
        parts.append("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in readings) + "</ul>")
    parts.append("</section>")
    return "".join(parts)
