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

from __future__ import annotations

from typing import Any

from ..._lazy import lazy_attributes

#: Public name -> module defining it: imported on first use (PEP 562), so that ``nonrecours respond`` (one stage)
#: and ``nonrecours series`` (the follow-up stage's readers) do not import the others.
_WHERE = {
    "RESPONDED": "_common",
    "State": "_common",
    "admin_stage": "admin",
    "analysis_stage": "analysis",
    "combined_stage": "admin",
    "allocation_stage": "design",
    "selection_stage": "design",
    "estimation_stage": "estimation",
    "follow_up_stage": "follow_up",
    "frame_stage": "frame",
    "responses_stage": "responses",
    "simulate_responses": "responses",
    "territorial_stage": "territorial",
    "weighting_stage": "weights",
}

__all__ = [
    "STAGES",
    "NEEDS",
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
    "combined_stage",
]

#: The stages of a study, in order: (name, function name); ``STAGES`` holds the functions.
_ORDER = (
    ("frame", "frame_stage"),
    ("allocation", "allocation_stage"),
    ("selection", "selection_stage"),
    ("responses", "responses_stage"),
    ("weighting", "weighting_stage"),
    ("estimation", "estimation_stage"),
    ("admin", "admin_stage"),
    ("analysis", "analysis_stage"),
    ("territorial", "territorial_stage"),
    ("combined", "combined_stage"),
    ("follow_up", "follow_up_stage"),
)

#: The stages whose outputs each stage reads from the state (the state's keys in the comments; ``runs``, the
#: earlier runs of a follow-up, is there before any stage; ``admin_phase``, the administrative phase started with
#: the study). A stage that the next one does not read may run beside the next ones
#: (:func:`nonrecours.study.pipeline.run_study`), received before the first stage that reads it: ``admin`` (read by
#: ``combined``) while ``analysis`` and ``territorial`` run.
NEEDS: dict[str, tuple[str, ...]] = {
    "frame": (),
    "allocation": ("frame",),  # frame
    "selection": ("frame", "allocation"),  # frame, allocation
    "responses": ("allocation", "selection"),  # sample, tables.allocation
    "weighting": ("frame", "selection", "responses"),  # frame, sample (admin_phase: its own, when holders)
    "estimation": ("selection", "weighting"),  # design, design_frame_margins, joint
    "admin": ("weighting", "estimation"),  # admin_phase, design, tables.estimates_qpv
    "analysis": ("weighting", "estimation"),  # design, tables.estimates_*
    "territorial": ("frame", "selection", "responses", "weighting", "estimation"),  # frame, sample, model_direct,
    # tables.estimates_territory
    "combined": ("territorial", "admin"),  # tables.sae, comparison, admin_corrected, admin_rates
    "follow_up": ("weighting", "estimation"),  # design, tables.estimates_*
}

_getattr, __dir__ = lazy_attributes(__name__, _WHERE, __all__)


def __getattr__(name: str) -> Any:
    """``STAGES`` (the stages of a study, in order: (name, function)) imports every stage; the rest one module."""
    if name == "STAGES":
        value = tuple((stage, _getattr(function)) for stage, function in _ORDER)
        globals()["STAGES"] = value
        return value
    return _getattr(name)
