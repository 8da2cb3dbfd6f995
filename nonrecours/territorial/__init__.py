"""Territorial stage: small-area models (Fay–Herriot, unit-level EBP) and the comparison with the truth.

- :func:`fit_territories` (table level) over :func:`fit_fay_herriot`, :func:`analytic_mse`,
  :func:`bootstrap_mse`, :func:`gvf_variance` and :func:`benchmark`;
- :func:`compare_estimates`: bias, RMSE and coverage against the true rates;
- models that borrow strength (issue 26): :func:`fit_spatial_fh` (SAR effects on neighbours),
  :func:`fit_rao_yu` (AR(1) over years), :func:`fit_multivariate` (several rights or years together),
  :func:`fit_spatio_temporal` (SAR territory and AR(1) territory-year effects), :func:`fit_borrowing`
  (table level) and :func:`contour_neighbours`.
"""

from __future__ import annotations

from .._lazy import lazy_attributes
from .benchmark import BenchmarkResult, benchmark

#: Public name -> module defining it: imported on first use (PEP 562), so that ``territorial compare`` imports
#: neither the models nor ``scipy.stats`` (Shapiro-Wilk of the diagnostics). ``benchmark`` (light) is imported
#: above: the function shadows its module's name, which an import of the module would otherwise put here.
_WHERE = {
    "Comparison": "compare",
    "compare_estimates": "compare",
    "area_diagnostics": "diagnostics",
    "normality_test": "diagnostics",
    "FayHerriotFit": "fay_herriot",
    "fit_fay_herriot": "fay_herriot",
    "solve_model_variance": "fay_herriot",
    "MSEResult": "mse",
    "analytic_mse": "mse",
    "bootstrap_mse": "mse",
    "arcsin_sqrt": "proportions",
    "gvf_variance": "proportions",
    "sin_squared": "proportions",
    "OUTPUT_COLUMNS": "territories",
    "TerritorialFit": "territories",
    "fit_territories": "territories",
    "BorrowFit": "borrow",
    "BorrowingResult": "borrowing",
    "fit_borrowing": "borrowing",
    "fit_multivariate": "multivariate",
    "contour_neighbours": "neighbours",
    "fit_rao_yu": "rao_yu",
    "fit_spatial_fh": "spatial",
    "row_standardise": "spatial",
    "fit_spatio_temporal": "spatio_temporal",
}

__all__ = [
    "BenchmarkResult",
    "benchmark",
    "Comparison",
    "compare_estimates",
    "area_diagnostics",
    "normality_test",
    "FayHerriotFit",
    "fit_fay_herriot",
    "solve_model_variance",
    "MSEResult",
    "analytic_mse",
    "bootstrap_mse",
    "arcsin_sqrt",
    "gvf_variance",
    "sin_squared",
    "OUTPUT_COLUMNS",
    "TerritorialFit",
    "fit_territories",
    "BorrowFit",
    "fit_spatial_fh",
    "row_standardise",
    "fit_rao_yu",
    "fit_multivariate",
    "fit_spatio_temporal",
    "BorrowingResult",
    "fit_borrowing",
    "contour_neighbours",
]

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)

# The administrative rates are the administrative phase's: :mod:`nonrecours.admin`.
