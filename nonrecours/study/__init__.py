"""Reproducible studies: a TOML study file, run end to end into tables, a report and a manifest.

>>> from nonrecours.study import load_study, run_study      # doctest: +SKIP
>>> result = run_study(load_study("examples/study.toml"))    # doctest: +SKIP
>>> result.tables["gap_qpv"]                                  # doctest: +SKIP

:func:`~nonrecours.study.demo.run_demo` simulates a population, writes the
example study next to it and runs it (``nonrecours demo``).
"""

from .config import StudyConfig, load_study, parse_study
from .demo import example_study, run_demo, summary_table
from .pipeline import OUTPUT_FILES, OUTPUT_TABLES, StudyResult, run_study

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
