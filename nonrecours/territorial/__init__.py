"""Territorial stage: small-area models (Fay–Herriot, unit-level EBP) and the comparison with the truth.

- :func:`fit_territories` (table level) over :func:`fit_fay_herriot`, :func:`analytic_mse`,
  :func:`bootstrap_mse`, :func:`gvf_variance` and :func:`benchmark`;
- :func:`compare_estimates`: bias, RMSE and coverage against the true rates;
- models that borrow strength (issue 26): :func:`fit_spatial_fh` (SAR effects on neighbours),
  :func:`fit_rao_yu` (AR(1) over years), :func:`fit_multivariate` (several rights or years together),
  :func:`fit_borrowing` (table level) and :func:`contour_neighbours`.
"""

from .benchmark import BenchmarkResult, benchmark
from .borrow import BorrowFit
from .borrowing import BorrowingResult, fit_borrowing
from .compare import Comparison, compare_estimates
from .diagnostics import area_diagnostics, normality_test
from .fay_herriot import FayHerriotFit, fit_fay_herriot, solve_model_variance
from .mse import MSEResult, analytic_mse, bootstrap_mse
from .multivariate import fit_multivariate
from .neighbours import contour_neighbours
from .proportions import arcsin_sqrt, gvf_variance, sin_squared
from .rao_yu import fit_rao_yu
from .spatial import fit_spatial_fh, row_standardise
from .territories import OUTPUT_COLUMNS, TerritorialFit, fit_territories

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
    "BorrowingResult",
    "fit_borrowing",
    "contour_neighbours",
]

# The administrative rates are the administrative phase's: :mod:`nonrecours.admin`.
