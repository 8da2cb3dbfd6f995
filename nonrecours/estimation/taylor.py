r"""The Taylor-linearisation variance engine (one engine for every estimator).

Given the weighted influence values :math:`z_{ik}` of K estimates, returns a
:class:`~nonrecours.estimation.results.VarianceFactor` of their covariance for a
stratified multistage design, as R survey's ``svyrecvar``:

* stage 1 (ultimate clusters): :math:`V_1 = \sum_h c_h \sum_i (z_{hi} - \bar z_h)(z_{hi} - \bar z_h)^\top`,
  :math:`c_h = f_h n_h / (n_h - 1)`, :math:`f_h = 1 - n_h / N_h` (1 without FPC);
* stage 2 when SSUs and both FPCs are given: for each PSU *i* of stratum *h*,
  :math:`(n_h / N_h)\, c_{2i} \sum_j (z_{ij} - \bar z_i)(z_{ij} - \bar z_i)^\top`
  with :math:`c_{2i} = f_{2i} n_{2i} / (n_{2i} - 1)` (without ``fpc2``, :math:`f_{2i} = 1`);
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
        raise DesignError(message(f"{'strata have' if stage == 1 else 'PSUs have'} a single sampled "
                                  f"{'PSU' if stage == 1 else 'SSU'} (lonely PSU) at stage {stage}",
                                  where=where, found=f"{count}: {names}",
                                  hint="merge strata, or choose lonely_psu (--lonely-psu) remove, adjust, average or certainty"))
    warnings.warn(f"{where}: {count} lonely PSU(s) at stage {stage} ({names}) handled by rule {rule!r}",
                  LonelyPSUWarning, stacklevel=4)


def taylor_factor(design, stats: LinearStats, z: np.ndarray, stratum_presence: sp.csc_matrix,
                  psu_presence: sp.csc_matrix, *, cells: PSUCells | None = None) -> VarianceFactor:
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
    rule = design.lonely_psu
    K, rows, cols = stats.n_cols, stats.rows, stats.cols
    z = np.where(np.isfinite(z), z, 0.0)
    mult = np.ones(K)
    cal = calibration_terms(design.calibration, rows, cols, z, K)
    Lrow, Rc = (None, None) if cal is None else cal

    # stage 1 -------------------------------------------------------------------------------
    PZ = (psu_cells(st, stats) if cells is None else cells).matrix(z)  # PSU totals, U x K
    f = _fpc_factor(st.N_h, st.n_h)
    c = _scale(f, st.n_h)
    a = np.sqrt(np.where(f < _SELF, 0.0, c))
    b = np.sqrt(np.where(f < _SELF, 0.0, c / st.n_h))
    lonely = (st.n_h == 1) & (f >= _SELF)
    # only strata holding entries of the estimates asked for matter (R evaluates lonely PSUs per estimate)
    lonely_hit = lonely & (np.diff(sp.csr_matrix(stratum_presence).indptr) > 0)
    if lonely_hit.any():
        where = f"column {design.strata!r}" if design.strata else "design"
        _lonely(rule, lonely_hit, where, label_list(st.stratum_labels, lonely_hit), 1)
    if lonely.any():
        b[lonely] = 0.0
        if rule in ("remove", "certainty", "average"):
            a[lonely] = 0.0
        if rule == "average":
            touched = stratum_presence.copy()
            touched.data[:] = 1.0
            nstrat = np.asarray(touched.sum(axis=0)).ravel()
            nlonely = np.asarray(touched.T @ lonely.astype(float)).ravel()
            with np.errstate(divide="ignore", invalid="ignore"):
                mult = np.where(nstrat - nlonely > 0, nstrat / (nstrat - nlonely), np.nan)
            mult[nstrat == 0] = 1.0
    mult1 = mult.copy()
    A_blocks = [sp.diags(a[st.psu_stratum]) @ PZ]
    B_blocks = [sp.diags(b) @ (st.stratum_matrix @ PZ)]
    LA_blocks, LB_blocks = [], []
    if Lrow is not None:
        PL = st.psu_matrix @ Lrow
        LA_blocks.append(a[st.psu_stratum][:, None] * PL)
        LB_blocks.append(b[:, None] * (st.stratum_matrix @ PL))

    # stage 2 -------------------------------------------------------------------------------
    if st.ssu is not None and st.has_fpc:
        with np.errstate(divide="ignore", invalid="ignore"):
            frac1 = np.where(np.isfinite(st.N_h), st.n_h / np.where(np.isfinite(st.N_h), st.N_h, 1.0), 0.0)
        m1 = frac1[st.psu_stratum]
        f2 = _fpc_factor(st.N2, st.n2)
        c2 = _scale(f2, st.n2) * m1
        a2 = np.sqrt(np.where(f2 < _SELF, 0.0, c2))
        b2 = np.sqrt(np.where(f2 < _SELF, 0.0, c2 / st.n2))
        lonely2 = (st.n2 == 1) & (f2 >= _SELF)
        lonely2_hit = lonely2 & (np.diff(sp.csr_matrix(psu_presence).indptr) > 0)
        if lonely2_hit.any():
            _lonely(rule, lonely2_hit, f"column {design.ssu!r}", f"{int(lonely2_hit.sum())} PSUs", 2)
        if lonely2.any():
            b2[lonely2] = 0.0
            if rule in ("remove", "certainty", "average"):
                a2[lonely2] = 0.0
            if rule == "average":  # R: a stage-2 stratum (PSU) alone and lonely gives an undefined variance
                hit = np.asarray(psu_presence.T @ lonely2.astype(float)).ravel() > 0
                mult = np.where(hit, np.nan, mult)
        SZ = sp.csc_matrix((z, (st.ssu[rows], cols)), shape=(st.ssu_psu.size, K))
        SZ.sum_duplicates()
        A_blocks.append(sp.diags(a2[st.ssu_psu]) @ SZ)
        B_blocks.append(sp.diags(b2) @ PZ)
        if Lrow is not None:
            SL = st.ssu_matrix @ Lrow
            LA_blocks.append(a2[st.ssu_psu][:, None] * SL)
            LB_blocks.append(b2[:, None] * PL)

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
