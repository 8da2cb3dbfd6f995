"""nonrecours: design-based measurement of non-take-up of social rights.

Sample design, weighting, take-up rates with survey variances and confidence
intervals, small-area (Fay–Herriot) estimates per territory, and reproducible
study reports, for recipients of minimum income benefits (RSA, AAH, ASPA, ASS)
and the rights CMU-C, ACS, TPN and TSS, in priority neighbourhoods (QPV) and
the rest of their urban areas.
"""

from ._version import __version__
from .errors import (
    ConfigError,
    ConvergenceError,
    DesignError,
    InputError,
    NonrecoursError,
    NonrecoursWarning,
    OptionError,
    OutputError,
)

__all__ = [
    "__version__",
    "NonrecoursError",
    "InputError",
    "OptionError",
    "DesignError",
    "ConvergenceError",
    "ConfigError",
    "OutputError",
    "NonrecoursWarning",
]
