"""The administrative phase, whole: the organisms' files and their contract, eligibility from resources,
record linkage, QPV from coordinates, counts and take-up rates per territory (with their series over
years) corrected for linkage errors.

Submodules are imported on use (DuckDB, Splink, shapely and pyproj are heavy):
:mod:`~nonrecours.admin.contract` (organisms, columns, rights and their sources),
:mod:`~nonrecours.admin.eligibility`, :mod:`~nonrecours.admin.linkage`, :mod:`~nonrecours.admin.geo`,
:mod:`~nonrecours.admin.counts` (rates of a recipients file, in memory),
:mod:`~nonrecours.admin.counts_sql` (the same counts on a SQL engine),
:mod:`~nonrecours.admin.series` (rates over years), :mod:`~nonrecours.admin.rates` (rates of linked
files, corrected for linkage errors) and :mod:`~nonrecours.admin.pipeline`. Every query runs on an
:class:`~nonrecours.engines.base.Engine`. The simulated sources are in :mod:`nonrecours.simulate.sources`.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

#: Public name -> module defining it.
_WHERE = {
    "AdminRates": "counts",
    "admin_rates": "counts",
    "count_cells": "counts",
    "protected_rates": "counts",
    "admin_rates_sql": "counts_sql",
    "AdminSeries": "series",
    "admin_counts": "series",
    "admin_series": "series",
    "ORGANISMS": "contract",
    "RIGHT_SOURCES": "contract",
}

__all__ = [
    "AdminRates",
    "admin_rates",
    "count_cells",
    "protected_rates",
    "admin_rates_sql",
    "AdminSeries",
    "admin_counts",
    "admin_series",
    "ORGANISMS",
    "RIGHT_SOURCES",
]

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
