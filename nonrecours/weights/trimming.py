"""Trimming of extreme weights, followed by re-calibration.

Weights above a cap ``c = upper * mean(w)`` (mean over respondents) are set to
``c`` and the excess is spread over the other positive weights in proportion
to them, until no weight exceeds the cap (the total is kept). Calibration is
then redone from the trimmed weights, which may push some weights above the
cap again; trimming and calibration alternate until the calibrated weights
respect the cap (within a relative ``TOLERANCE`` of 1e-4) or ``max_rounds`` is reached (a ``ConvergenceWarning``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import ConvergenceWarning, InputError, OptionError, message
from ._recalibration import R

__all__ = ["cap_weights", "trim_and_recalibrate", "TOLERANCE"]

#: Relative excess over the cap accepted after re-calibration (alternating rounds converge linearly).
TOLERANCE = 1e-4


def cap_weights(w: np.ndarray, cap: float, *, max_iter: int = 200) -> tuple[np.ndarray, int]:
    """Cap weights at ``cap`` and redistribute the excess proportionally; keep the total.

    Returns the new weights and the number of capped weights.

    Examples
    --------
    >>> cap_weights(np.array([1.0, 1.0, 10.0]), 5.0)[0].tolist()
    [3.5, 3.5, 5.0]
    """
    w = np.asarray(w, dtype=float).copy()
    pos = w > 0
    total = w.sum()
    if cap * pos.sum() < total * (1 - 1e-12):
        raise InputError(
            message(
                "the trimming cap is too low to keep the total",
                where="parameter trim",
                expected=f"cap >= total / respondents = {total / max(pos.sum(), 1):.6g}",
                found=f"{cap:.6g}",
                hint="raise the trimming factor",
            )
        )
    capped = np.zeros(w.size, dtype=bool)
    for _ in range(max_iter):
        over = w > cap * (1 + 1e-12)
        if not over.any():
            break
        capped |= over
        excess = np.sum(w[over] - cap)
        w[over] = cap
        free = pos & ~capped
        w[free] *= 1 + excess / w[free].sum()
    return w, int(capped.sum())


def trim_and_recalibrate(
    data: pd.DataFrame, result: R, *, upper: float, max_rounds: int = 50, tol: float = 1e-12, max_iter: int = 50
) -> tuple[R, pd.DataFrame]:
    """Alternate trimming (cap ``upper`` x mean weight) and calibration.

    Parameters
    ----------
    data : DataFrame
        The sample used for ``result``.
    result : CalibrationResult
        A calibration; :meth:`~nonrecours.weights.calibration.CalibrationResult.recalibrate`
        redoes it (same margins, method, bounds and coding) from the trimmed weights
        (any object with ``weights`` and that ``recalibrate`` method does).
    upper : float
        Cap as a multiple of the mean respondent weight (> 1), e.g. 5.

    Returns
    -------
    (CalibrationResult, DataFrame)
        The last calibration (its ``d`` are the trimmed weights) and one report
        row per round: ``round``, ``n_capped``, ``cap``, ``max_weight``.

    Notes
    -----
    Potter (1990), A study of procedures to identify and trim extreme survey
    weights, Proc. ASA SRMS; Valliant, Dever & Kreuter (2018), *Practical
    Tools for Designing and Weighting Survey Samples*, ch. 14.
    """
    if not np.isfinite(upper) or upper <= 1:
        raise OptionError(message("the trimming factor must exceed 1", where="parameter trim", found=repr(upper)))
    w = result.weights
    resp = w > 0
    cap = float(upper * w[resp].mean())
    rows = []
    for k in range(1, max_rounds + 1):
        if w.max() <= cap * (1 + TOLERANCE):
            break
        wt, ncap = cap_weights(w, cap)
        result = result.recalibrate(data, wt, tol=tol, max_iter=max_iter)
        w = result.weights
        rows.append({"round": k, "n_capped": ncap, "cap": cap, "max_weight": float(w.max())})
    else:
        if w.max() > cap * (1 + TOLERANCE):
            warnings.warn(
                f"after {max_rounds} rounds of trimming and re-calibration the largest weight "
                f"({w.max():.6g}) still exceeds the cap ({cap:.6g})",
                ConvergenceWarning,
                stacklevel=2,
            )
    return result, pd.DataFrame(rows, columns=["round", "n_capped", "cap", "max_weight"])
