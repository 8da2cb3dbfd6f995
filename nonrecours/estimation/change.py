r"""Change of take-up between two waves, with the covariance of overlapping samples.

The change of the rate of right *r* in domain *d* between wave 1 and wave 2 is
:math:`\hat\Delta = \hat p_2 - \hat p_1`. Its variance
:math:`V(\hat p_1) + V(\hat p_2) - 2\,C(\hat p_1, \hat p_2)` needs the covariance
of the two waves' estimates, non-zero as soon as the samples share recipients
(a panel, a rotating sample). It comes from **joint linearisation over the
union of the two samples**: each wave's influence values
:math:`z_{1i}`, :math:`z_{2i}` (:func:`~nonrecours.estimation.linearize.influence_values`,
calibration residuals included) are stacked by recipient id into one design
whose units are the recipients of either sample, and the single Taylor engine
returns the joint covariance of the 2K estimates (K = domains x rights).

The union design (Berger, 2004; Osier, Berger & Goedemé, 2013, for EU-SILC):

- a recipient of wave 2 (in both waves, or only in wave 2) sits in its wave-2
  stratum, a recipient only in wave 1 in its wave-1 stratum; the FPC is the
  stratum's wave-2 sampling fraction (wave 1's for a stratum absent from wave 2);
- ``independent`` samples are stacked by (wave, id): no recipient is shared, so
  the variance is exactly :math:`V_1 + V_2` (each wave's own strata and FPCs).

For a panel (the same recipients in both waves) this is the design R's
``survey`` builds on the wide file holding both waves' variables; for
rotating samples with small sampling fractions it estimates Tam's (1984)
covariance :math:`(m / n_1 n_2 - 1/N) S_{12}` up to terms of order
:math:`n/N` (checked by Monte Carlo in ``tests/test_change.py`` and
``validation.change``).

With replicate weights in both waves (``variance="replicate"``), the change is
re-estimated with each replicate: its covariance is right when the replicates
are carried across waves (the same replicate index for the same PSU).

References
----------
Berger, Y. G. (2004). Variance estimation for measures of change in probability
sampling. *Canadian Journal of Statistics* 32(4), 451-467.
Tam, S. M. (1984). On covariances from overlapping samples. *The American
Statistician* 38(4), 288-289.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sps

from .._checks import check_choice, check_columns, check_level
from ..errors import DesignError, InputError, OptionError, message
from .domains import Domains, make_domains, presence, psu_cells, stack_variables
from .linearize import LinearStats, calibration_terms, influence_values, point_estimates
from .replicate import replicate_estimates
from .results import VarianceFactor
from .taylor import taylor_factor

__all__ = ["ChangeResult", "estimate_change", "CHANGE_COLUMNS", "DID_COLUMNS", "SCHEMES", "VARIANCES"]

SCHEMES = ("independent", "panel", "rotating")
VARIANCES = ("taylor", "replicate")
CHANGE_COLUMNS = ("right", "n_1", "n_2", "n_both", "estimate_1", "estimate_2", "change", "se", "se_1", "se_2",
                  "correlation", "se_independent", "ci_low", "ci_high", "df", "t", "p_value")
DID_COLUMNS = ("right", "gap_1", "gap_2", "did", "se", "ci_low", "ci_high", "df", "t", "p_value")


@dataclass(frozen=True, eq=False)
class ChangeResult:
    """Changes per (domain, right) between two waves and the joint covariance of both waves' estimates.

    Attributes
    ----------
    table : DataFrame
        One row per (domain, right): the ``by`` columns and :data:`CHANGE_COLUMNS`.
    variance : VarianceFactor
        Covariance of the 2K estimates: columns ``0..K-1`` wave 1, ``K..2K-1``
        wave 2, in the row order of ``table``.
    scheme, variance_method, level, by
        How the change was estimated.
    """

    table: pd.DataFrame
    variance: VarianceFactor = field(repr=False)
    scheme: str
    variance_method: str
    level: float
    by: tuple[str, ...]
    df_union: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The change table (a copy)."""
        return self.table.copy()

    def did(self, gap: str, levels: tuple[object, object] | None = None) -> pd.DataFrame:
        r"""Net change of the gap between two levels of a ``by`` column (difference in differences).

        ``did = (p_2a - p_2b) - (p_1a - p_1b)`` per right and per combination of
        the other ``by`` columns, with its variance :math:`c^\top V c` from the
        joint covariance of the four estimates.

        Parameters
        ----------
        gap : str
            A ``by`` column (e.g. ``is_qpv``).
        levels : (a, b), optional
            The levels compared, a minus b; by default the last minus the first
            of the two levels present (``is_qpv``: 1 - 0, QPV minus the rest).
        """
        if gap not in self.by:
            raise OptionError(message("the gap column must be a domain column", where=f"option --gap {gap!r}",
                                      expected="one of the --by columns", found=", ".join(self.by) or "no --by"))
        t = self.table.reset_index(drop=True)
        vals = pd.unique(t[gap].dropna())
        if levels is None:
            if len(vals) != 2:
                raise OptionError(message("the gap column must have two levels", where=f"column {gap!r}",
                                          found=f"{len(vals)} levels", hint="give the levels: --gap COLUMN=A,B"))
            s = sorted(vals, key=str)
            levels = (s[1], s[0])
        txt = t[gap].astype(str)
        a, b = (str(v) for v in levels)
        for v in (a, b):
            if not (txt == v).any():
                raise OptionError(message("level absent", where=f"column {gap!r}", expected=f"levels {a} and {b}",
                                          found=", ".join(map(str, vals))))
        keys = [c for c in self.by if c != gap] + ["right"]
        ia = t.index[txt == a].to_series(index=pd.MultiIndex.from_frame(t.loc[txt == a, keys].astype(str)))
        ib = t.index[txt == b].to_series(index=pd.MultiIndex.from_frame(t.loc[txt == b, keys].astype(str)))
        both = ia.index.intersection(ib.index)
        i_a, i_b = ia.loc[both].to_numpy(), ib.loc[both].to_numpy()
        K = len(t)
        idx = [i_a + K, i_b + K, i_a, i_b]  # p2a, p2b, p1a, p1b
        c = [1.0, -1.0, -1.0, 1.0]
        var = np.zeros(i_a.size)
        for s_, cs in zip(idx, c):  # 4 x 4 covariance terms, vectorised over domains
            for u_, cu in zip(idx, c):
                var += cs * cu * self.variance.covariances(s_, u_)
        e1, e2 = t["estimate_1"].to_numpy(), t["estimate_2"].to_numpy()
        g1, g2 = e1[i_a] - e1[i_b], e2[i_a] - e2[i_b]
        did = g2 - g1
        se = np.sqrt(np.maximum(var, 0.0))
        df = np.minimum(self.df_union[i_a], self.df_union[i_b])
        low, high, tt, p = _wald(did, se, df, self.level)
        out = t.loc[i_a, [k for k in keys if k != "right"]].reset_index(drop=True)
        return out.assign(gap=gap, level_a=a, level_b=b, right=t.loc[i_a, "right"].to_numpy(), gap_1=g1, gap_2=g2,
                          did=did, se=se, ci_low=low, ci_high=high, df=df, t=tt, p_value=p)


