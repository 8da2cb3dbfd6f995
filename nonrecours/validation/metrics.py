r"""Monte Carlo performance measures, accumulated one replication at a time.

For every estimand *k* (a level x domain x right) with true value
:math:`\theta_k`, the accumulator keeps power sums of the deviations
:math:`d_{rk} = \hat\theta_{rk} - \theta_k` (shifted by the truth, so the
sums stay well conditioned), of the estimated SEs and variances, and, per CI
method, the number of intervals covering :math:`\theta_k` and their widths.
Memory is O(K x methods) whatever the number of replications, and every update
is one vectorised pass over all estimands (no loop over domains).

The measures and their Monte Carlo standard errors follow Morris, White &
Crowther (2019), "Using simulation studies to evaluate statistical methods",
*Statistics in Medicine* 38, table 6.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["Accumulator", "MEASURE_COLUMNS"]

#: Columns of :meth:`Accumulator.measures`, after the key columns.
MEASURE_COLUMNS = (
    "ci",
    "truth",
    "replications",
    "mean_estimate",
    "bias",
    "rel_bias",
    "rel_bias_mcse",
    "emp_se",
    "emp_se_mcse",
    "mean_se",
    "mean_se_mcse",
    "se_ratio",
    "var_ratio",
    "var_ratio_mcse",
    "coverage",
    "coverage_mcse",
    "ci_available",
    "mean_width",
)


class Accumulator:
    """Running sums of estimates, SEs and CI coverage for K estimands and M CI methods.

    Parameters
    ----------
    truth : ndarray (K,)
        True (finite-population) values.
    methods : sequence of str
        Names of the CI methods, in the order of the rows of ``low``/``high``
        given to :meth:`add`.

    Notes
    -----
    A replication counts for estimand *k* when its estimate and SE are finite.
    Coverage is over the replications where the CI exists too; ``ci_available``
    is that share (a CI is missing, e.g., with 0 degrees of freedom: a domain
    inside a single PSU under the ``domain`` df rule).
    """

    def __init__(self, truth: np.ndarray, methods: Sequence[str]) -> None:
        self.truth = np.asarray(truth, dtype=float)
        self.methods = tuple(methods)
        K, M = self.truth.size, len(self.methods)
        self.count = np.zeros(K)
        self.s = np.zeros((4, K))  # sums of d, d^2, d^3, d^4
        self.se = np.zeros((2, K))  # sums of se, se^2
        self.var2 = np.zeros(K)  # sum of se^4
        self.hits = np.zeros((M, K))
        self.width = np.zeros((M, K))
        self.width_n = np.zeros((M, K))

    def add(self, estimate: np.ndarray, se: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        """Add one replication: estimates and SEs (K,), CI bounds (M, K); NaN = not available."""
        ok = np.isfinite(estimate) & np.isfinite(se)
        d = np.where(ok, estimate - self.truth, 0.0)
        s = np.where(ok, se, 0.0)
        self.count += ok
        p = d.copy()
        for j in range(4):
            self.s[j] += p
            p = p * d
        self.se[0] += s
        self.se[1] += s * s
        self.var2 += s**4
        low = np.atleast_2d(low)
        high = np.atleast_2d(high)
        fin = ok & np.isfinite(low) & np.isfinite(high)
        self.hits += fin & (low <= self.truth) & (self.truth <= high)
        self.width += np.where(fin, high - low, 0.0)
        self.width_n += fin

    def measures(self) -> pd.DataFrame:
        r"""Performance measures per estimand x CI method (:data:`MEASURE_COLUMNS`), rows ``k * M + m``.

        Notes
        -----
        With :math:`n` valid replications, :math:`\bar d` the mean deviation and
        :math:`s^2` the empirical variance of the estimates:

        - bias :math:`\bar d`, relative bias :math:`\bar d / \theta`, MC SE :math:`s / (\sqrt n |\theta|)`;
        - empirical SE :math:`s`, MC SE :math:`s / \sqrt{2(n-1)}`;
        - mean estimated SE :math:`\overline{se}`, MC SE :math:`sd(se) / \sqrt n`;
        - variance ratio :math:`\overline{se^2} / s^2` (1 when the variance estimator is unbiased),
          relative MC SE by the delta method,
          :math:`\sqrt{\mathrm{var}(se^2) / (n\, \overline{se^2}^2) + (m_4 / s^4 - 1) / n}`
          (:math:`m_4` the fourth central moment of the estimates; the covariance of the
          two terms is neglected);
        - coverage :math:`c` over the :math:`n_c` replications with a CI, MC SE :math:`\sqrt{c (1 - c) / n_c}`.
        """
        n = self.count
        M = len(self.methods)
        with np.errstate(invalid="ignore", divide="ignore"):
            m1, m2, m3, m4 = (self.s[j] / n for j in range(4))
            var = (self.s[1] - n * m1**2) / (n - 1)
            var = np.where(n > 1, np.maximum(var, 0.0), np.nan)
            emp_se = np.sqrt(var)
            cm4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
            cm2 = np.maximum(m2 - m1**2, 0.0)
            mean_se = self.se[0] / n
            sd_se = np.sqrt(np.maximum(self.se[1] / n - mean_se**2, 0.0) * n / (n - 1))
            mean_var = self.se[1] / n
            var_var = np.maximum(self.var2 / n - mean_var**2, 0.0) * n / (n - 1)
            var_ratio = mean_var / var
            rel = np.sqrt(var_var / (n * mean_var**2) + np.maximum(cm4 / cm2**2 - 1, 0.0) / n)
            base = pd.DataFrame(
                {
                    "truth": self.truth,
                    "replications": n.astype(np.int64),
                    "mean_estimate": self.truth + m1,
                    "bias": m1,
                    "rel_bias": m1 / self.truth,
                    "rel_bias_mcse": emp_se / np.sqrt(n) / np.abs(self.truth),
                    "emp_se": emp_se,
                    "emp_se_mcse": emp_se / np.sqrt(2 * (n - 1)),
                    "mean_se": mean_se,
                    "mean_se_mcse": sd_se / np.sqrt(n),
                    "se_ratio": mean_se / emp_se,
                    "var_ratio": var_ratio,
                    "var_ratio_mcse": var_ratio * rel,
                }
            )
            cov = self.hits / self.width_n
            cov_mcse = np.sqrt(cov * (1 - cov) / self.width_n)
            width = self.width / self.width_n
            avail = self.width_n / n
        out = base.iloc[np.repeat(np.arange(len(base)), M)].reset_index(drop=True)
        out.insert(0, "ci", np.tile(np.asarray(self.methods, dtype=object), len(base)))
        out["coverage"] = cov.T.ravel()
        out["coverage_mcse"] = cov_mcse.T.ravel()
        out["ci_available"] = avail.T.ravel()
        out["mean_width"] = width.T.ravel()
        return out[list(MEASURE_COLUMNS)]
