"""Sample design: allocation, selection and the frozen :class:`SurveyDesign`.

The names below are imported on first use (PEP 562), so that reading a
design (``nonrecours estimate``) does not import the allocation's and the
selection's dependencies (``scipy.stats``, ``scipy.optimize``).
"""

from __future__ import annotations

from .._lazy import lazy_attributes

#: Public name -> module defining it.
_WHERE = {
    "Allocation": "allocation",
    "allocate": "allocation",
    "allocate_frame": "allocation",
    "inclusion_probabilities": "pps",
    "sampford_joint_inclusion": "pps",
    "allocate_precision": "precision",
    "Sample": "selection",
    "select": "selection",
    "Calibration": "survey_design",
    "Replicates": "survey_design",
    "SurveyDesign": "survey_design",
    "Stage": "survey_design",
    "JointProbabilities": "pps_variance",
    "supplied_replicates": "repweights",
}

__all__ = [
    "SurveyDesign",
    "Calibration",
    "Replicates",
    "Allocation",
    "allocate",
    "allocate_frame",
    "allocate_precision",
    "Sample",
    "select",
    "inclusion_probabilities",
    "sampford_joint_inclusion",
    "Stage",
    "JointProbabilities",
    "supplied_replicates",
]


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
