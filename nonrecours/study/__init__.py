"""Reproducible studies: a TOML study file, run end to end into tables, a report and a manifest.

>>> from nonrecours.study import load_study, run_study      # doctest: +SKIP
>>> result = run_study(load_study("examples/study.toml"))    # doctest: +SKIP
>>> result.tables["gap_qpv"]                                  # doctest: +SKIP

:func:`~nonrecours.study.demo.run_demo` simulates a population, writes the
example study next to it and runs it (``nonrecours demo``).
"""

from __future__ import annotations

from .._lazy import lazy_attributes

#: Public name -> module defining it: imported on first use (PEP 562), so that ``nonrecours init`` (the example
#: study) and ``nonrecours respond`` (one stage) do not import every stage, the report and matplotlib.
_WHERE = {
    "StudyConfig": "config",
    "load_study": "config",
    "parse_study": "config",
    "example_study": "demo",
    "run_demo": "demo",
    "summary_table": "demo",
    "OUTPUT_FILES": "pipeline",
    "OUTPUT_TABLES": "pipeline",
    "StudyResult": "pipeline",
    "run_study": "pipeline",
}

__all__ = [
    "StudyConfig",
    "load_study",
    "parse_study",
    "run_study",
    "StudyResult",
    "OUTPUT_FILES",
    "OUTPUT_TABLES",
    "run_demo",
    "example_study",
    "summary_table",
]

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
