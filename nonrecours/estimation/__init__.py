"""Design-based estimation: rates, means, totals, ratios and gaps with Taylor or replicate variances.

Public API::

    estimate_rates(design, rights, by=None, *, ci="logit", level=0.95, df="domain", thresholds=QualityThresholds())
    estimate_counts(design, rights, by=None, *, level=0.95, df="domain", thresholds=...)  # takers, non-takers
    estimate_takeup(design, rights, by=None, ...)  # (rates, counts) from one coding of the entries
    estimate_quantiles(design, variables, by=None, *, quantiles=0.5, level=0.95, df="domain", thresholds=...)
    estimate_means(design, variables, by=None, *, level=0.95, df="domain", thresholds=...)
    estimate_totals(design, variables, by=None, *, level=0.95, df="domain", thresholds=...)
    estimate_ratio(design, numerator, denominator, by=None, *, level=0.95, df="domain", thresholds=...)
    estimate_gap(design, rights, gap, *, levels=None, by=None, ci="logit", level=0.95, df="domain", thresholds=...)
    gap_between(result, gap, *, levels=None, reference=None, adjust="none")  # k levels: every pair
    contrast(result, {label: coefficient} or {name: {label: coefficient}})  # R's svycontrast
    gaps(result, a, b, *, df=None)

Each returns a frozen result (:class:`EstimateResult`, :class:`GapResult`) whose
``to_frame()`` is the table of the ``nonrecours estimate`` command.
"""

from .contrasts import contrast
from .estimators import (
    estimate_counts,
    estimate_gap,
    estimate_means,
    estimate_rates,
    estimate_ratio,
    estimate_takeup,
    estimate_totals,
    gap_between,
    gaps,
)
from .quantiles import estimate_quantiles
from .results import EstimateResult, GapResult, QualityThresholds, VarianceFactor

__all__ = [
    "estimate_rates",
    "estimate_counts",
    "estimate_takeup",
    "estimate_means",
    "estimate_totals",
    "estimate_ratio",
    "estimate_quantiles",
    "estimate_gap",
    "gap_between",
    "gaps",
    "contrast",
    "EstimateResult",
    "GapResult",
    "QualityThresholds",
    "VarianceFactor",
]
