"""Synthetic population of benefit recipients, territories and true take-up rates.

Real recipient files are confidential; :func:`simulate_population` builds a
believable, reproducible stand-in (see :mod:`nonrecours.simulate.params` for
every parameter, its default and its source).
"""

from .params import (
    AGE_BANDS,
    BENEFITS,
    HOUSEHOLDS,
    HOUSING,
    RIGHTS,
    CompositionParams,
    CovariateParams,
    EligibilityParams,
    RightModel,
    SimulationParams,
    TakeupParams,
    TerritoryParams,
)
from .population import FILE_NAMES, Population, expected_recipients, simulate_population

__all__ = [
    "simulate_population",
    "expected_recipients",
    "Population",
    "SimulationParams",
    "TerritoryParams",
    "CovariateParams",
    "CompositionParams",
    "EligibilityParams",
    "TakeupParams",
    "RightModel",
    "BENEFITS",
    "AGE_BANDS",
    "HOUSEHOLDS",
    "HOUSING",
    "RIGHTS",
    "FILE_NAMES",
]
