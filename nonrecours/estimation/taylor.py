r"""The Taylor-linearisation variance engine (one engine for every estimator).

Given the weighted influence values :math:`z_{ik}` of K estimates, returns a
:class:`~nonrecours.estimation.results.VarianceFactor` of their covariance for a
stratified multistage design, as R survey's ``svyrecvar``:

* stage 1 (ultimate clusters): :math:`V_1 = \sum_h c_h \sum_i (z_{hi} - \bar z_h)(z_{hi} - \bar z_h)^\top`,
  :math:`c_h = f_h n_h / (n_h - 1)`, :math:`f_h = 1 - n_h / N_h` (1 without FPC);
* stage k >= 2 when the first-stage FPC is given: for each stratum g of stage k (within a
  unit of stage k-1), :math:`\pi_{<k}\, c_g \sum_j (z_{gj} - \bar z_g)(z_{gj} - \bar z_g)^\top`
  with :math:`c_g = f_g n_g / (n_g - 1)` (without the stage's FPC, :math:`f_g = 1`) and
  :math:`\pi_{<k}` the product of the sampling fractions of the units above it
  (:math:`n_h/N_h`, or :math:`\pi_i` with PPS): R's ``multistage`` recursion, flattened;
* PPS without replacement at stage 1 (``design.pps``): ``brewer`` takes
  :math:`f_i = 1 - \pi_i` per PSU; the other methods replace the stage-1 sum by the
  quadratic form :math:`Z^\top M Z` of :func:`~nonrecours.design.pps_variance.pps_matrix`
  (R's ``ppsvar``; R refuses later stages with them, nonrecours adds the stage-k terms above);
* strata (or PSUs at stage 2) with :math:`f < 10^{-7}` are self-representing (no variance);
* lonely PSUs (a single sampled unit, :math:`f > 0`): ``fail`` raises, ``remove`` and
  ``certainty`` give no contribution, ``adjust`` uses the uncentred total
  :math:`f z^2`, ``average`` drops the stratum and scales by
  (strata with in-domain rows) / (those not lonely), as R survey 4.1.

Calibration enters as residuals (low-rank terms; see
:func:`~nonrecours.estimation.linearize.calibration_terms`).

References
----------
Lumley, T. (2010). *Complex Surveys*, Wiley, §2.2 and appendix C.
Wolter, K. (2007). *Introduction to Variance Estimation*, 2nd ed., Springer.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from ..errors import DesignError, LonelyPSUWarning, label_list, message
from .domains import PSUCells, psu_cells
from .linearize import LinearStats, calibration_terms
from .results import VarianceFactor

__all__ = ["taylor_factor"]

_SELF = 1e-7


def _scale(f: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 1, f * n / np.maximum(n - 1, 1), f)


def _fpc_factor(N: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(N), (N - n) / np.where(np.isfinite(N), N, 1.0), 1.0)


def _lonely(rule: str, lonely: np.ndarray, where: str, names: str, stage: int) -> None:
    count = int(lonely.sum())
    if rule == "fail":
        raise DesignError(
            message(
                f"{'strata have' if stage == 1 else 'PSUs have'} a single sampled "
                f"{'PSU' if stage == 1 else 'SSU'} (lonely PSU) at stage {stage}",
                where=where,
                found=f"{count}: {names}",
                hint="merge strata, or set parameter lonely_psu to remove, adjust, average or certainty",
            )
        )
    warnings.warn(
        f"{where}: {count} lonely PSU(s) at stage {stage} ({names}) handled by rule {rule!r}",
        LonelyPSUWarning,
        stacklevel=4,
    )


def taylor_factor(
    design,
    stats: LinearStats,
    z: np.ndarray,
    stratum_presence: sp.csc_matrix,
    psu_presence: sp.csc_matrix,
    *,
    cells: PSUCells | None = None,
) -> VarianceFactor:
    """Factored Taylor covariance of the estimates whose influence values are ``z``.

    Parameters
    ----------
    design : SurveyDesign
        The design (codes, stage sizes, lonely-PSU rule, calibration).
    stats : LinearStats
        Entries (rows, estimate columns) the influence values refer to.
    z : ndarray
        Weighted influence value of each entry.
    stratum_presence, psu_presence : sparse (H x K), (U x K)
        Entries per stratum / PSU of each estimate (rule ``average``).
    cells : PSUCells, optional
        The (PSU, estimate) cells of the entries (:func:`~nonrecours.estimation.domains.psu_cells`),
        if already coded.

    Returns
    -------
    VarianceFactor
    """
    st = design.structure
    K, rows, cols = stats.n_cols, stats.rows, stats.cols
    z = np.where(np.isfinite(z), z, 0.0)
    cal = calibration_terms(design.calibration, rows, cols, z, K)
    Lrow, Rc = (None, None) if cal is None else cal
    PZ = (psu_cells(st, stats) if cells is None else cells).matrix(z)  # PSU totals, U x K
    PL = None if Lrow is None else st.psu_matrix @ Lrow
    if design.pps is None:
        terms = _stage1_srs(design, PZ, PL, stratum_presence, K)
    elif design.pps == "brewer":
        terms = _stage1_brewer(design, PZ, PL, stratum_presence, K)
    else:
        terms = _stage1_quadratic(st.pps_M, PZ, PL, K)
    A_blocks, B_blocks, LA_blocks, LB_blocks, mult = terms
    mult1 = mult.copy()
    for sk in st.later if st.has_fpc else ():  # R recurses below stage 1 only when FPCs are given
        Ak, Bk, LAk, LBk, mult = _later_stage(design, sk, stats, z, Lrow, mult)
        A_blocks.append(Ak)
        B_blocks.append(Bk)
        if Lrow is not None:
            LA_blocks.append(LAk)
            LB_blocks.append(LBk)

    if len(A_blocks) > 1 and Lrow is None and np.any(mult != 1):
        # R scales only the stage-1 sum by nstrat / nokstrat: scale those columns, keep NaN global
        g = sp.diags(np.sqrt(np.where(np.isfinite(mult1), mult1, 1.0)))
        A_blocks[0] = A_blocks[0] @ g
        B_blocks[0] = B_blocks[0] @ g
        mult = np.where(np.isnan(mult), np.nan, 1.0)
    A = sp.vstack(A_blocks, format="csc")
    B = sp.vstack(B_blocks, format="csc")
    A.eliminate_zeros()
    B.eliminate_zeros()
    if Lrow is None:
        return VarianceFactor(A=A, B=B, mult=mult)
    return VarianceFactor(A=A, B=B, mult=mult, LA=np.vstack(LA_blocks), LB=np.vstack(LB_blocks), R=Rc)


def _lonely_stage1(design, lonely: np.ndarray, stratum_presence, K: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Apply the lonely-PSU rule to the stage-1 scales ``a`` (per PSU) and ``b`` (per stratum); the multiplier."""
    st, rule = design.structure, design.lonely_psu
    mult = np.ones(K)
    # only strata holding entries of the estimates asked for matter (R evaluates lonely PSUs per estimate)
    lonely_hit = lonely & (np.diff(sp.csr_matrix(stratum_presence).indptr) > 0)
    if lonely_hit.any():
        where = f"column {design.strata!r}" if design.strata else "design"
        _lonely(rule, lonely_hit, where, label_list(st.stratum_labels, lonely_hit), 1)
    if lonely.any():
        b[lonely] = 0.0
        if rule in ("remove", "certainty", "average"):
            a[lonely[st.psu_stratum]] = 0.0
        if rule == "average":
            touched = stratum_presence.copy()
            touched.data[:] = 1.0
            nstrat = np.asarray(touched.sum(axis=0)).ravel()
            nlonely = np.asarray(touched.T @ lonely.astype(float)).ravel()
            with np.errstate(divide="ignore", invalid="ignore"):
                mult = np.where(nstrat - nlonely > 0, nstrat / (nstrat - nlonely), np.nan)
            mult[nstrat == 0] = 1.0
    return mult


