"""Weighting: non-response adjustment, calibration, trimming and replicate weights.

The names below are imported on first use (PEP 562): reading a weighted
file's sidecar (``nonrecours estimate``) does not import the calibration and
replicate machinery.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

#: Public name -> module defining it.
_WHERE = {
    "CalibrationResult": "calibration",
    "calibrate": "calibration",
    "calibrate_weights": "calibration",
    "recalibrate_replicates": "calibration",
    "Margins": "margins",
    "read_margins": "margins",
    "count_margins": "margins",
    "NonresponseResult": "nonresponse",
    "adjust_classes": "nonresponse",
    "adjust_propensity": "nonresponse",
    "make_replicates": "replicates",
    "replicate_multipliers": "replicates",
    "cap_weights": "trimming",
    "trim_and_recalibrate": "trimming",
}

__all__ = [
    "Margins",
    "read_margins",
    "count_margins",
    "CalibrationResult",
    "calibrate",
    "calibrate_weights",
    "recalibrate_replicates",
    "NonresponseResult",
    "adjust_classes",
    "adjust_propensity",
    "make_replicates",
    "replicate_multipliers",
    "cap_weights",
    "trim_and_recalibrate",
]


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
