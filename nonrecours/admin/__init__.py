"""The administrative phase: the organisms' files, eligibility from resources, record linkage,
QPV from coordinates and take-up rates corrected for linkage errors.

Submodules are imported on use (DuckDB, Splink, shapely and pyproj are heavy):
:mod:`~nonrecours.admin.sources`, :mod:`~nonrecours.admin.eligibility`,
:mod:`~nonrecours.admin.linkage`, :mod:`~nonrecours.admin.geo`,
:mod:`~nonrecours.admin.rates`, :mod:`~nonrecours.admin.sql`.
"""
