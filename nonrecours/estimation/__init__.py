"""Design-based estimation: rates, means, totals, ratios and gaps with Taylor or replicate variances.

Public API::

    estimate_rates(design, rights, by=None, *, ci="logit", level=0.95, df="domain", thresholds=QualityThresholds())
    estimate_means(design, variables, by=None, *, level=0.95, df="domain", thresholds=...)
    estimate_totals(design, variables, by=None, *, level=0.95, df="domain", thresholds=...)
    estimate_ratio(design, numerator, denominator, by=None, *, level=0.95, df="domain", thresholds=...)
    estimate_gap(design, rights, gap, *, levels=None, by=None, ci="logit", level=0.95, df="domain", thresholds=...)
    gap_between(result, gap, *, levels=None)
    gaps(result, a, b, *, df=None)

Each returns a frozen result (:class:`EstimateResult`, :class:`GapResult`) whose
``to_frame()`` is the table of the ``nonrecours estimate`` command.
"""

from .estimators import (estimate_gap, estimate_means, estimate_rates, estimate_ratio, estimate_totals, gap_between,
                         gaps)
from .results import EstimateResult, GapResult, QualityThresholds, VarianceFactor

__all__ = ["estimate_rates", "estimate_means", "estimate_totals", "estimate_ratio", "estimate_gap", "gap_between", "gaps",
           "EstimateResult", "GapResult", "QualityThresholds", "VarianceFactor"]
