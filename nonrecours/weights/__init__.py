"""Weighting: non-response adjustment, calibration, trimming and replicate weights."""

from .calibration import CalibrationResult, calibrate, calibrate_weights, recalibrate_replicates
from .margins import Margins, read_margins
from .nonresponse import NonresponseResult, adjust_classes, adjust_propensity
from .replicates import make_replicates, replicate_multipliers
from .trimming import cap_weights, trim_and_recalibrate

__all__ = ["Margins", "read_margins", "CalibrationResult", "calibrate", "calibrate_weights",
           "recalibrate_replicates", "NonresponseResult", "adjust_classes", "adjust_propensity",
           "make_replicates", "replicate_multipliers", "cap_weights", "trim_and_recalibrate"]
