"""Mean squared error of Fay–Herriot EBLUPs: analytic (Prasad–Rao, Datta–Lahiri) and bootstrap.

The analytic estimators are those of R sae's ``mseFH``; the bootstrap is the
parametric bootstrap of González-Manteiga et al. (2008) (sae's ``pbmseFH``),
vectorised: the ``B`` bootstrap data sets are a ``B x m`` matrix whose model
variances are found together by :func:`~nonrecours.territorial.fay_herriot.solve_model_variance`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._frozen import freeze_arrays
from .._parallel import check_workers, chunks, ordered_map, spawn
from ..options import FHTransform, check_option
from .fay_herriot import FayHerriotFit, gls, solve_model_variance

__all__ = ["MSEResult", "analytic_mse", "bootstrap_mse"]


@dataclass(frozen=True)
class MSEResult:
    """MSE estimates, one per area of a :class:`FayHerriotFit` (same order).

    Attributes
    ----------
    kind : {"prasad-rao", "datta-lahiri", "datta-rao-smith", "li-lahiri", "yoshimori-lahiri", "bootstrap"}
    mse : ndarray
        On the scale of the reported estimates (the proportion scale after an arcsine transform).
    mse_model : ndarray
        On the scale of the model (equal to ``mse`` without a transform); the CIs use it.
    g1, g2, g3 : ndarray or None
        Components of the analytic estimator (None for the bootstrap).
    bias : float
        Bias correction term ``b`` of the model variance (0 for REML and the bootstrap).
    replicates : int
    seed : int or None
    """

    kind: str
    mse: np.ndarray
    mse_model: np.ndarray
    g1: np.ndarray | None = None
    g2: np.ndarray | None = None
    g3: np.ndarray | None = None
    bias: float = 0.0
    replicates: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

    def to_frame(self) -> pd.DataFrame:
        """One row per area: ``mse``, ``mse_model`` and the components when analytic."""
        out: dict[str, np.ndarray | None] = {"mse": self.mse, "mse_model": self.mse_model}
        if self.g1 is not None:
            out.update(g1=self.g1, g2=self.g2, g3=self.g3)
        return pd.DataFrame(out)


def analytic_mse(fit: FayHerriotFit) -> MSEResult:
    """Second-order unbiased analytic MSE estimator of the EBLUP, as in R sae's ``mseFH``.

    Parameters
    ----------
    fit : FayHerriotFit

    Returns
    -------
    MSEResult
        ``kind`` is ``"prasad-rao"`` (REML), ``"datta-lahiri"`` (ML) or ``"datta-rao-smith"`` (FH).

    Notes
    -----
    With :math:`B_d = D_d/(\\hat A + D_d)` and :math:`Q = (X^\\top V^{-1} X)^{-1}`:

    .. math:: \\mathrm{mse}_d = g_{1d} + g_{2d} + 2 g_{3d} - b\\,B_d^2,\\quad
              g_{1d} = D_d (1 - B_d),\\ g_{2d} = B_d^2 x_d^\\top Q x_d,\\
              g_{3d} = B_d^2 \\bar V(\\hat A)/(\\hat A + D_d).

    REML (Prasad & Rao 1990; Datta & Lahiri 2000): :math:`\\bar V = 2/\\sum_d (\\hat A+D_d)^{-2}`, :math:`b = 0`.
    ML (Datta & Lahiri 2000): same :math:`\\bar V`,
    :math:`b = -\\mathrm{tr}(Q X^\\top V^{-2} X)/\\sum_d (\\hat A+D_d)^{-2}`.
    Adjusted REML, ``amrl`` (Li & Lahiri 2010): same :math:`\\bar V`, bias :math:`b = \\bar V/\\hat A`
    (from :math:`(\\log h)' = 1/A`), and the estimate is floored at :math:`g_1 + g_2`;
    ``amrl-yl`` (Yoshimori & Lahiri 2014): its bias is :math:`o(m^{-1})`, so the
    Prasad–Rao form with :math:`b = 0` stays second-order unbiased.
    FH moments (Datta, Rao & Smith 2005): :math:`\\bar V = 2m/(\\sum_d (\\hat A+D_d)^{-1})^2`,
    :math:`b = 2[m\\sum_d (\\hat A+D_d)^{-2} - (\\sum_d (\\hat A+D_d)^{-1})^2]/(\\sum_d (\\hat A+D_d)^{-1})^3`.
    Its :math:`b \\ge 0` (Cauchy–Schwarz) is subtracted with no floor, exactly as sae's ``mseFH``: the
    estimate may then fall below :math:`g_1 + g_2` when :math:`\\hat A` is small; only ``amrl`` is floored.
    An area without a sample (:math:`B_d = 1`, :math:`g_3 = 0`) gets
    :math:`\\hat A + x_d^\\top Q x_d - b` (Rao & Molina 2015, section 6.2.5).
    """
    s = fit.in_sample
    A = fit.model_variance
    D = fit.vardir[s]
    m = D.size
    w = 1.0 / (A + D)
    sw2 = np.sum(w * w)
    Q = fit.coef_cov
    if fit.method == "fh":
        sw = np.sum(w)
        vbar = 2.0 * m / sw**2
        b = 2.0 * (m * sw2 - sw**2) / sw**3
        kind = "datta-rao-smith"
    elif fit.method == "ml":
        vbar = 2.0 / sw2
        X = fit.X[s]
        b = -float(np.trace(Q @ ((X * (w * w)[:, None]).T @ X))) / sw2
        kind = "datta-lahiri"
    elif fit.method == "amrl":
        vbar = 2.0 / sw2
        b = vbar / A
        kind = "li-lahiri"
    else:  # reml, and amrl-yl whose bias is o(1/m) (Yoshimori & Lahiri 2014): the Prasad-Rao form
        vbar = 2.0 / sw2
        b = 0.0
        kind = "prasad-rao" if fit.method == "reml" else "yoshimori-lahiri"
    n_all = fit.X.shape[0]
    Bd = np.ones(n_all)
    Bd[s] = D * w
    g1 = np.full(n_all, A)
    g1[s] = D * (1.0 - Bd[s])
    g2 = Bd**2 * np.einsum("di,di->d", fit.X @ Q, fit.X)  # x_d' Q x_d: one product and a row-wise dot
    g3 = np.zeros(n_all)
    g3[s] = Bd[s] ** 2 * vbar * w
    mse = g1 + g2 + 2.0 * g3 - b * Bd**2
    if fit.method == "amrl":  # Li-Lahiri's positive bias correction can exceed the g3 terms when A is small:
        mse = np.maximum(mse, g1 + g2)  # never below g1 + g2 (the FH moments' b > 0 is left as sae's mseFH has it)
    return MSEResult(kind=kind, mse=mse, mse_model=mse, g1=g1, g2=g2, g3=g3, bias=float(b))


def _back(theta: np.ndarray) -> np.ndarray:
    """Arcsine-square-root back-transform :math:`\\sin^2(\\theta)` with :math:`\\theta` clipped to [0, pi/2]."""
    return np.sin(np.clip(theta, 0.0, np.pi / 2)) ** 2


@dataclass(frozen=True, eq=False)
class _BootstrapDraw:
    """One chunk of parametric bootstrap replicates (the unit of work of a worker)."""

    X: np.ndarray
    s: np.ndarray
    D: np.ndarray
    mu: np.ndarray
    A: float
    method: str
    tol: float
    transform: str

    def run(self, b: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Sums over ``b`` replicates of the squared errors on the model scale and back-transformed."""
        s, D, n_all = self.s, self.D, self.X.shape[0]
        theta = self.mu[None, :] + np.sqrt(self.A) * rng.standard_normal((b, n_all))
        ystar = theta[:, s] + np.sqrt(D)[None, :] * rng.standard_normal((b, int(s.sum())))
        a_star, _ = solve_model_variance(ystar, D, self.X[s], self.method, tol=self.tol)
        beta, _ = gls(ystar, D, self.X[s], a_star)
        est = beta @ self.X.T
        gamma = a_star[:, None] / (a_star[:, None] + D[None, :])
        est[:, s] += gamma * (ystar - est[:, s])
        sum_m = np.sum((est - theta) ** 2, axis=0)
        sum_o = np.sum((_back(est) - _back(theta)) ** 2, axis=0) if self.transform == "arcsin" else np.zeros(n_all)
        return sum_m, sum_o


