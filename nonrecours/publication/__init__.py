"""Publication: the one layer where tables leave the package, and disclosure control is applied once.

* :mod:`~nonrecours.publication.policy`: the :class:`DisclosurePolicy` — the
  thresholds (``min_n`` respondents, ``min_cell`` recipients; the only place
  the threshold is written) and the rules they apply with (eligibles,
  takers and non-takers each; margins protected; one pattern across years);
  :func:`check_threshold`, the one check of a threshold.
* :mod:`~nonrecours.publication.suppression`: the suppression engine — primary
  and secondary cell suppression of sample tables
  (:func:`protect_domain_counts`, :func:`protect_partitions`) and of
  administrative counts (:func:`protect_admin_counts`), and the one
  fixed-point loop that gives a series of years one pattern
  (:func:`one_pattern`, used by :func:`protect_series` and
  :func:`protect_admin_series`).
* :mod:`~nonrecours.publication.optimal`: the least-cost secondary suppression
  of linked administrative tables (a mixed-integer programme with the
  attacker's cuts), chosen by ``method="optimal"``; the heuristic is the default.
* :mod:`~nonrecours.publication.blanking`: tables that depend on hidden cells
  (estimates, gaps, changes, trends, model terms) blanked with them.
* :mod:`~nonrecours.publication.summaries`: histograms and extremes of
  individual values built from enough of them.
* :mod:`~nonrecours.publication.publishing`: :func:`publish`, the one call every
  table of an output folder goes through before it is written.

The names below are imported on first use (PEP 562): the CLI reads the
default thresholds (:data:`DEFAULT_MIN_N`, :data:`DEFAULT_MIN_CELL`) without
importing the engine.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

#: Public name -> module defining it.
_WHERE = {
    **dict.fromkeys(
        (
            "DisclosurePolicy",
            "DEFAULT_POLICY",
            "THRESHOLD",
            "DEFAULT_MIN_N",
            "DEFAULT_MIN_CELL",
            "ADMIN_COUNTS",
            "SURVEY_SIDES",
            "check_threshold",
        ),
        "policy",
    ),
    **dict.fromkeys(
        (
            "complete_suppression",
            "protect_admin_counts",
            "protect_domain_counts",
            "protect_partitions",
            "one_pattern",
            "protect_series",
            "protect_admin_series",
            "check_min_cell",
            "nested_in",
        ),
        "suppression",
    ),
    **dict.fromkeys(
        (
            "blank_changes",
            "blank_gaps",
            "blank_gap_rights",
            "blank_did",
            "blank_model_terms",
            "blank_rows",
            "blank_suppressed",
            "blank_hidden",
            "hidden_cells",
            "published_n",
            "publishable_changes",
            "code_key",
        ),
        "blanking",
    ),
    **dict.fromkeys(("extreme_means", "histogram_edges", "middle_mean"), "summaries"),
    "publish": "publishing",
}

__all__ = [
    "DisclosurePolicy",
    "DEFAULT_POLICY",
    "THRESHOLD",
    "DEFAULT_MIN_N",
    "DEFAULT_MIN_CELL",
    "check_threshold",
    "complete_suppression",
    "protect_admin_counts",
    "protect_domain_counts",
    "protect_partitions",
    "one_pattern",
    "protect_series",
    "protect_admin_series",
    "blank_changes",
    "code_key",
    "histogram_edges",
    "extreme_means",
    "blank_suppressed",
    "blank_gaps",
    "blank_rows",
    "blank_model_terms",
    "check_min_cell",
    "ADMIN_COUNTS",
    "SURVEY_SIDES",
    "publish",
    "blank_gap_rights",
    "blank_did",
    "blank_hidden",
    "hidden_cells",
    "published_n",
    "publishable_changes",
    "nested_in",
    "middle_mean",
]

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
