"""Stage ``analysis``: who does not take up — non-takers per right and group, tests, gaps, models.

Calls :mod:`nonrecours.estimation` (``estimate_takeup``, ``chisq_test``, ``gap_between``,
``survey_logistic``, ``predicted_takeup``) on the weighted design; the report section
``report/section_analysis.py`` renders what this stage returns.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ConvergenceWarning, NonrecoursError
from ...estimation import estimate_rates, estimate_takeup, gap_between
from ...estimation.association import chisq_test
from ...estimation.estimators import MAX_PAIRWISE_LEVELS
from ...estimation.intervals import proportion_ci
from ...estimation.logistic import predicted_takeup, survey_logistic
from ...publication import blank_gaps, blank_hidden, blank_model_terms, hidden_cells, protect_partitions
from ..config import StudyConfig
from ._common import State, quality_thresholds

__all__ = ["analysis_stage"]


def analysis_stage(cfg: StudyConfig, state: State) -> State:
    """Non-takers per right x group, Rao-Scott tests, pairwise gaps and a logistic model per right."""
    an = cfg.analysis
    if not an.enabled:
        return {}
    design = state["design"]
    est = cfg.estimation
    th = est.thresholds
    thresholds = quality_thresholds(est)
    rights = list(est.rights)
    groups = [g for g in an.groups if g in design.data.columns]
    counts, tests, pair_gaps, coefs, term_tests, predicted = [], [], [], [], [], []
    rates, count_tabs = {}, {}
    for g in groups:  # a few group columns; every right and level in one pass each
        rates[g], count_tabs[g] = estimate_takeup(
            design, rights, g, ci=est.ci, level=est.level, df=est.df, thresholds=thresholds
        )
    # disclosure: the groups are more partitions of the respondents behind estimates_national; a group that is a
    # domain of the estimation stage keeps its suppressions (forced), and secondary suppression protects the rest
    dom = est.domains
    shown = state.get("tables", {})
    published = {
        col: shown[name]
        for col, name in (
            (dom.qpv, "estimates_qpv"),
            (dom.benefit, "estimates_benefit"),
            (dom.territory, "estimates_territory"),
        )
        if name in shown
    }
    national = shown.get("estimates_national")
    if national is None:
        national = estimate_rates(
            design, rights, ci=est.ci, level=est.level, df=est.df, thresholds=thresholds
        ).to_frame(blank=False)
    protected = protect_partitions(
        national, {g: rates[g].to_frame(blank=False) for g in groups}, min_n=th.min_n, published=published
    )
    for g in groups:
        p = protected[g]
        c = count_tabs[g].to_frame(blank=False)  # blanked below, with the secondary suppressions
        base = c["right"].astype(str).str.rsplit(":", n=1).str[0]  # cmuc:takers -> cmuc
        counts.append(blank_hidden(c, hidden_cells(p, g), g, rights=base).rename(columns={g: "level"}).assign(group=g))
        if rates[g].domains[g].nunique() <= MAX_PAIRWISE_LEVELS:  # published: no gap from a suppressed rate
            gaps_g = blank_gaps(gap_between(rates[g], g, adjust=an.adjust).to_frame(), p, g)
            pair_gaps.append(gaps_g.rename(columns={g: "level"}).assign(group=g))
        for right in rights:  # one test per right and group (a handful)
            t = chisq_test(design, [right], [g], statistics=(an.statistic,)).to_frame()
            tests.append(t.assign(right=right, group=g))
    models_ok, status = [], []
    if an.covariates:
        covs = [c for c in an.covariates if c in design.data.columns]
        for right in rights:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", ConvergenceWarning)
                    fit = survey_logistic(design, right, covs, list(an.interactions), level=est.level)
            except (NonrecoursError, ConvergenceWarning, ArithmeticError) as exc:
                # a right whose model cannot be fitted is left out of the coefficient tables; why is published
                status.append(
                    {
                        "right": right,
                        "fitted": False,
                        **_why_not_fitted(design, right, covs, list(an.interactions), exc),
                    }
                )
                continue
            models_ok.append(right)
            status.append({"right": right, "fitted": True, "reason": "fitted", "variable": "", "levels": ""})
            # no coefficient resting on fewer than min_n respondents (a rare level, an interaction cell)
            coefs.append(
                blank_model_terms(fit.to_frame(), fit._spec["X"], fit.assign, min_n=th.min_n).assign(right=right)
            )
            term_tests.append(fit.term_tests().assign(right=right))
            for g in groups:
                if g in fit._spec["levels"]:
                    pred = predicted_takeup(fit, g)
                    # the CSV keeps R's Wald interval (svypredmeans); the report shows the logit one, inside [0, 1]
                    lo, hi = proportion_ci(pred["estimate"], pred["se"], fit.df, method="xlogit", level=est.level)
                    pred = pred.assign(ci_low_logit=lo, ci_high_logit=hi, right=right)
                    predicted.append(
                        blank_hidden(pred, hidden_cells(protected[g], g), "level", keep=("group", "level", "right"))
                    )
    tables = {}
    if counts:
        tables["analysis_nontakers"] = pd.concat(counts, ignore_index=True)
        tables["analysis_tests"] = pd.concat(tests, ignore_index=True)
        if pair_gaps:
            tables["analysis_gaps"] = pd.concat(pair_gaps, ignore_index=True)
    if coefs:
        tables["analysis_model"] = pd.concat(coefs, ignore_index=True)
        tables["analysis_model_tests"] = pd.concat(term_tests, ignore_index=True)
    if predicted:
        tables["analysis_predicted"] = pd.concat(predicted, ignore_index=True)
    if status:
        tables["analysis_models"] = pd.DataFrame(status, columns=list(MODEL_STATUS_COLUMNS))
    methods = {
        "non-takers": "weighted totals of eligible respondents not taking up each right (Horvitz-Thompson), "
        "per group, with Taylor or replicate SEs; suppressed below "
        f"{th.min_n} eligible respondents, {th.min_n} takers or {th.min_n} non-takers, with the estimation "
        "stage's suppressions and secondary "
        "suppression against the national counts (pairwise gaps and predicted take-up of a suppressed "
        "level emptied, as model coefficients resting on fewer respondents)",
        "tests": f"Rao-Scott corrected chi-square ({an.statistic}, R's svychisq) of take-up against each group",
        "pairwise gaps": f"every pair of levels of each group, p-values adjusted by {an.adjust} per right",
        "model": (
            "survey logistic regression (R's svyglm, quasibinomial) of take-up on "
            + ", ".join(an.covariates)
            + (" with " + ", ".join(an.interactions) if an.interactions else "")
            + f"; fitted for {len(models_ok)} of {len(rights)} rights (why not: analysis_models.csv)"
        )
        if an.covariates
        else "none",
        "predicted": "marginal standardisation (R's svypredmeans) with R's Wald interval; the report shows the "
        "logit interval (delta method, same t quantile), ci_low_logit and ci_high_logit",
    }
    return {"tables": tables, "methods": {"analysis": methods}}


#: Columns of ``analysis_models``: one row per right, whether its model was fitted and, if not, why.
MODEL_STATUS_COLUMNS = ("right", "fitted", "reason", "variable", "levels")


def _why_not_fitted(
    design: Any, right: str, covariates: list[str], interactions: list[str], exc: BaseException
) -> dict[str, str]:
    """Why a right's logistic model could not be fitted: ``reason``, and the term and levels at fault.

    The model's columns (treatment contrasts over the whole sample, as the model builds them) are looked
    at on the eligible respondents, in the model's order: ``empty_level``, levels of a categorical covariate
    that no eligible respondent has (e.g. RSA recipients for ACS, whose eligibility excludes them), so that
    their coefficient (or, for the reference level, the intercept) cannot be estimated (``variable``, and
    ``levels`` joined by ``|``); ``empty_cell``,
    cells of an interaction that no one is in (``variable`` the interaction, ``levels`` the coefficients'
    names); ``constant``, a numeric covariate with one value; otherwise what the fit reported:
    ``separation`` (a group where everyone or no one takes up), ``not_converged``, ``collinear``.
    Level codes only, no row values.
    """
    from ...estimation.logistic import _columns, _parse_terms

    data = design.data
    terms = _parse_terms(covariates, interactions)
    names, assign, cols, levels = _columns(data, terms)
    X = np.column_stack(cols)
    y = pd.to_numeric(data[right], errors="coerce").to_numpy(dtype=float)
    use = ~np.isnan(y) & ~np.isnan(X).any(axis=1) & (np.asarray(design.weights) != 0)
    Xu = X[use]
    empty = ~(Xu != 0).any(axis=0)  # a column of zeros: no one at that level or in that cell
    constant = np.ptp(Xu, axis=0) == 0 if Xu.size else np.ones(X.shape[1], bool)
    for k, term in enumerate(terms, start=1):  # a handful of terms, each a vectorised look at its columns
        mine = np.flatnonzero(np.asarray(assign) == k)
        if len(term.variables) == 1 and len(mine) == 1 and names[mine[0]] == term.label:  # a numeric covariate
            if constant[mine[0]]:
                return {"reason": "constant", "variable": term.label, "levels": ""}
            continue
        gone = [names[j] for j in mine if empty[j]]
        if len(term.variables) == 1 and len(mine) and not (Xu[:, mine] == 0).all(axis=1).any():
            return {"reason": "empty_level", "variable": term.label, "levels": str(levels[term.label][0])}  # reference
        if gone and len(term.variables) == 1:
            return {
                "reason": "empty_level",
                "variable": term.label,
                "levels": "|".join(n[len(term.label) :] for n in gone),
            }
        if gone:
            return {"reason": "empty_cell", "variable": term.label, "levels": "|".join(gone)}
    if isinstance(exc, ConvergenceWarning):
        return {"reason": "not_converged", "variable": "", "levels": ""}
    if "separation" in str(exc):
        return {"reason": "separation", "variable": "", "levels": ""}
    return {"reason": "collinear", "variable": "", "levels": ""}
