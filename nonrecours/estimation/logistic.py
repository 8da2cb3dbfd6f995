r"""Survey logistic regression of taking up a right (R's ``svyglm(family = quasibinomial)``).

The point estimates solve the weighted score equations
:math:`\sum_i w_i (y_i - \mu_i) x_i = 0`, :math:`\mu_i = \operatorname{expit}(x_i^\top\beta)`
(Newton–Raphson, to machine precision). Their variance comes from the package's one
engine: on a Taylor design, the design variance of the totals of the influence values
:math:`z_i = w_i (y_i - \mu_i)\, A^{-1} x_i`, :math:`A = \sum_i w_i \mu_i(1-\mu_i) x_i x_i^\top`
(Binder 1983; R's ``svy.varcoef``), calibration and lonely-PSU rules included; on a
replicate design, the replicate variance of the coefficients refitted with every
replicate weight (R's ``svyglm.svyrep.design``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from .._checks import check_columns, check_grouping_column, check_level, check_right_column, id_column
from .._frozen import freeze_arrays
from ..errors import ConvergenceWarning, InputError, OptionError, message
from ._dist import f_sf, norm_isf, t_isf, t_sf

__all__ = ["LogisticResult", "survey_logistic"]


@dataclass(frozen=True)
class _Term:
    label: str
    variables: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class LogisticResult:
    """A fitted survey logistic regression.

    Attributes
    ----------
    names : tuple of str
        Coefficient names, as R's ``model.matrix`` (``"(Intercept)"``, ``"benefitRSA"``,
        ``"is_qpv"``, ``"is_qpv:benefitRSA"``).
    coef, se : ndarray
    vcov : ndarray (p, p)
        Design-based covariance of the coefficients.
    df : float
        Residual degrees of freedom, design df + 1 - p (R's ``df.residual``).
    assign : ndarray
        Term of each coefficient (0 = intercept), as R's ``attr(, "assign")``.
    terms : tuple of str
        Term labels (covariates, then interactions).
    """

    right: str
    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    vcov: np.ndarray = field(repr=False)
    df: float
    assign: np.ndarray
    terms: tuple[str, ...]
    level: float
    variance_method: str
    n: int
    iterations: int
    _spec: dict = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

    def to_frame(self) -> pd.DataFrame:
        """term, estimate, se, ci_low, ci_high, odds_ratio, or_low, or_high, df, t, p_value (t-based Wald CIs)."""
        q = t_isf((1 - self.level) / 2, self.df) if np.isfinite(self.df) else norm_isf((1 - self.level) / 2)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            t = self.coef / self.se
            lo, hi = self.coef - q * self.se, self.coef + q * self.se
            p = 2 * t_sf(np.abs(t), self.df)
            return pd.DataFrame(
                {
                    "term": list(self.names),
                    "estimate": self.coef,
                    "se": self.se,
                    "ci_low": lo,
                    "ci_high": hi,
                    "odds_ratio": np.exp(self.coef),
                    "or_low": np.exp(lo),
                    "or_high": np.exp(hi),
                    "df": self.df,
                    "t": t,
                    "p_value": p,
                }
            )

    def term_tests(self) -> pd.DataFrame:
        r"""Wald test of each term (R's ``regTermTest(model, ~term)``):
        :math:`F = \hat\beta_T^\top V_T^{-1}\hat\beta_T / k` on :math:`F(k, df)`. Columns: term, F, ndf, ddf,
        p_value (NaN where the term's design covariance is singular)."""
        rows = []
        for j, label in enumerate(self.terms, start=1):  # loop over model terms (a handful)
            idx = np.flatnonzero(self.assign == j)
            b = self.coef[idx]
            V = self.vcov[np.ix_(idx, idx)]
            try:
                chisq = float(b @ np.linalg.solve(V, b))
            except np.linalg.LinAlgError:  # singular term covariance (R's solve stops): no test, as svychisq here
                chisq = np.nan
            k = idx.size
            F = chisq / k
            rows.append((label, F, float(k), self.df, float(f_sf(F, k, self.df))))
        return pd.DataFrame(rows, columns=["term", "F", "ndf", "ddf", "p_value"])


def _columns(
    data: pd.DataFrame, terms: Sequence[_Term], fixed: dict | None = None
) -> tuple[list[str], list[int], list[np.ndarray], dict]:
    """R's ``model.matrix`` with treatment contrasts: names, assign and columns; ``levels`` of the factors
    (sorted observed levels, or those of ``fixed``)."""
    levels: dict[str, np.ndarray] = {}
    blocks: dict[str, tuple[list[str], list[np.ndarray]]] = {}
    for term in terms:
        for v in term.variables:
            if v in blocks:
                continue
            s = data[v]
            if fixed is not None and v in fixed:
                uniq = fixed[v]
                codes = pd.Categorical(s.astype(object), categories=list(uniq)).codes
                levels[v] = uniq
                cols = [np.where(codes < 0, np.nan, (codes == k).astype(float)) for k in range(1, len(uniq))]
                blocks[v] = ([f"{v}{uniq[k]}" for k in range(1, len(uniq))], cols)
            elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                blocks[v] = ([v], [s.to_numpy(dtype=float, na_value=np.nan)])
            else:
                codes, uniq = pd.factorize(s, sort=True)
                levels[v] = np.asarray(uniq, dtype=object)
                cols = [np.where(codes < 0, np.nan, (codes == k).astype(float)) for k in range(1, len(uniq))]
                blocks[v] = ([f"{v}{uniq[k]}" for k in range(1, len(uniq))], cols)
    names, assign, cols = ["(Intercept)"], [0], [np.ones(len(data))]
    for j, term in enumerate(terms, start=1):
        parts = [blocks[v] for v in term.variables]
        tn, tc = parts[0]
        for pn, pc in parts[1:]:  # first variable fastest, as R
            tn = [f"{a}:{b}" for b in pn for a in tn]
            tc = [a * b for b in pc for a in tc]
        names += tn
        assign += [j] * len(tn)
        cols += tc
    return names, assign, cols, levels


def _fit(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, start: np.ndarray | None = None, max_iter: int = 100
) -> tuple[np.ndarray, int, bool]:
    """Newton–Raphson for weighted logistic scores; columns of ``w`` are fitted together (n x R)."""
    W = w if w.ndim == 2 else w[:, None]
    R = W.shape[1]
    p = X.shape[1]
    B = np.zeros((p, R)) if start is None else np.repeat(np.asarray(start, float)[:, None], R, axis=1)
    for it in range(1, max_iter + 1):
        eta = X @ B
        mu = special.expit(eta)
        G = X.T @ (W * (y[:, None] - mu))
        H = np.einsum("ni,nr,nj->rij", X, W * mu * (1 - mu), X, optimize=True)
        step = np.linalg.solve(H, G.T[:, :, None])[:, :, 0].T
        B = B + step
        if np.max(np.abs(step) / (np.abs(B) + 1e-3)) < 1e-13:
            return (B[:, 0] if w.ndim == 1 else B), it, True
    return (B[:, 0] if w.ndim == 1 else B), max_iter, False


def _parse_terms(covariates, interactions) -> list[_Term]:
    from .._checks import parse_list

    cov = parse_list(covariates, option="covariates") if isinstance(covariates, str) else list(covariates)
    inter = (
        parse_list(interactions, option="interactions") if isinstance(interactions, str) else list(interactions or [])
    )
    if not cov:
        raise OptionError(message("no covariate given", where="parameter covariates", expected="one or more columns"))
    if len(set(cov)) != len(cov):
        raise OptionError(message("a covariate is repeated", where="parameter covariates", found=", ".join(cov)))
    terms = [_Term(c, (c,)) for c in cov]
    for item in inter:
        vs = tuple(x.strip() for x in item.split(":"))
        if len(vs) < 2 or any(not v for v in vs) or len(set(vs)) != len(vs):
            raise OptionError(
                message(
                    "malformed interaction",
                    where="parameter interactions",
                    expected="A:B (columns joined by ':')",
                    found=repr(item),
                )
            )
        missing = [v for v in vs if v not in cov]
        if missing:
            raise OptionError(
                message(
                    "an interaction uses a column that is not a covariate",
                    where="parameter interactions",
                    expected="columns among the covariates",
                    found=", ".join(missing),
                    hint="add it to the covariates",
                )
            )
        terms.append(_Term(item.strip(), vs))
    return terms


def survey_logistic(
    design,
    right: str,
    covariates: str | Sequence[str],
    interactions: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
) -> LogisticResult:
    r"""Survey logistic regression of taking up ``right`` on covariates (R's ``svyglm``, quasibinomial).

    Parameters
    ----------
    design : SurveyDesign
        Taylor or replicate design.
    right : str
        Right column (1 takes up, 0 does not, empty: not eligible, left out).
    covariates : str or list of str
        Numeric columns enter as such; other columns as factors with treatment contrasts
        (first level in sorted order as reference), as R's ``model.matrix``.
    interactions : str or list of str, optional
        Products of covariates, ``"is_qpv:benefit"``.
    level : float
        Confidence level of the Wald CIs (t with the residual df).

    Returns
    -------
    LogisticResult

    Notes
    -----
    Rows with an empty right or covariate value are left out (R's ``na.omit``) by zero
    weights (the design keeps its PSUs and strata). Residual df: design df + 1 - p (R's
    ``svyglm``). Coefficients, SEs, CIs and :meth:`LogisticResult.term_tests` match R
    survey 4.1.1 to 1e-8 once R's IRLS is run to convergence (``glm.control(epsilon)``).

    References
    ----------
    Binder, D. A. (1983). On the variances of asymptotically normal estimators from
    complex surveys. *International Statistical Review* 51, 279–292.
    Lumley, T. and Scott, A. (2017). Fitting regression models to survey data.
    *Statistical Science* 32, 265–278.
    """
    check_level(level)
    terms = _parse_terms(covariates, interactions)
    data = design.data
    variables = list(dict.fromkeys(v for t in terms for v in t.variables))
    check_columns(data, [right] + variables, role="model column", source="the sample")
    for v in variables:  # the id column, or a categorical covariate of one level per respondent, names people
        if v == id_column(data.columns, None) or not pd.api.types.is_numeric_dtype(data[v]):
            check_grouping_column(data, v, name="covariates")
    if right in variables:
        raise OptionError(message("the right is also a covariate", where="parameter covariates", found=repr(right)))
    y = check_right_column(data, right)
    names, assign, cols, levels = _columns(data, terms)
    X = np.column_stack(cols)
    w_all = design.weights
    use = ~np.isnan(y) & ~np.isnan(X).any(axis=1) & (w_all != 0)
    rows = np.flatnonzero(use)
    Xu, yu, wu = X[rows], y[rows], w_all[rows]
    p = X.shape[1]
    if rows.size <= p or np.linalg.matrix_rank(Xu) < p:
        raise InputError(
            message(
                "the model cannot be fitted: its columns are collinear or too few rows",
                where=f"right {right!r}",
                found=f"{rows.size} rows, {p} coefficients",
                hint="drop a covariate or merge rare levels",
            )
        )
    try:
        beta, iters, ok = _fit(Xu, yu, wu)
        mu = special.expit(Xu @ beta)
        if np.linalg.cond(Xu.T @ ((wu * mu * (1 - mu))[:, None] * Xu)) > 1e14:
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        raise InputError(
            message(
                "the model cannot be fitted: a group where everyone or no one takes up (separation) or an empty level",
                where=f"right {right!r}",
                found=f"{rows.size} rows, {p} coefficients",
                hint="drop a covariate, merge rare levels or remove an interaction",
            )
        ) from None
    if not ok:
        warnings.warn(
            f"right {right!r}: the logistic fit did not converge in {iters} iterations "
            "(separation: a group where everyone or no one takes up?)",
            ConvergenceWarning,
            stacklevel=2,
        )
    sub = design.subset(use)
    if design.replicates is not None:
        from .replicate import replicate_factor

        reps = design.replicates
        Wr = reps.weights[rows]
        B, _, _ = _fit(Xu, yu, Wr, start=beta)
        V = replicate_factor(reps, None, beta, estimates=B.T).matrix()
        V = V.toarray() if hasattr(V, "toarray") else np.asarray(V)
        method = f"replicate ({reps.type})"
    else:
        V = _taylor_vcov(sub, Xu, yu, wu, rows, beta)
        method = "taylor"
    df = sub.degf() + 1 - p
    return LogisticResult(
        right=right,
        names=tuple(names),
        coef=beta,
        se=np.sqrt(np.diag(V)),
        vcov=V,
        df=float(df),
        assign=np.asarray(assign),
        terms=tuple(t.label for t in terms),
        level=float(level),
        variance_method=method,
        n=int(rows.size),
        iterations=iters,
        _spec={"terms": terms, "levels": levels, "rows": rows, "design": sub, "X": Xu},
    )


def _taylor_vcov(design, X, y, w, rows, beta) -> np.ndarray:
    """Design covariance of the totals of the influence values ``w (y - mu) A^{-1} x`` by the one Taylor engine."""
    from .domains import presence
    from .linearize import LinearStats
    from .taylor import taylor_factor

    mu = special.expit(X @ beta)
    A = X.T @ ((w * mu * (1 - mu))[:, None] * X)
    Z = (w * (y - mu))[:, None] * np.linalg.solve(A, X.T).T  # n_used x p
    p = X.shape[1]
    stats = LinearStats(
        rows=np.tile(rows, p), cols=np.repeat(np.arange(p), rows.size), num=Z.T.ravel().copy(), den=None, n_cols=p
    )
    psu_pres, str_pres = presence(design.structure, stats)
    factor = taylor_factor(design, stats, stats.num, str_pres, psu_pres)
    V = factor.matrix()
    return V.toarray() if hasattr(V, "toarray") else np.asarray(V)


def predicted_takeup(model: LogisticResult, group: str, *, level: float | None = None) -> pd.DataFrame:
    r"""Predicted take-up for each level of a factor covariate by marginal standardisation (R's ``svypredmeans``).

    Every respondent of the model is given level *g* of ``group``, the model predicts
    :math:`\hat\mu_i(g)`, and :math:`\hat m_g` is their weighted mean.

    Notes
    -----
    As R: :math:`\mathrm{Var}(\hat m_g)` is the design variance of the mean of the fitted
    values (coefficients held fixed; one pass of the engine for every level) plus
    :math:`d_g^\top V_\beta d_g`, :math:`d_g = \sum_i w_i \hat\mu_i(1-\hat\mu_i) x_i(g) / \sum_i w_i`.

    Returns
    -------
    DataFrame
        group, level, estimate, se, ci_low, ci_high (t with the model's residual df).
    """
    from .domains import Domains, stack_variables
    from .estimators import _run
    from .results import QualityThresholds

    spec = model._spec
    levels = spec["levels"].get(group)
    if levels is None:
        raise OptionError(
            message(
                "predicted take-up needs a categorical covariate of the model",
                where="parameter group",
                expected="one of " + ", ".join(sorted(spec["levels"])),
                found=repr(group),
            )
        )
    design, rows = spec["design"], spec["rows"]
    data = design.data.iloc[rows]
    w = design.weights[rows]
    fits, dgs = [], []
    for lv in levels:  # loop over the group's levels (a handful), never over respondents or domains
        frame = data.copy()
        frame[group] = [lv] * len(frame)
        Xg = np.column_stack(_columns(frame, spec["terms"], spec["levels"])[2])
        mu = special.expit(Xg @ model.coef)
        fits.append(np.full(design.n, np.nan))
        fits[-1][rows] = mu
        dgs.append((w * mu * (1 - mu)) @ Xg / w.sum())
    codes = np.full(design.n, -1, np.int64)
    codes[rows] = 0
    one = Domains(codes, pd.DataFrame(index=range(1)), ())
    st = stack_variables(one, design.weights, fits, "ones")
    every = QualityThresholds(min_n=0, reliable_n=0, max_cv=np.inf)
    cond = _run(
        design,
        st,
        one,
        [str(x) for x in levels],
        statistic="mean",
        ci="wald",
        level=model.level,
        df_rule="design",
        thresholds=every,
    )
    Vc = cond.vcov()
    Vc = Vc.toarray() if hasattr(Vc, "toarray") else np.asarray(Vc)
    D = np.column_stack(dgs)
    V = D.T @ model.vcov @ D + Vc
    se = np.sqrt(np.diag(V))
    lv_ = model.level if level is None else check_level(level)
    q = t_isf((1 - lv_) / 2, model.df)
    est = cond.raw_estimate
    return pd.DataFrame(
        {
            "group": group,
            "level": [str(x) for x in levels],
            "estimate": est,
            "se": se,
            "ci_low": est - q * se,
            "ci_high": est + q * se,
        }
    )
