"""Sample design: allocation, selection and the frozen :class:`SurveyDesign`."""

from .allocation import Allocation, allocate, allocate_frame
from .pps import inclusion_probabilities, sampford_joint_inclusion
from .precision import allocate_precision
from .selection import Sample, select
from .survey_design import Calibration, Replicates, SurveyDesign

__all__ = ["SurveyDesign", "Calibration", "Replicates", "Allocation", "allocate", "allocate_frame",
           "allocate_precision", "Sample", "select", "inclusion_probabilities", "sampford_joint_inclusion"]
