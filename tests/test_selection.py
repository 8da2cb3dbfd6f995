"""Selection: inclusion probabilities (R sampling parity), exact sizes, seeded goodness of fit
of the inclusion frequencies for every method, Sampford joint probabilities, two-stage,
reproducibility and bad input."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from nonrecours.design.allocation import allocate_frame
from nonrecours.design.pps import (
    inclusion_probabilities,
    poisson_draw,
    sampford_draw,
    sampford_joint_inclusion,
    systematic_draw,
)
from nonrecours.design.selection import select, srswor_draw
from nonrecours.errors import DesignError, InputError, OptionError

REF = json.loads((Path(__file__).parent / "reference" / "sampling_reference.json").read_text())

#: Level of the goodness-of-fit tests: the seeded draws pass deterministically; a p-value
#: below it would mean frequencies this far from pi happen less than once in 1,000 runs.
ALPHA = 1e-3
REPS = 20_000


def frame(seed: int = 0, territories: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(30, 120, territories)
    terr = np.repeat([f"T{i:02d}" for i in range(territories)], sizes)
    qpv = np.repeat(np.arange(territories) % 2, sizes)
    return pd.DataFrame(
        {
            "id": [f"R{i:05d}" for i in range(terr.size)],
            "territory": terr,
            "is_qpv": qpv,
            "benefit": rng.choice(["RSA", "AAH"], terr.size),
            "hh": rng.integers(1, 7, terr.size),
        }
    )


# --- R sampling parity --------------------------------------------------------------------------


def test_inclusion_probabilities_match_r_sampling():
    c = REF["inclusion_probabilities"]
    np.testing.assert_allclose(inclusion_probabilities(np.array(c["size"]), c["n"]), c["pik"], rtol=1e-12)


@pytest.mark.parametrize("case", ["sampford_small", "sampford_pair", "sampford_30"])
def test_sampford_joint_probabilities_match_r_sampling(case):
    c = REF[case]
    pik = inclusion_probabilities(np.array(c["size"], float), c["n"])
    np.testing.assert_allclose(pik, c["pik"], rtol=1e-12)
    pi2 = sampford_joint_inclusion(pik)
    np.testing.assert_allclose(pi2, np.array(c["pi2"]), rtol=1e-9)
    # consistency: sum_j pi_ij (j != i) = (n - 1) pi_i
    np.testing.assert_allclose(pi2.sum(axis=1) - pik, (c["n"] - 1) * pik, rtol=1e-10)


def test_inclusion_probabilities_sum_to_n_in_every_stratum():
    f = frame()
    codes = pd.factorize(f["territory"], sort=True)[0]
    n = np.arange(12, 32)
    size = f["hh"].to_numpy(float) ** 6  # skewed: certainty units appear
    pi = inclusion_probabilities(size, n, codes)
    np.testing.assert_allclose(np.bincount(codes, weights=pi), n, rtol=1e-12)
    assert (pi == 1).any() and (pi <= 1).all()


# --- goodness of fit of the inclusion frequencies ------------------------------------------------

POP_SIZE = [np.array([3.0, 1.0, 7.0, 2.0, 5.0, 4.0, 1.5]), np.array([2.0, 6.0, 1.0, 3.0, 2.5, 8.0])]
POP_N = np.array([3, 2])


def systematic_joint(pi: np.ndarray) -> np.ndarray:
    """Exact pi_ij of systematic sampling along the list: enumerate the intervals of the start u."""
    cum = np.cumsum(pi)
    before = np.concatenate([[0.0], cum[:-1]])
    br = np.unique(np.concatenate([[0.0, 1.0], np.mod(cum, 1.0)]))
    pij = np.zeros((pi.size, pi.size))
    for lo, hi in itertools.pairwise(br):
        u = 0.5 * (lo + hi)
        s = (np.floor(cum - u) > np.floor(before - u)).astype(float)
        pij += (hi - lo) * np.outer(s, s)
    return pij


def joint(method: str, pi: np.ndarray, n: int) -> np.ndarray:
    if method == "srswor":
        Nh = pi.size
        out = np.full((Nh, Nh), n * (n - 1) / (Nh * (Nh - 1)))
    elif method in ("systematic", "pps-systematic"):
        out = systematic_joint(pi)
    elif method == "sampford":
        out = sampford_joint_inclusion(pi)
    else:
        out = np.outer(pi, pi)
    np.fill_diagonal(out, pi)
    return out


def draw_replicates(method: str, rng: np.random.Generator):
    """REPS independent samples of the 2-stratum population, drawn in one call (REPS x 2 strata)."""
    H = len(POP_SIZE)
    sizes = np.concatenate(POP_SIZE)
    base_codes = np.repeat(np.arange(H), [s.size for s in POP_SIZE])
    equal = method in ("srswor", "systematic", "poisson")
    pi0 = (POP_N / np.bincount(base_codes))[base_codes] if equal else inclusion_probabilities(sizes, POP_N, base_codes)
    codes = (np.arange(REPS)[:, None] * H + base_codes[None, :]).ravel()
    pi = np.tile(pi0, REPS)
    n = np.tile(POP_N, REPS)
    if method == "srswor":
        sel = srswor_draw(codes, n, rng)
    elif method in ("systematic", "pps-systematic"):
        sel = systematic_draw(pi, np.arange(codes.size), codes, n.astype(float), rng)
    elif method == "sampford":
        sel = sampford_draw(pi, codes, rng)
    else:
        sel = poisson_draw(pi, rng)
    return pi0, base_codes, sel.reshape(REPS, -1)


@pytest.mark.parametrize("method", ["srswor", "systematic", "poisson", "poisson-pps", "pps-systematic", "sampford"])
def test_inclusion_frequencies_match_pi(method, record_property):
    pi0, base_codes, S = draw_replicates(method, np.random.default_rng(2024))
    if method in ("srswor", "systematic", "pps-systematic", "sampford"):
        sizes = np.array([S[:, base_codes == h].sum(axis=1) for h in range(len(POP_N))]).T
        assert (sizes == POP_N).all(), "fixed-size design drew a wrong size"
    X, df = 0.0, 0
    for h in range(len(POP_N)):
        m = base_codes == h
        p = pi0[m]
        f = S[:, m].mean(axis=0)
        Sigma = joint(method, p, POP_N[h]) - np.outer(p, p)
        w, V = np.linalg.eigh(Sigma)
        keep = w > 1e-10 * w.max()
        d = V[:, keep].T @ (f - p)
        X += REPS * np.sum(d**2 / w[keep])  # (f - pi)' Sigma^+ (f - pi) * REPS ~ chi2(rank)
        df += int(keep.sum())
    pval = chi2.sf(X, df)
    record_property("gof_pvalue", float(pval))  # a plain float: pytest-xdist sends it between processes
    assert pval > ALPHA, f"{method}: chi2 = {X:.2f} on {df} df, p = {pval:.2e}"


def test_sampford_joint_frequencies_match_formula():
    pi0, base_codes, S = draw_replicates("sampford", np.random.default_rng(99))
    for h in range(len(POP_N)):
        m = base_codes == h
        I = S[:, m].astype(float)  # noqa: E741 - the indicator matrix of the draws
        emp = I.T @ I / REPS
        pij = sampford_joint_inclusion(pi0[m])
        sd = np.sqrt(pij * (1 - pij) / REPS)
        # stated tolerance: every pair within 4.5 binomial standard deviations (family-wise level < 1e-4)
        assert np.all(np.abs(emp - pij) <= 4.5 * sd), np.max(np.abs(emp - pij) / sd)


# --- the sample table -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["srswor", "systematic", "poisson", "pps-systematic", "sampford"])
def test_sample_columns_sizes_and_reproducibility(method):
    f = frame()
    alloc = allocate_frame(f, ["is_qpv", "benefit"], n=200, method="proportional")
    a = select(f, alloc, strata=["is_qpv", "benefit"], method=method, seed=42, size="hh", sort=["territory"])
    b = select(f, alloc, strata=["is_qpv", "benefit"], method=method, seed=42, size="hh", sort=["territory"])
    c = select(f, alloc, strata=["is_qpv", "benefit"], method=method, seed=43, size="hh", sort=["territory"])
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not a.data["id"].equals(c.data["id"])
    d = a.data
    assert {"stratum", "psu", "pi", "weight"} <= set(d.columns)
    assert ("fpc" in d.columns) == (method in ("srswor", "systematic"))
    np.testing.assert_allclose(d["weight"], 1 / d["pi"], rtol=1e-15)
    assert (d["psu"] == d["id"]).all() and a.seed == 42
    if method != "poisson":
        counts = d.groupby("stratum").size()
        assert counts.to_dict() == dict(zip(alloc.strata["stratum"], alloc.n))
    if method in ("srswor", "systematic"):
        np.testing.assert_allclose(d.groupby("stratum")["weight"].sum().to_numpy(), alloc.N, rtol=1e-12)
        assert (d["fpc"] == d["stratum"].map(dict(zip(alloc.strata["stratum"], alloc.N)))).all()


def test_take_all_strata_are_taken_whole():
    f = frame()
    for method in ("srswor", "systematic", "pps-systematic", "sampford"):
        s = select(f, {"0": 5, "1": int((f["is_qpv"] == 1).sum())}, strata=["is_qpv"], method=method, seed=1, size="hh")
        whole = s.data[s.data["stratum"] == "1"]
        assert len(whole) == (f["is_qpv"] == 1).sum() and (whole["pi"] == 1).all()


def test_systematic_follows_the_sort_order():
    f = frame()
    s = select(f, {"0": 10, "1": 10}, strata=["is_qpv"], method="systematic", seed=3, sort=["territory"])
    # one unit every N_h/n_h along the sorted list: the territories are spread, no territory twice as often as its share
    for h, g in s.data.groupby("stratum"):
        pop = f[f["is_qpv"].astype(str) == h]["territory"].value_counts()
        got = g["territory"].value_counts().reindex(pop.index, fill_value=0)
        assert (np.abs(got - pop * 10 / pop.sum()) < 1 + 1e-9).all()


def test_srswor_many_strata_exact_sizes():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 6000, 300_000)
    Nh = np.bincount(codes, minlength=6000)
    n = np.minimum(Nh, rng.integers(0, 60, 6000))  # includes take-all and majority strata
    sel = srswor_draw(codes, n, np.random.default_rng(1))
    assert np.array_equal(np.bincount(codes[sel], minlength=6000), n)


def test_two_stage():
    f = frame(territories=30)
    big = f["territory"] == "T00"
    f.loc[big, "hh"] = 1
    f = pd.concat([f, f[big].assign(id=lambda d: d["id"] + "b")], ignore_index=True)  # T00 doubled: 2x larger
    alloc = allocate_frame(f, ["is_qpv"], n=240, method="proportional")
    s = select(f, alloc, strata=["is_qpv"], method="two-stage", seed=5, psu="territory", n_psu=4)
    d = s.data
    assert {"stratum", "psu", "fpc", "ssu", "fpc2", "pi1", "pi2", "pi", "weight"} <= set(d.columns)
    np.testing.assert_allclose(d["pi"], d["pi1"] * d["pi2"], rtol=1e-15)
    assert len(d) == 240 and (d["ssu"] == d["id"]).all()
    assert d.groupby("psu")["stratum"].nunique().max() == 1
    # PSUs by PPS on recipient counts: pi1 sums to n_psu over the PSUs of a stratum
    M = f.groupby("territory").size()
    h = f.groupby("territory")["is_qpv"].first()
    pi1 = inclusion_probabilities(M.to_numpy(float), np.array([4, 4]), h.to_numpy())
    np.testing.assert_allclose(np.bincount(h.to_numpy(), weights=pi1), [4, 4], rtol=1e-12)
    got = d.groupby("psu")["pi1"].first()
    terr = got.index[got.index.str.startswith("T")]
    np.testing.assert_allclose(got[terr], pd.Series(pi1, index=M.index)[terr], rtol=1e-12)
    # self-weighting up to integer rounding: non-certainty PSUs of a stratum get m_i differing by at most 1
    nc = d[d["pi1"] < 1]
    m = (nc["pi2"] * nc["fpc2"]).round(9).groupby(nc["psu"]).first()
    assert np.allclose(m, np.round(m))
    spread = m.groupby(nc.groupby("psu")["stratum"].first()).agg(lambda x: x.max() - x.min())
    assert (spread <= 1).all()
    assert (d["fpc2"] == d["territory"].map(M)).all()


@pytest.mark.slow
def test_two_stage_inclusion_frequencies():
    f = frame(territories=8)
    alloc = allocate_frame(f, ["is_qpv"], n=40, method="proportional", min_n=2)
    R = 300
    hits = pd.Series(0.0, index=f["id"])
    pis = None
    for seed in range(R):
        d = select(f, alloc, strata=["is_qpv"], method="two-stage", seed=seed, psu="territory", n_psu=2).data
        hits[d["id"]] += 1
        pis = d.set_index("id")["pi"] if pis is None else pis.combine_first(d.set_index("id")["pi"])
    p = pis.reindex(hits.index)
    assert p.notna().all()
    emp = hits / R
    assert np.all(np.abs(emp - p) <= 4.5 * np.sqrt(p * (1 - p) / R) + 1e-12)


# --- bad input --------------------------------------------------------------------------------------


def test_selection_errors():
    f = frame()
    with pytest.raises(DesignError, match=r"strata '1'.*n_h <= N_h"):
        select(f, {"0": 5, "1": 10_000}, strata=["is_qpv"], seed=1)
    dup = pd.concat([f, f.iloc[[4]]], ignore_index=True)
    with pytest.raises(InputError, match=r"'id'.*duplicate ids.*2 rows share an id, on lines 6, \d+") as err:
        select(dup, {"0": 5, "1": 5}, strata=["is_qpv"], seed=1)
    assert "R0000" not in str(err.value)  # never the id itself
    g = f.copy()
    g.loc[2, "is_qpv"] = np.nan
    with pytest.raises(InputError, match=r"'is_qpv'.*missing stratum values"):
        select(g, {"0.0": 5, "1.0": 5}, strata=["is_qpv"], seed=1)
    g = f.copy()
    g.loc[[1, 7], "hh"] = 0
    with pytest.raises(InputError, match=r"'hh'.*size measures must be positive.*2 rows"):
        select(g, {"0": 5, "1": 5}, strata=["is_qpv"], method="sampford", seed=1, size="hh")
    with pytest.raises(OptionError, match="needs a size measure"):
        select(f, {"0": 5, "1": 5}, strata=["is_qpv"], method="pps-systematic", seed=1)
    with pytest.raises(OptionError, match="seed"):
        select(f, {"0": 5, "1": 5}, strata=["is_qpv"], seed=None)
    with pytest.raises(InputError, match=r"strata '1'.*no sample size"):
        select(f, {"0": 5}, strata=["is_qpv"], seed=1)
    with pytest.raises(DesignError, match=r"PSUs cut across strata"):
        select(f, {"AAH": 5, "RSA": 5}, strata=["benefit"], method="two-stage", seed=1, psu="territory", n_psu=2)
    with pytest.raises(OptionError, match="integer >= 2"):
        select(f, {"0": 5, "1": 5}, strata=["is_qpv"], method="two-stage", seed=1, psu="territory", n_psu=1)


@pytest.mark.parametrize("method,extra", [("srswor", {}), ("two-stage", {"psu": "territory", "n_psu": 3})])
def test_sample_to_design_reads_its_own_columns(method, extra):
    """select(...).to_design() is the design nonrecours estimate builds from the same columns."""
    from nonrecours.design.survey_design import SurveyDesign
    from nonrecours.estimation import estimate_rates

    rng = np.random.default_rng(5)
    n = 4000
    frame = pd.DataFrame(
        {
            "id": np.arange(n).astype(str),
            "h": rng.choice(["a", "b"], n),
            "territory": rng.integers(0, 40, n).astype(str),
            "y": rng.integers(0, 2, n).astype(float),
        }
    )
    frame["h"] = np.where(frame["territory"].astype(int) < 20, "a", "b")  # territories nested in strata
    sample = select(frame, {"a": 150, "b": 150}, strata=["h"], method=method, seed=3, **extra)
    design = sample.to_design()
    cols = sample.data.columns
    by_hand = SurveyDesign(
        sample.data,
        weight="weight",
        strata="stratum",
        psu="psu",
        ssu="ssu" if "ssu" in cols else None,
        fpc="fpc" if "fpc" in cols else None,
        fpc2="fpc2" if "fpc2" in cols else None,
    )
    assert design.weight == "weight" and design.fpc == ("fpc" if "fpc" in cols else None)
    assert (design.ssu is not None) == (method == "two-stage")
    a, b = estimate_rates(design, "y"), estimate_rates(by_hand, "y")
    np.testing.assert_array_equal(a.raw_se, b.raw_se)
    np.testing.assert_array_equal(design.weights, 1.0 / sample.data["pi"].to_numpy())
