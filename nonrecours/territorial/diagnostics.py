"""Model checks of a Fay–Herriot fit: shrinkage, CV gain, standardised residuals, normality."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .fay_herriot import FayHerriotFit

__all__ = ["area_diagnostics", "normality_test"]


def area_diagnostics(
    fit: FayHerriotFit, mse: np.ndarray, se_direct: np.ndarray | None = None, estimate: np.ndarray | None = None
) -> pd.DataFrame:
    """Per-area diagnostics: shrinkage, standardised residual, CVs and CV gain.

    Parameters
    ----------
    fit : FayHerriotFit
    mse : ndarray
        MSE of the reported estimate, one per area of ``fit``.
    se_direct : ndarray, optional
        Standard error of the direct estimate (default :math:`\\sqrt{D_d}`).
    estimate : ndarray, optional
        The reported estimate (default ``fit.eblup``).

    Returns
    -------
    DataFrame
        ``area``, ``gamma``, ``std_residual``, ``cv_direct``, ``cv_eblup``, ``cv_gain``.

    Notes
    -----
    :math:`r_d = (y_d - x_d^\\top\\hat\\beta)/\\sqrt{\\hat A + D_d}` is approximately
    N(0, 1) under the model; ``cv_gain`` = :math:`\\mathrm{CV}_{dir}/\\mathrm{CV}_{EBLUP}`
    (> 1 when the model helps). Rao & Molina (2015), section 6.4.
    """
    est = fit.eblup if estimate is None else np.asarray(estimate, dtype=float)
    se = np.sqrt(fit.vardir) if se_direct is None else np.asarray(se_direct, dtype=float)
    res = np.full(fit.area.shape, np.nan)
    res[fit.in_sample] = fit.residuals
    with np.errstate(divide="ignore", invalid="ignore"):
        cv_dir = se / np.abs(fit.direct)
        cv_eb = np.sqrt(mse) / np.abs(est)
        gain = cv_dir / cv_eb
    return pd.DataFrame(
        {
            "area": fit.area,
            "gamma": fit.gamma,
            "std_residual": res,
            "cv_direct": cv_dir,
            "cv_eblup": cv_eb,
            "cv_gain": gain,
        }
    )


def normality_test(fit: FayHerriotFit) -> tuple[float, float]:
    """Shapiro–Wilk test of the standardised residuals: ``(statistic, p_value)`` (NaN below 3 areas).

    Notes
    -----
    Shapiro & Wilk (1965) via :func:`scipy.stats.shapiro`; a small p-value
    casts doubt on the normality of :math:`u_d + e_d` behind the MSE and CIs.
    """
    from scipy import stats  # here: scipy.stats costs more to import than a whole fit (``territorial fit-unit``)

    r = fit.residuals
    if r.size < 3 or np.ptp(r) == 0:
        return float("nan"), float("nan")
    res = stats.shapiro(r)
    return float(res.statistic), float(res.pvalue)
