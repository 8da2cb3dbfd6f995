"""The stages of a study, each a small function ``stage(config, state) -> updates``.

A stage reads what earlier stages put in ``state`` and returns a dict of new
entries: plain values (``frame``, ``sample``, ``design``, ...) and, merged
across stages, ``tables`` (written to the output folder), ``methods`` (what
ran, for the report's methods section), ``seeds``, ``counts`` and
``weight_summary``. Stages call the library's modules
(:mod:`nonrecours.design`, :mod:`nonrecours.weights`,
:mod:`nonrecours.estimation`, :mod:`nonrecours.territorial`); their only
computations of their own are reading inputs and, for a dry run, drawing who
responds.
"""

from ._common import RESPONDED, State
from .admin import admin_stage
from .analysis import analysis_stage
from .design import allocation_stage, selection_stage
from .estimation import estimation_stage
from .follow_up import follow_up_stage
from .frame import frame_stage
from .responses import responses_stage, simulate_responses
from .territorial import territorial_stage
from .weights import weighting_stage

__all__ = [
    "STAGES",
    "State",
    "RESPONDED",
    "frame_stage",
    "allocation_stage",
    "selection_stage",
    "responses_stage",
    "simulate_responses",
    "weighting_stage",
    "estimation_stage",
    "analysis_stage",
    "territorial_stage",
    "follow_up_stage",
    "admin_stage",
]

#: The stages of a study, in order: (name, function).
STAGES = (
    ("frame", frame_stage),
    ("allocation", allocation_stage),
    ("selection", selection_stage),
    ("responses", responses_stage),
    ("weighting", weighting_stage),
    ("estimation", estimation_stage),
    ("analysis", analysis_stage),
    ("territorial", territorial_stage),
    ("admin", admin_stage),
    ("follow_up", follow_up_stage),
)