def _wald(est: np.ndarray, se: np.ndarray, df: np.ndarray, level: float):
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(np.isfinite(df), sps.t.ppf(0.5 + level / 2, np.maximum(df, 1)), sps.norm.ppf(0.5 + level / 2))
        t = est / se
        p = 2 * np.where(np.isfinite(df), sps.t.sf(np.abs(t), np.maximum(df, 1)), sps.norm.sf(np.abs(t)))
    return est - q * se, est + q * se, t, p


def _wave_entries(design, stats: LinearStats) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimates, entry rows, columns and (calibration-residualised) influence values of one wave."""
    w = design.weights
    _, Td, theta = point_estimates(stats, w)
    z = influence_values(stats, w, theta, Td)
    z = np.where(np.isfinite(z), z, 0.0)
    rows, cols = stats.rows, stats.cols
    cal = calibration_terms(design.calibration, rows, cols, z, stats.n_cols)
    if cal is not None:  # residuals x - w X beta touch every row: dense n x K
        L, R = cal
        Z = np.zeros((design.n, stats.n_cols))
        np.add.at(Z, (rows, cols), z)
        Z -= L @ R
        rows, cols = np.nonzero(Z)
        z = Z[rows, cols]
    return theta, Td, rows, cols, z


def _fraction(design) -> np.ndarray | None:
    """Sampling fraction of each stratum (None without FPC)."""
    st = design.structure
    if not st.has_fpc:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(st.N_h), st.n_h / st.N_h, 0.0)


def _union_design(d1, d2, key1: np.ndarray, key2: np.ndarray, lonely_psu: str, linked: bool):
    """One design over the recipients of either wave (see the module docstring), on integer codes."""
    from ..design.survey_design import SurveyDesign

    codes, uniq = pd.factorize(np.concatenate([key1, key2]))
    n1 = key1.size
    u1, u2 = codes[:n1], codes[n1:]
    U = uniq.size
    st1, st2 = d1.structure, d2.structure
    lab1 = np.asarray(st1.stratum_labels, dtype=object).astype(str)
    lab2 = np.asarray(st2.stratum_labels, dtype=object).astype(str)
    if linked:  # a stratum label shared by both waves is one stratum of the union
        hc, _ = pd.factorize(np.concatenate([lab1, lab2]))
        h1, h2 = hc[:lab1.size], hc[lab1.size:]
    else:  # independent waves: each keeps its own strata
        h1, h2 = np.arange(lab1.size), lab1.size + np.arange(lab2.size)
    H = int(max(h1.max(initial=-1), h2.max(initial=-1))) + 1
    stratum = np.empty(U, np.int64)
    psu = np.empty(U, np.int64)
    stratum[u1] = h1[st1.stratum]
    psu[u1] = st1.psu
    stratum[u2] = h2[st2.stratum]  # wave 2 wins for recipients of both waves
    psu[u2] = st1.n_psu + st2.psu
    data = {"stratum": stratum, "psu": psu}
    f1, f2 = _fraction(d1), _fraction(d2)
    if f1 is not None and f2 is not None:
        frac = np.zeros(H)
        frac[h1] = f1
        frac[h2] = f2  # the wave-2 fraction of a stratum of both waves
        data["fpc"] = frac[stratum]
    df = pd.DataFrame(data)
    try:
        design = SurveyDesign(df, strata="stratum", psu="psu", fpc="fpc" if "fpc" in data else None,
                              lonely_psu=lonely_psu)
    except DesignError as exc:
        raise DesignError(message("the two waves do not stack into one design", where="WAVE1/WAVE2",
                                  found=str(exc), hint="use the same design (strata, PSUs) in both waves")) from None
    return design, u1, u2


def estimate_change(wave1, wave2, rights: str | Sequence[str], by: str | Sequence[str] | None = None, *,
                    scheme: Literal["independent", "panel", "rotating"] = "panel", id_col: str = "id",
                    variance: Literal["taylor", "replicate"] = "taylor", level: float = 0.95,
                    df: Literal["domain", "inf"] = "domain", lonely_psu: str | None = None) -> ChangeResult:
    r"""Change of take-up rates between two waves, per domain and right, with the joint-linearisation SE.

    Parameters
    ----------
    wave1, wave2 : SurveyDesign
        The designs of the two waves; their data hold ``id_col``, the rights and the ``by`` columns.
    rights : str or list of str
        Right columns (1, 0, empty).
    by : str or list of str, optional
        Domain columns, read in each wave (a recipient who moved changes domain).
    scheme : {"independent", "panel", "rotating"}
        ``independent``: the waves share no randomness (stacked by (wave, id));
        otherwise recipients are linked by ``id_col`` and the overlap enters the covariance.
    id_col : str
        Recipient identifier.
    variance : {"taylor", "replicate"}
        Joint linearisation, or replicate weights carried across waves (both designs need the
        same number of replicates, type and scales).
    level : float
        Confidence level of the Wald intervals.
    df : {"domain", "inf"}
        t intervals with PSUs minus strata of the union design holding the domain, or normal.
    lonely_psu : str, optional
        Lonely-PSU rule of the union design (default: wave 2's).

    Returns
    -------
    ChangeResult

    Notes
    -----
    Point estimates are each wave's Hájek rates. The change's variance is
    :math:`V_{11} + V_{22} - 2 V_{12}` from the covariance of the stacked
    estimates; ``se_independent`` is :math:`\sqrt{V_{11} + V_{22}}` (what a
    naive difference of two studies would report) and ``correlation`` is
    :math:`V_{12} / \sqrt{V_{11} V_{22}}`.

    Examples
    --------
    >>> import pandas as pd
    >>> from nonrecours.design import SurveyDesign
    >>> d1 = pd.DataFrame({"id": list("abcdef"), "h": list("xxxyyy"), "w": 2.0, "cmuc": [1, 0, 1, 0, 0, 1.0]})
    >>> d2 = d1.assign(cmuc=[1, 1, 1, 0, 1, 1.0])
    >>> r = estimate_change(SurveyDesign(d1, weight="w", strata="h"), SurveyDesign(d2, weight="w", strata="h"), "cmuc")
    >>> round(float(r.table["change"][0]), 4)
    0.3333
    """
    check_choice("scheme", scheme, SCHEMES)
    check_choice("variance", variance, VARIANCES)
    check_choice("df", df, ("domain", "inf"))
    level = check_level(level)
    names = [r.strip() for r in ([rights] if isinstance(rights, str) else rights) for r in r.split(",") if r.strip()]
    by_cols = [b.strip() for b in ([by] if isinstance(by, str) else (by or [])) for b in b.split(",") if b.strip()]
    if not names:
        raise OptionError(message("no right given", where="option rights", expected="one or more right columns"))
    keys = []
    for k, d in ((1, wave1), (2, wave2)):
        check_columns(d.data, [id_col, *names, *by_cols], role="column", source=f"wave {k}")
        ids = d.data[id_col].astype(str).to_numpy(dtype=object)
        if pd.Index(ids).has_duplicates:
            raise InputError(message("duplicate recipient ids", where=f"wave {k}, column {id_col!r}",
                                     expected="one row per recipient", hint="the waves are linked by this id"))
        keys.append(ids if scheme != "independent" else (f"{k}:" + ids))
    # common domain levels across the two waves
    both = pd.concat([wave1.data[by_cols], wave2.data[by_cols]], ignore_index=True) if by_cols else \
        pd.DataFrame(index=range(wave1.n + wave2.n))
    dom = make_domains(both, by_cols)
    n1 = wave1.n
    doms = [Domains(dom.codes[:n1], dom.levels, dom.by), Domains(dom.codes[n1:], dom.levels, dom.by)]
    from .estimators import _right_values

    stats = [stack_variables(doms[k], d.weights, [_right_values(d.data, r) for r in names], "ones")
             for k, d in enumerate((wave1, wave2))]
    K = stats[0].n_cols
    out = [_wave_entries(d, s) for d, s in zip((wave1, wave2), stats)]
    theta1, theta2 = out[0][0], out[1][0]
    rule = lonely_psu if lonely_psu is not None else wave2.lonely_psu
    union, u1, u2 = _union_design(wave1, wave2, keys[0], keys[1], rule, scheme != "independent")
    rows = np.concatenate([u1[out[0][2]], u2[out[1][2]]])
    cols = np.concatenate([out[0][3], out[1][3] + K])
    z = np.concatenate([out[0][4], out[1][4]])
    jstats = LinearStats(rows=rows, cols=cols, num=z, den=None, n_cols=2 * K)
    # presence: the union rows holding entries of each estimate (both waves' entries of estimate k)
    e_rows = np.concatenate([u1[stats[0].rows], u2[stats[1].rows]])
    e_cols = np.concatenate([stats[0].cols, stats[1].cols + K])
    pstats = LinearStats(rows=e_rows, cols=e_cols, num=np.ones(e_rows.size), den=None, n_cols=2 * K)
    psu_pres, str_pres = presence(union.structure, pstats)
    if variance == "replicate":
        factor = _replicate_factor(wave1, wave2, stats, theta1, theta2, scheme)
        method = f"replicate ({wave1.replicates.type})"
    else:
        cells = psu_cells(union.structure, jstats)
        factor = taylor_factor(union, jstats, z, str_pres, psu_pres, cells=cells)
        method = "taylor (joint linearisation over the union of the waves)"
    k = np.arange(K)
    v1, v2 = factor.covariances(k, k), factor.covariances(k + K, k + K)
    c12 = factor.covariances(k, k + K)
    var = np.maximum(v1 + v2 - 2 * c12, 0.0)
    n_1 = stats[0].counts()
    n_2 = stats[1].counts()
    # recipients eligible (with an entry) in both waves, per estimate
    both_rows = pd.MultiIndex.from_arrays([u1[stats[0].rows], stats[0].cols]).intersection(
        pd.MultiIndex.from_arrays([u2[stats[1].rows], stats[1].cols]))
    n_both = np.bincount(both_rows.get_level_values(1).to_numpy(dtype=np.int64), minlength=K)
    # union presence per change column: PSUs and strata holding entries of either wave
    P = (psu_pres[:, :K] + psu_pres[:, K:]).tocsc()
    S = (str_pres[:, :K] + str_pres[:, K:]).tocsc()
    if df == "inf":
        dfs = np.full(K, np.inf)
    elif variance == "replicate":
        dfs = np.full(K, float(min(wave1.degf(), wave2.degf())))
    else:
        dfs = (P.getnnz(axis=0) - S.getnnz(axis=0)).astype(float)
    change = theta2 - theta1
    se = np.where((n_1 == 0) | (n_2 == 0), np.nan, np.sqrt(var))
    low, high, t, p = _wald(change, se, dfs, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = c12 / np.sqrt(v1 * v2)
    D, V = dom.n_domains, len(names)
    table = dom.levels.iloc[np.repeat(np.arange(D), V)].reset_index(drop=True)
    cols_out = {"right": np.tile(np.asarray(names, dtype=object), D), "n_1": n_1, "n_2": n_2, "n_both": n_both,
                "estimate_1": theta1, "estimate_2": theta2, "change": change, "se": se, "se_1": np.sqrt(v1),
                "se_2": np.sqrt(v2), "correlation": corr, "se_independent": np.sqrt(v1 + v2), "ci_low": low,
                "ci_high": high, "df": dfs, "t": t, "p_value": p}
    table = table.assign(**cols_out)
    return ChangeResult(table=table, variance=factor, scheme=scheme, variance_method=method, level=level,
                        by=tuple(by_cols), df_union=dfs)


def _replicate_factor(d1, d2, stats, theta1, theta2, scheme: str) -> VarianceFactor:
    r1, r2 = d1.replicates, d2.replicates
    if r1 is None or r2 is None:
        raise OptionError(message("replicate variance needs replicate weights in both waves", where="option --variance",
                                  hint="weight both waves with --replicates, or use --variance taylor"))
    same = (r1.weights.shape[1] == r2.weights.shape[1] and r1.type == r2.type and np.isclose(r1.scale, r2.scale)
            and np.allclose(r1.rscales, r2.rscales) and r1.mse == r2.mse)
    if not same and scheme != "independent":
        raise DesignError(message("the waves' replicate weights are not carried across waves", where="WAVE1/WAVE2",
                                  expected="the same number, type and scales of replicates",
                                  hint="use --variance taylor"))
    blocks = []
    for reps, st, theta in ((r1, stats[0], theta1), (r2, stats[1], theta2)):
        th = replicate_estimates(st, reps.weights)
        ok = np.isfinite(th)
        if reps.mse:
            centre = theta
        else:
            use = ok & (reps.rscales > 0)[:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                centre = np.where(use, th, 0.0).sum(axis=0) / use.sum(axis=0)
        blocks.append(np.where(ok, th - centre, 0.0) * np.sqrt(reps.scale * reps.rscales)[:, None])
    K = theta1.size
    if scheme == "independent":  # no shared replicate: block diagonal
        A = sp.bmat([[sp.csc_matrix(blocks[0]), None], [None, sp.csc_matrix(blocks[1])]], format="csc")
        A = sp.csc_matrix(A, shape=(blocks[0].shape[0] + blocks[1].shape[0], 2 * K))
    else:
        A = sp.csc_matrix(np.hstack(blocks))
    return VarianceFactor(A=A, B=sp.csc_matrix((1, 2 * K)), mult=np.ones(2 * K))