def bootstrap_mse(
    fit: FayHerriotFit,
    *,
    replicates: int = 1000,
    seed: int | np.random.Generator = 1,
    transform: FHTransform | str = "none",
    chunk: int = 250,
    workers: int = 1,
) -> MSEResult:
    """Parametric bootstrap MSE of the EBLUP (and of its back-transform), vectorised over replicates.

    Parameters
    ----------
    fit : FayHerriotFit
    replicates : int
        Number of bootstrap data sets ``B``.
    seed : int or numpy.random.Generator
    transform : {"none", "arcsin"}
        With ``"arcsin"`` the model is on :math:`\\arcsin\\sqrt{p}` and ``mse`` is
        computed for the back-transformed estimate :math:`\\sin^2(\\hat\\theta_d)`.
    chunk : int
        Replicates handled per vectorised pass (bounds memory at ``chunk x m``
        arrays); each chunk draws from its own stream, spawned from ``seed``.
    workers : int
        Processes running the chunks (joblib/loky); the result is bit-identical
        whatever their number.

    Returns
    -------
    MSEResult
        ``kind="bootstrap"``; ``mse_model`` is on the model scale.

    Notes
    -----
    For :math:`b = 1..B`: :math:`\\theta^*_d = x_d^\\top\\hat\\beta + u^*_d`,
    :math:`u^*_d \\sim N(0, \\hat A)`, :math:`y^*_d = \\theta^*_d + e^*_d`,
    :math:`e^*_d \\sim N(0, D_d)`; refit (same method) and form
    :math:`\\hat\\theta^*_d`; :math:`\\mathrm{mse}_d = B^{-1}\\sum_b (\\hat\\theta^*_d - \\theta^*_d)^2`
    (González-Manteiga, Lombardía, Molina, Morales & Santamaría 2008; sae's
    ``pbmseFH``). Areas without a sample get the synthetic
    :math:`x_d^\\top\\hat\\beta^*`. Under the arcsine transform the same is done for
    :math:`\\sin^2(\\hat\\theta^*_d)` against :math:`\\sin^2(\\theta^*_d)`
    (Casas-Cordero, Encina & Lahiri 2016). Bias is :math:`O(m^{-1})`.
    """
    check_option("transform", transform, FHTransform)
    if not isinstance(replicates, (int, np.integer)) or replicates < 1:
        from ..errors import OptionError, message

        raise OptionError(
            message(
                "the number of bootstrap replicates must be a positive integer",
                where="parameter replicates",
                found=repr(replicates),
            )
        )
    workers = check_workers(workers)
    s = fit.in_sample
    mu = fit.X @ fit.coef
    sizes = [len(r) for r in chunks(int(replicates), int(chunk))]
    rngs = spawn(seed, len(sizes))
    draw = _BootstrapDraw(fit.X, s, fit.vardir[s], mu, fit.model_variance, fit.method, max(fit.tol, 1e-10), transform)
    n_all = fit.X.shape[0]
    sum_m = np.zeros(n_all)
    sum_o = np.zeros(n_all)
    for m_part, o_part in ordered_map(draw.run, list(zip(sizes, rngs)), workers=workers):  # in chunk order
        sum_m += m_part
        sum_o += o_part
    mse_model = sum_m / replicates
    mse = sum_o / replicates if transform == "arcsin" else mse_model
    return MSEResult(
        kind="bootstrap",
        mse=mse,
        mse_model=mse_model,
        replicates=int(replicates),
        seed=int(seed) if isinstance(seed, (int, np.integer)) else None,
    )