def _stage1_srs(design, PZ, PL, stratum_presence, K: int):
    """Stage 1 with one FPC per stratum: rows sqrt(c_h) z_hi (A) and sqrt(c_h n_h) zbar_h (B)."""
    st = design.structure
    f = _fpc_factor(st.N_h, st.n_h)
    c = _scale(f, st.n_h)
    a = np.sqrt(np.where(f < _SELF, 0.0, c))[st.psu_stratum]
    b = np.sqrt(np.where(f < _SELF, 0.0, c / st.n_h))
    mult = _lonely_stage1(design, (st.n_h == 1) & (f >= _SELF), stratum_presence, K, a, b)
    A_blocks = [sp.diags(a) @ PZ]
    B_blocks = [sp.diags(b) @ (st.stratum_matrix @ PZ)]
    LA_blocks, LB_blocks = [], []
    if PL is not None:
        LA_blocks.append(a[:, None] * PL)
        LB_blocks.append(b[:, None] * (st.stratum_matrix @ PL))
    return A_blocks, B_blocks, LA_blocks, LB_blocks, mult


def _stage1_brewer(design, PZ, PL, stratum_presence, K: int):
    r"""Stage 1 with one FPC per PSU (Brewer's approximation, R's ``pps = "brewer"``).

    With :math:`c_i = (1 - \pi_i) n_h/(n_h - 1)`, the stratum's term is
    :math:`\sum_i c_i (z_i - ar z)(z_i - ar z)^	op` (unweighted mean, as R's
    ``onestrat``) :math:`= \sum_i c_i z_i z_i^	op - u u^	op + (u - v)(u - v)^	op`
    with :math:`u = \sum_i c_i z_i / \sqrt{C}`, :math:`v = \sqrt{C}\,ar z`,
    :math:`C = \sum_i c_i`: A gets the rows :math:`\sqrt{c_i} z_i` and :math:`u - v`,
    B the rows :math:`u`.
    """
    st = design.structure
    f = 1.0 - st.pi_psu
    n = st.n_h[st.psu_stratum]
    c = np.where(n > 1, f * n / np.maximum(n - 1, 1), f)
    # R: a stratum whose every f < 1e-7 contributes nothing
    dead = np.bincount(st.psu_stratum, weights=(f >= _SELF).astype(float), minlength=st.n_strata) == 0
    c = np.where(dead[st.psu_stratum], 0.0, c)
    C = st.stratum_matrix @ c
    lonely = (st.n_h == 1) & ~dead
    a = np.sqrt(c)
    b = np.ones(st.n_strata)
    mult = _lonely_stage1(design, lonely, stratum_presence, K, a, b)
    # lonely: b = 0 (uncentred, rule adjust) and a = 0 for remove/certainty/average
    S = st.stratum_matrix
    with np.errstate(divide="ignore", invalid="ignore"):
        ru = np.where(C > 0, 1.0 / np.sqrt(C), 0.0) * b  # u = (sum c_i z_i) / sqrt(C)
        rv = np.where(C > 0, np.sqrt(C) / st.n_h, 0.0) * b  # v = sqrt(C) mean z
    cz = sp.diags(c) @ PZ
    U_ = sp.diags(ru) @ (S @ cz)
    V_ = sp.diags(rv) @ (S @ PZ)
    A_blocks = [sp.vstack([sp.diags(a) @ PZ, U_ - V_])]
    B_blocks = [U_]
    LA_blocks, LB_blocks = [], []
    if PL is not None:
        LU = ru[:, None] * (S @ (c[:, None] * PL))
        LV = rv[:, None] * (S @ PL)
        LA_blocks.append(np.vstack([a[:, None] * PL, LU - LV]))
        LB_blocks.append(LU)
    return A_blocks, B_blocks, LA_blocks, LB_blocks, mult


