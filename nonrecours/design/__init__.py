"""Sample design: allocation, selection and the frozen :class:`SurveyDesign`."""

from .survey_design import Calibration, Replicates, SurveyDesign

__all__ = ["SurveyDesign", "Calibration", "Replicates"]
