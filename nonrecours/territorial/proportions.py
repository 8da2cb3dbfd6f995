"""Direct estimates that are proportions: smoothed sampling variances and the arcsine transform.

A direct take-up rate of 0 or 1, or one from a handful of respondents, has an
estimated variance of 0 (or a wildly unstable one); the Fay–Herriot model
treats the sampling variances as known, so they are smoothed by a generalised
variance function (GVF) before fitting.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, message

__all__ = ["gvf_variance", "arcsin_sqrt", "sin_squared"]


def gvf_variance(
    estimate: np.ndarray,
    n: np.ndarray,
    deff: np.ndarray | None = None,
    *,
    transform: str = "none",
    where: str = "direct estimates",
) -> tuple[np.ndarray, float, float]:
    """Sampling variances of direct proportions from a generalised variance function.

    Parameters
    ----------
    estimate : ndarray
        Direct proportions :math:`\\hat p_d` in [0, 1].
    n : ndarray
        Sample sizes :math:`n_d > 0`.
    deff : ndarray, optional
        Design effects; the pooled value is their ``n``-weighted mean over the
        finite positive ones (1 when there are none).
    transform : {"none", "arcsin"}
        ``"arcsin"`` returns the variance of :math:`\\arcsin\\sqrt{\\hat p_d}`.
    where : str
        Named in error messages.

    Returns
    -------
    vardir : ndarray
    pbar : float
        Pooled proportion :math:`\\bar p = \\sum_d n_d \\hat p_d / \\sum_d n_d`.
    deff_bar : float

    Notes
    -----
    :math:`D_d = \\bar p (1-\\bar p)\\,\\overline{\\mathrm{deff}} / n_d`, and on the
    arcsine-square-root scale :math:`D_d = \\overline{\\mathrm{deff}}/(4 n_d)` (the
    delta method: :math:`\\mathrm{d}\\arcsin\\sqrt p/\\mathrm{d}p = 1/(2\\sqrt{p(1-p)})`).
    Rao & Molina (2015), section 6.1.2 and example 6.1.3; Casas-Cordero,
    Encina & Lahiri (2016) for the arcsine scale.

    Examples
    --------
    >>> v, pbar, deff = gvf_variance(np.array([0.0, 0.5, 1.0]), np.array([10, 20, 10]))
    >>> round(pbar, 3), bool((v > 0).all())
    (0.5, True)
    """
    p = np.asarray(estimate, dtype=float)
    n = np.asarray(n, dtype=float)
    bad = ~(np.isfinite(n) & (n > 0))
    if bad.any():
        raise InputError(
            message(
                "the GVF needs a positive sample size for every direct estimate",
                where=where,
                found=f"{int(bad.sum())} rows with n missing or <= 0",
                hint="drop territories without respondents: they are predicted synthetically",
            )
        )
    outside = ~((p >= 0) & (p <= 1))
    if outside.any():
        raise InputError(
            message("direct proportions must lie in [0, 1]", where=where, found=f"{int(outside.sum())} values outside")
        )
    if deff is None:
        deff_bar = 1.0
    else:
        deff = np.asarray(deff, dtype=float)
        ok = np.isfinite(deff) & (deff > 0)
        deff_bar = float(np.sum(n[ok] * deff[ok]) / np.sum(n[ok])) if ok.any() else 1.0
    if p.size == 0:  # no direct estimate (all suppressed): the model fit reports too few territories
        return np.zeros(0), np.nan, deff_bar
    pbar = float(np.sum(n * p) / np.sum(n))
    if transform == "arcsin":
        return deff_bar / (4.0 * n), pbar, deff_bar
    if pbar <= 0.0 or pbar >= 1.0:
        raise InputError(
            message(
                "the pooled proportion is 0 or 1, so the GVF variance is 0",
                where=where,
                found=f"pooled rate {pbar:g}",
                hint="use transform='arcsin'",
            )
        )
    return pbar * (1.0 - pbar) * deff_bar / n, pbar, deff_bar


def arcsin_sqrt(p: np.ndarray) -> np.ndarray:
    """Variance-stabilising transform :math:`\\arcsin\\sqrt{p}` (p clipped to [0, 1])."""
    return np.arcsin(np.sqrt(np.clip(np.asarray(p, dtype=float), 0.0, 1.0)))


def sin_squared(theta: np.ndarray) -> np.ndarray:
    """Back-transform :math:`\\sin^2\\theta` with :math:`\\theta` clipped to :math:`[0, \\pi/2]`,
    so results lie in [0, 1]."""
    return np.sin(np.clip(np.asarray(theta, dtype=float), 0.0, np.pi / 2)) ** 2
