"""Monte Carlo validation of the estimators on a synthetic population.

:func:`run_validation` draws many samples from one population and reports, for
every level (national, QPV / non-QPV, their gap, benefit, territory; direct
and Fay–Herriot), the relative bias, the empirical and mean estimated SEs and
the coverage of each CI method, each with its Monte Carlo error.
"""

from .metrics import MEASURE_COLUMNS, Accumulator
from .plot import plot_validation
from .study import DEFAULT_CI, DEFAULT_COVARIATES, ValidationResult, run_validation

__all__ = [
    "run_validation",
    "ValidationResult",
    "plot_validation",
    "Accumulator",
    "MEASURE_COLUMNS",
    "DEFAULT_CI",
    "DEFAULT_COVARIATES",
]
