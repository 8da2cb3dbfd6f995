"""Test configuration: property-based tests are derandomised in CI, so a run is reproducible."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# The scripts that made the reference data are not tests: --doctest-modules would import them, and importing
# make_change_panel_data.py runs it, writing change_panel_wave*.csv into the working directory (the stray copies
# found at the repository root).
collect_ignore_glob = ["reference/*.py"]
