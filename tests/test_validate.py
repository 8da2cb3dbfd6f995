"""Monte Carlo validation: coverage and variance of national estimates, the measures, the CLI.

Tolerances are Monte Carlo tolerances derived from the number of replications R:

- coverage of a 95 % interval: |cov - 0.95| <= 3 sqrt(0.95 x 0.05 / R)
  (three binomial standard errors; 0.0377 at R = 300);
- mean estimated variance / empirical variance: |ratio - 1| <= 3 sqrt(2 / (R - 1))
  (three normal-theory relative SEs of an empirical variance from R draws,
  0.245 at R = 300; the noise of the mean estimated variance is far smaller).

All draws are seeded, so the test is deterministic; the tolerances say how far
a correct engine may stray, so that a change of seed should not break it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.design.selection import select
from nonrecours.errors import OptionError
from nonrecours.simulate import simulate_population
from nonrecours.validation import Accumulator, run_validation
from nonrecours.validation.study import _Sampler

pytestmark = pytest.mark.slow  # Monte Carlo validation runs

R = 300


@pytest.fixture(scope="module")
def population():
    return simulate_population(10, seed=1)  # 14,727 recipients, 20 territories


@pytest.fixture(scope="module")
def study(population):
    return run_validation(
        population,
        design="stratified",
        n=2000,
        replications=R,
        seed=7,
        levels=("national", "qpv", "gap"),
        ci=("wald", "logit", "beta", "wilson"),
    )


def test_national_95_intervals_cover_within_binomial_tolerance(study):
    t = study.to_frame()
    nat = t[(t["level"] == "national") & (t["ci"] == "logit")]
    assert len(nat) == 4 and (nat["replications"] == R).all()
    tol = 3 * np.sqrt(0.95 * 0.05 / R)
    assert (np.abs(nat["coverage"] - 0.95) <= tol).all(), nat[["right", "coverage", "coverage_mcse"]]
    # every CI method, pooled over the 4 rights (4R intervals, not independent across rights: same tolerance)
    pooled = t[t["level"] == "national"].groupby("ci")["coverage"].mean()
    assert (np.abs(pooled - 0.95) <= tol).all(), pooled
    assert np.allclose(nat["coverage_mcse"], np.sqrt(nat["coverage"] * (1 - nat["coverage"]) / R))


def test_mean_estimated_variance_matches_empirical_variance(study):
    t = study.to_frame()
    nat = t[(t["level"].isin(["national", "gap"])) & (t["ci"].isin(["logit", "t"]))]
    tol = 3 * np.sqrt(2 / (R - 1))
    assert (np.abs(nat["var_ratio"] - 1) <= tol).all(), nat[["level", "right", "var_ratio", "var_ratio_mcse"]]
    # the reported MC error is of the order of the normal-theory one
    assert ((nat["var_ratio_mcse"] / nat["var_ratio"]).between(0.5 * np.sqrt(2 / R), 2 * np.sqrt(2 / R))).all()
    # the finite-population rates are estimated without bias (Hájek: O(1/n), within 3 MC SE)
    assert (np.abs(nat["rel_bias"]) <= 3 * nat["rel_bias_mcse"] + 1e-3).all()


def test_gap_uses_the_joint_covariance(study):
    t = study.to_frame()
    gap = t[t["level"] == "gap"]
    assert list(gap["ci"].unique()) == ["t"] and list(gap["domain"].unique()) == ["1 - 0"]
    tol = 3 * np.sqrt(0.95 * 0.05 / R)
    assert (np.abs(gap["coverage"] - 0.95) <= tol).all()


def test_truth_is_the_population_rate(population, study):
    t = study.to_frame()
    nat = t[(t["level"] == "national") & (t["ci"] == "wald")].set_index("right")["truth"]
    s = population.summary().set_index("right")["rate"]
    assert np.allclose(nat.reindex(s.index), s, rtol=1e-12)


def test_stratified_draw_is_select(population):
    """The fast path draws exactly the sample that select() draws with the same seed."""
    rec = population.recipients
    frame = pd.DataFrame(
        {
            "id": np.arange(len(rec)),
            "territory": rec["territory"].cat.codes.astype(np.int64),
            "tpn": rec["tpn"].to_numpy(float),
        }
    )
    sampler = _Sampler(frame, "stratified", 900, ["territory"], 2)
    ours = sampler.draw(np.random.default_rng(11)).data
    ref = select(frame, sampler.alloc, strata=["territory"], seed=np.random.default_rng(11)).data
    assert ours["id"].tolist() == ref["id"].tolist()
    assert np.allclose(ours["weight"], ref["weight"], rtol=1e-12)


def test_accumulator_matches_stored_replications():
    rng = np.random.default_rng(3)
    truth = np.array([0.3, 0.6])
    est = truth + rng.normal(0, 0.02, (200, 2))
    se = np.abs(rng.normal(0.02, 0.002, (200, 2)))
    est[5, 1] = np.nan
    acc = Accumulator(truth, ("wald",))
    for e, s in zip(est, se):
        acc.add(e, s, (e - 1.96 * s)[None, :], (e + 1.96 * s)[None, :])
    m = acc.measures()
    for k in range(2):
        ok = np.isfinite(est[:, k])
        e, s = est[ok, k], se[ok, k]
        assert m.loc[k, "replications"] == ok.sum()
        assert np.isclose(m.loc[k, "bias"], e.mean() - truth[k], rtol=1e-9)
        assert np.isclose(m.loc[k, "emp_se"], e.std(ddof=1), rtol=1e-9)
        assert np.isclose(m.loc[k, "var_ratio"], np.mean(s**2) / e.var(ddof=1), rtol=1e-9)
        cover = np.mean((e - 1.96 * s <= truth[k]) & (truth[k] <= e + 1.96 * s))
        assert np.isclose(m.loc[k, "coverage"], cover, rtol=1e-12)


def test_options_checked_at_the_boundary(population):
    with pytest.raises(OptionError, match="parameter design"):
        run_validation(population, design="cluster", n=100, replications=5, seed=1)
    with pytest.raises(OptionError, match="parameter ci"):
        run_validation(population, n=100, replications=5, seed=1, ci=("exact",))
    with pytest.raises(OptionError, match="replications"):
        run_validation(population, n=100, replications=1, seed=1)
    with pytest.raises(OptionError, match="seed"):
        run_validation(population, n=100, replications=5, seed=None)


def test_two_stage_and_small_area_run(population):
    res = run_validation(
        population,
        design="two-stage",
        n=1500,
        replications=8,
        seed=2,
        n_psu=4,
        sae=True,
        levels=("national", "territory"),
        ci=("logit",),
    )
    t = res.to_frame()
    fh = t[t["estimator"] == "fay-herriot"]
    assert len(fh) == 20 * 4 - t[(t["level"] == "territory") & t["truth"].isna()].shape[0]
    assert (fh["replications"] == 8).all()  # Fay–Herriot predicts every territory, sampled or not
    assert set(res.summary()["level"]) == {"national", "territory"}


def test_cli_writes_table_plot_and_settings(tmp_path):
    out = tmp_path / "val"
    args = [
        "validate",
        "--territories",
        "5",
        "--replications",
        "6",
        "--n",
        "600",
        "--seed",
        "3",
        "--ci",
        "logit,wilson",
        "--levels",
        "national,qpv,gap,benefit",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "validation.csv")
    assert {"coverage", "coverage_mcse", "rel_bias", "rel_bias_mcse", "emp_se", "mean_se", "var_ratio"} <= set(table)
    assert (out / "validation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "national" in res.output
    again = CliRunner().invoke(app, args)  # outputs exist: refused without --overwrite
    assert again.exit_code == 2 and "already exist" in again.output


@pytest.mark.parametrize(
    "bad", [["--design", "cluster"], ["--replications", "1"], ["--ci", "exact"], ["--n", "0"], ["--levels", "region"]]
)
def test_cli_bad_input_exits_2(bad):
    base = {"--territories": "5", "--replications": "4", "--n": "600", "--seed": "3"}
    args = ["validate"]
    for k, v in base.items():
        if k not in bad:
            args += [k, v]
    res = CliRunner().invoke(app, args + bad)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output


def test_cli_workers_give_identical_files(tmp_path):
    """Replication r draws from the r-th spawned stream and sums are taken in replication order."""
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        res = CliRunner().invoke(
            app,
            [
                "validate",
                "--territories",
                "5",
                "--replications",
                "10",
                "--n",
                "600",
                "--seed",
                "3",
                "--ci",
                "logit,wilson",
                "--levels",
                "national,qpv,gap,territory",
                "--sae",
                "--workers",
                workers,
                "--out",
                str(out),
            ],
        )
        assert res.exit_code == 0, res.output
        assert f"on {workers} worker" in res.output
        outs.append(
            {name: (out / name).read_bytes() for name in ("validation.csv", "validation.png", "validation.json")}
        )
    assert outs[0] == outs[1]
    bad = CliRunner().invoke(
        app, ["validate", "--territories", "5", "--replications", "4", "--n", "600", "--seed", "3", "--workers", "0"]
    )
    assert bad.exit_code == 2 and "--workers" in bad.output


def test_small_area_methods_sampled_and_unsampled(population):
    """Each small-area estimator is reported over all, sampled and unsampled territories; the split adds up."""
    res = run_validation(
        population,
        n=600,
        replications=3,
        seed=4,
        sae=True,
        levels=("territory",),
        ci=("logit",),
        strata=("is_qpv", "benefit"),
        allocation="power",
        sae_methods=("amrl", "unit"),
        unit_replicates=5,
        rights=["acs"],
    )
    t = res.to_frame()
    for name in ("fay-herriot-amrl", "unit-ebp"):
        rows = {
            s: t[t["estimator"] == name + s].set_index("domain")["replications"] for s in ("", "/sampled", "/unsampled")
        }
        assert len(rows[""]) > 0
        total = rows["/sampled"].reindex(rows[""].index, fill_value=0) + rows["/unsampled"].reindex(
            rows[""].index, fill_value=0
        )
        assert (total <= rows[""]).all() and (rows[""] <= 3).all()
    assert {"rmse", "mean_width"} <= set(res.summary().columns)


def test_unit_ebp_reports_normal_and_percentile_intervals(population):
    res = run_validation(
        population,
        n=600,
        replications=2,
        seed=4,
        sae=True,
        levels=("territory",),
        ci=("logit",),
        strata=("is_qpv", "benefit"),
        allocation="power",
        sae_methods=("unit",),
        unit_replicates=8,
        rights=["acs"],
    )
    t = res.to_frame()
    unit = t[t["estimator"] == "unit-ebp"]
    assert set(unit["ci"]) == {"normal", "percentile"}
    w = unit.groupby("ci")["mean_width"].mean()
    assert w["normal"] > 0 and w["percentile"] > 0 and w["normal"] != w["percentile"]


def test_auto_ci_and_respondent_bands(population):
    """ci auto is the rule of estimate's default; the bands split the direct territory estimates' replications
    by respondents (they add up to the direct ones)."""
    res = run_validation(
        population, n=600, replications=6, seed=2, levels=("territory",), ci=("auto", "beta"), n_bands=(1, 5, 30)
    )
    t = res.to_frame()
    assert set(t["estimator"]) == {"direct", "direct/n1-4", "direct/n5-29", "direct/n30+"}
    reps = t[t["ci"] == "auto"].pivot_table(
        index=["domain", "right"], columns="estimator", values="replications", aggfunc="sum", fill_value=0
    )
    assert (reps[["direct/n1-4", "direct/n5-29", "direct/n30+"]].sum(axis=1) == reps["direct"]).all()
    assert (reps["direct/n1-4"] > 0).any()
    a = t[(t["estimator"] == "direct")].pivot_table(index=["domain", "right"], columns="ci", values="mean_width")
    assert (a["auto"] <= a["beta"] + 1e-12).mean() > 0.9  # Wilson at the design df: narrower than Korn-Graubard
    with pytest.raises(OptionError, match="parameter n_bands"):
        run_validation(population, n=600, replications=2, seed=2, levels=("territory",), n_bands=(5, 1))


def test_two_stage_pps_variances_run_beside_the_approximation(population):
    # Two-stage Sampford samples; national and QPV rates with first-stage PPS variances beside the SRS-FPC
    # approximation, on the same samples. Structure and determinism only: a run large enough to test coverage or
    # SE ratios (300 samples of 8 of 60 PSUs per stratum) takes minutes, not seconds (measured in the README).
    R2 = 6
    kw = dict(
        design="two-stage",
        n=1000,
        replications=R2,
        seed=3,
        n_psu=4,
        levels=("national", "qpv"),
        ci=("logit",),
        pps=("brewer", "yg", "brewer"),
    )
    res = run_validation(population, **kw)
    t = res.to_frame()
    assert sorted(t["estimator"].unique()) == ["direct", "direct, pps brewer", "direct, pps yg"]
    assert (t["replications"] == R2).all() and t["coverage"].between(0, 1).all()
    # same samples, same estimates: only the variances differ, and they do differ
    piv = t.pivot_table(index=["level", "domain", "right"], columns="estimator", values=["rel_bias", "var_ratio"])
    bias = piv["rel_bias"].to_numpy()
    assert np.allclose(bias, bias[:, [0]], rtol=0, atol=1e-15)
    vr = piv["var_ratio"]
    assert np.isfinite(vr.to_numpy()).all() and not np.allclose(vr["direct"], vr["direct, pps brewer"])
    assert not np.allclose(vr["direct, pps brewer"], vr["direct, pps yg"])
    assert res.settings["pps"] == ["brewer", "yg"]
    # the PPS option leaves the draws and the direct rows as they were
    plain = run_validation(population, **{**kw, "pps": ()}).to_frame()
    pd.testing.assert_frame_equal(t[t["estimator"] == "direct"].reset_index(drop=True), plain)
    assert "pps" not in run_validation(population, **{**kw, "pps": ()}).settings
    # identical whatever the number of workers
    pd.testing.assert_frame_equal(run_validation(population, **kw, workers=2).to_frame(), t)
    with pytest.raises(OptionError, match="two-stage"):
        run_validation(population, n=500, replications=2, seed=1, pps=("brewer",))
    with pytest.raises(OptionError, match="parameter pps"):
        run_validation(population, **{**kw, "pps": ("nope",)})
    with pytest.raises(OptionError, match="national"):
        run_validation(population, **{**kw, "levels": ("benefit",)})


def test_cli_pps_option(tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "validate",
            "--territories",
            "5",
            "--replications",
            "3",
            "--n",
            "600",
            "--seed",
            "3",
            "--design",
            "two-stage",
            "--n-psu",
            "3",
            "--levels",
            "national",
            "--ci",
            "logit",
            "--pps",
            "overton,hartley-rao,ht",
            "--quiet",
            "--out",
            str(tmp_path / "v"),
        ],
    )
    assert res.exit_code == 0, res.output
    t = pd.read_csv(tmp_path / "v" / "validation.csv")
    assert set(t["estimator"]) == {"direct", "direct, pps overton", "direct, pps hartley-rao", "direct, pps ht"}
    bad = CliRunner().invoke(
        app, ["validate", "--territories", "5", "--replications", "3", "--n", "600", "--seed", "3", "--pps", "brewer"]
    )
    assert bad.exit_code == 2 and "--pps" in bad.output