def _stage1_quadratic(M, PZ, PL, K: int):
    """Stage 1 as the quadratic form :math:`Z^\\top M Z` of a PPS design, :math:`M = P^\\top P - N^\\top N`."""
    P, N = M
    A_blocks = [sp.csc_matrix(P @ PZ)]
    B_blocks = [sp.csc_matrix(N @ PZ)]
    LA_blocks, LB_blocks = [], []
    if PL is not None:
        LA_blocks.append(np.asarray(P @ PL))
        LB_blocks.append(np.asarray(N @ PL))
    return A_blocks, B_blocks, LA_blocks, LB_blocks, np.ones(K)


def _later_stage(design, sk, stats: LinearStats, z, Lrow, mult):
    """A stage below the first: SRS of units within its strata, scaled by the sampling fractions of the
    stages above (R's ``multistage``: ``onestage`` within each unit above, times ``nPSU / fpc``)."""
    rule = design.lonely_psu
    K, rows, cols = stats.n_cols, stats.rows, stats.cols
    f = _fpc_factor(sk.N, sk.n)
    c = _scale(f, sk.n) * sk.above
    a = np.sqrt(np.where(f < _SELF, 0.0, c))
    b = np.sqrt(np.where(f < _SELF, 0.0, c / sk.n))
    lonely = (sk.n == 1) & (f >= _SELF)
    if lonely.any():
        srow = sk.unit_stratum[sk.unit[rows]]
        presence = sp.csr_matrix((np.ones(rows.size), (srow, cols)), shape=(sk.n.size, K))
        hit = lonely & (np.diff(presence.indptr) > 0)
        name = sk.stage.units
        if hit.any():
            _lonely(
                rule,
                hit,
                f"column {name!r}",
                f"{int(hit.sum())} {'PSUs' if sk.stage.strata is None else 'strata'}",
                sk.number,
            )
        b[lonely] = 0.0
        if rule in ("remove", "certainty", "average"):
            a[lonely] = 0.0
        if rule == "average" and hit.any():
            if sk.stage.strata is not None:
                raise DesignError(
                    message(
                        f"lonely-PSU rule 'average' at stage {sk.number} with strata",
                        where=f"column {sk.stage.strata!r}",
                        hint="choose lonely_psu remove, adjust or certainty",
                    )
                )
            # R: a stage-k stratum alone in its unit above and lonely gives an undefined variance
            touched = np.asarray(presence.T @ lonely.astype(float)).ravel() > 0
            mult = np.where(touched, np.nan, mult)
    UZ = sp.csc_matrix((z, (sk.unit[rows], cols)), shape=(sk.unit_stratum.size, K))
    UZ.sum_duplicates()
    A = sp.diags(a[sk.unit_stratum]) @ UZ
    B = sp.diags(b) @ (sk.stratum_matrix @ UZ)
    LA = LB = None
    if Lrow is not None:
        UL = sk.unit_matrix @ Lrow
        LA = a[sk.unit_stratum][:, None] * UL
        LB = b[:, None] * (sk.stratum_matrix @ UL)
    return A, B, LA, LB, mult
