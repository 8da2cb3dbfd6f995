"""Monte Carlo check of the SE of a change (nonrecours.validation.change), seeded.

Population: simulate_waves(6 QPVs, 2014-2015, seed 5), about 7,000 recipients a year;
samples of 600 per wave, stratified by is_qpv x benefit; changes of CMU-C and ACS take-up
by is_qpv (4 estimates); 250 pairs of samples per scheme.

Tolerances (stated in the issue): the SE/SD ratio pooled over the 4 estimates within 1 +- 0.1
(Monte Carlo error about 0.025) and the pooled coverage of the 95 % intervals within
0.95 +- 0.02 (Monte Carlo error about 0.007). The naive SE that ignores the overlap
(sqrt(V1 + V2)) must fail the ratio check for the panel, so the test can fail.
"""

import numpy as np
import pytest

from nonrecours.simulate.waves import simulate_waves
from nonrecours.validation.change import validate_change


@pytest.fixture(scope="module")
def frames():
    w = simulate_waves(6, (2014, 2015), seed=5)
    return [p.recipients for p in w.populations]


@pytest.mark.slow
@pytest.mark.parametrize("scheme, share", [("panel", 0.1), ("rotating", 0.25)])
def test_se_of_change_matches_empirical_sd_and_covers(frames, scheme, share):
    res = validate_change(*frames, scheme=scheme, share=share, n=600, replications=250, seed=11)
    s = res.summary().iloc[0]
    assert abs(s["se_sd_ratio"] - 1) < 0.1, res.table
    assert abs(s["coverage"] - 0.95) < 0.02, res.table
    t = res.table
    assert (t["mean_overlap"] > 0).all()
    naive = float(np.sqrt((t["mean_se_independent"] ** 2).mean() / (t["sd"] ** 2).mean()))
    if scheme == "panel":
        assert naive > 1.15  # ignoring the covariance overstates the SE of the change
    assert abs(t["bias"]).max() < 3 * (t["sd"] / np.sqrt(250)).max()
