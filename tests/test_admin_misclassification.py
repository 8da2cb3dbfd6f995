"""The survey measures the files' misclassification; corrected administrative rates; the combined estimate.

Expected values are computed here by hand (weighted ratios, the Rogan–Gladen algebra, finite differences of
the corrected rate for its delta-method variance), independently of the module's code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_admin_review import tpn_calibration

from nonrecours.admin.misclassification import (
    Misclassification,
    combine_estimates,
    correct_rates,
    estimate_misclassification,
    file_counts,
    file_statuses,
)
from nonrecours.design import SurveyDesign
from nonrecours.estimation import QualityThresholds, estimate_rates


def _sample(seed: int = 3, n: int = 400) -> tuple[SurveyDesign, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    stratum = np.repeat(["a", "b"], n // 2)
    eligible = rng.random(n) < np.where(stratum == "a", 0.6, 0.3)
    took = rng.random(n) < 0.7
    answer = np.where(eligible, took.astype(float), np.nan)
    # the files find 90 % (a) or 80 % (b) of the eligible, and 10 % (a) or 20 % (b) of the others
    se, fp = np.where(stratum == "a", 0.9, 0.8), np.where(stratum == "a", 0.1, 0.2)
    file = np.where(eligible, rng.random(n) < se, rng.random(n) < fp).astype(float)
    file[rng.random(n) < 0.05] = np.nan  # undetermined in the files
    w = np.where(stratum == "a", 10.0, 30.0) * (1 + rng.random(n))
    data = pd.DataFrame({"h": stratum, "w": w, "cmuc": answer})
    return SurveyDesign(data, weight="w", strata="h"), pd.DataFrame({"cmuc": file})


def test_rates_are_weighted_ratios_with_the_engines_covariance():
    design, file = _sample()
    mis = estimate_misclassification(design, file, ["cmuc"], by=("h",))
    d, f = design.data, file["cmuc"].to_numpy()
    truly, known = d["cmuc"].notna().to_numpy(), ~np.isnan(f)
    w = d["w"].to_numpy()
    for h in ("a", "b"):
        s = (d["h"] == h).to_numpy() & known
        row = mis.table.set_index(["h", "kind"])
        se_hat = np.sum(w[s & truly] * f[s & truly]) / np.sum(w[s & truly])
        fp_hat = np.sum(w[s & ~truly] * f[s & ~truly]) / np.sum(w[s & ~truly])
        assert row.loc[(h, "sensitivity"), "estimate"] == pytest.approx(se_hat, rel=1e-12)
        assert row.loc[(h, "false_positive"), "estimate"] == pytest.approx(fp_hat, rel=1e-12)
        assert row.loc[(h, "sensitivity"), "n"] == int((s & truly).sum())
    # identity: the SE is the engine's for the same column (no variance code of its own)
    col = np.where(truly & known, f, np.nan)
    ref = estimate_rates(
        design.__class__(d.assign(x=col), weight="w", strata="h"),
        "x",
        by="h",
        ci="wald",
        df="inf",
        thresholds=QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9),
    )
    sens = mis.table[mis.table["kind"] == "sensitivity"]
    np.testing.assert_allclose(sens["se"].to_numpy(), ref.raw_se, rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(mis.vcov)), mis.table["se"].to_numpy(), rtol=1e-12)
    # strata are independent: no covariance across them
    a = (mis.table["h"] == "a").to_numpy()
    assert np.all(mis.vcov[np.ix_(a, ~a)] == 0)


def test_wrong_length_is_refused():
    design, file = _sample()
    with pytest.raises(Exception, match="file_eligible"):
        estimate_misclassification(design, file.iloc[:10], ["cmuc"], by=("h",))


def _mis(se: dict, fp: dict, var: float = 0.0) -> Misclassification:
    """Given rates and covariance (respondents unknown: ``n`` NaN, no floor on the variances)."""
    rows = [(h, "cmuc", "sensitivity", se[h]) for h in se] + [(h, "cmuc", "false_positive", fp[h]) for h in fp]
    t = pd.DataFrame(rows, columns=["h", "right", "kind", "estimate"]).assign(se=np.sqrt(var), n=np.nan)
    return Misclassification(table=t, vcov=np.eye(len(t)) * var, by=("h",))


def _counts(territory: list, h: list, N: list, F: list, T: list) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "territory": territory,
            "h": h,
            "right": "cmuc",
            "n_recipients": N,
            "n_file_eligible": F,
            "takers": T,
            "var_takers": 0.0,
            "n_undetermined": 0.0,
        }
    )


def test_rogan_gladen_recovers_the_eligibles():
    # territory x: stratum a, 1,000 recipients of whom 400 eligible; stratum b, 500 of whom 100 eligible
    se, fp = {"a": 0.9, "b": 0.8}, {"a": 0.1, "b": 0.2}
    F = [0.9 * 400 + 0.1 * 600, 0.8 * 100 + 0.2 * 400]  # the files' expected counts
    out = correct_rates(_counts(["x", "x"], ["a", "b"], [1000, 500], F, [200, 100]), _mis(se, fp))
    r = out.iloc[0]
    assert r["n_eligible_corrected"] == pytest.approx(500, rel=1e-12)
    assert r["rate_corrected"] == pytest.approx(300 / 500, rel=1e-12)
    assert r["se_survey"] == 0 and r["se_linkage"] == 0
    # the files' binomial noise: sum_s [NE se (1-se) + (N-NE) fp (1-fp)] / (se-fp)^2, times theta^2 / NE^2
    v = (400 * 0.09 + 600 * 0.09) / 0.8**2 + (100 * 0.16 + 400 * 0.16) / 0.6**2
    assert r["se_files"] == pytest.approx(0.6 * np.sqrt(v) / 500, rel=1e-12)
    assert bool(r["corrected"])


def test_delta_method_matches_finite_differences():
    se, fp = {"a": 0.85, "b": 0.75}, {"a": 0.08, "b": 0.15}
    counts = _counts(["x", "x", "y"], ["a", "b", "a"], [800, 300, 200], [350, 90, 70], [210, 40, 45])
    V = np.array([[4, 1, 0, 0], [1, 9, 0, 0], [0, 0, 2, 0.5], [0, 0, 0.5, 1]]) * 1e-4  # se_a, se_b, fp_a, fp_b
    mis = _mis(se, fp)
    mis = Misclassification(table=mis.table, vcov=V, by=("h",))
    out = correct_rates(counts, mis).set_index("territory")

    def rate(est: np.ndarray) -> pd.Series:
        t = mis.table.assign(estimate=est)
        return correct_rates(counts, Misclassification(t, V, ("h",))).set_index("territory")["rate_corrected"]

    base = mis.table["estimate"].to_numpy()
    h = 1e-6
    G = np.column_stack([(rate(base + h * e) - rate(base - h * e)) / (2 * h) for e in np.eye(4)])
    expected = np.sqrt(np.einsum("ij,jk,ik->i", G, V, G))
    np.testing.assert_allclose(out["se_survey"].to_numpy(), expected, rtol=1e-6)


def _srs_rates(p1, p0, n1, n0):
    """One stratum per territory ``s0, s1, ...``: its sensitivity ``p1`` and false-positive rate ``p0`` estimated
    from ``n1`` and ``n0`` respondents by simple random sampling, with their Wald variances."""
    K = len(p1)
    h = [f"s{k}" for k in range(K)]
    table = pd.DataFrame(
        {
            "h": h * 2,
            "right": "cmuc",
            "kind": ["sensitivity"] * K + ["false_positive"] * K,
            "estimate": np.r_[p1, p0],
            "se": 0.0,
            "n": np.r_[np.full(K, n1), np.full(K, n0)],
        }
    )
    return h, table, np.diag(np.r_[p1 * (1 - p1) / n1, p0 * (1 - p0) / n0])


@pytest.mark.parametrize("sens, fp, low", [(0.99, 0.005, 0.93), (0.95, 0.08, 0.92)])
def test_survey_intervals_cover_when_a_rate_is_near_its_bound(sens, fp, low):
    # 400 territories, each its own stratum, whose sensitivity and false-positive rate are estimated from 278
    # and 558 respondents by simple random sampling (Wald variances); the takers and the files' counts are exact,
    # so only the survey's error moves the corrected rate (true value 0.6)
    rng = np.random.default_rng(27)
    K, n1, n0 = 400, 278, 558
    p1, p0 = rng.binomial(n1, sens, K) / n1, rng.binomial(n0, fp, K) / n0
    h, table, V = _srs_rates(p1, p0, n1, n0)
    counts = _counts(h, h, [10000] * K, [sens * 4000 + fp * 6000] * K, [2400] * K)

    def coverage(t: pd.DataFrame) -> float:
        out = correct_rates(counts, Misclassification(table=t, vcov=V, by=("h",)))
        return float((np.abs(out["rate_corrected"] - 0.6) <= 1.959964 * out["se_survey"]).mean())

    floored, wald = coverage(table), coverage(table.assign(n=np.nan))
    # the Wald variance falls with the error near a bound; floored at Jeffreys' posterior the intervals cover
    assert floored >= low and floored > wald
    if sens > 0.98:
        assert wald < 0.92


def test_files_noise_near_a_bound_is_that_of_jeffreys_posterior():
    # as above, the files' counts drawn too (4,000 eligible found with probability 0.99, 6,000 others with 0.005):
    # the whole interval covers when the files' Bernoulli variances are at least those of the rates' Jeffreys
    # posterior means
    rng = np.random.default_rng(28)
    K, n1, n0, sens, fp = 400, 278, 558, 0.99, 0.005
    p1, p0 = rng.binomial(n1, sens, K) / n1, rng.binomial(n0, fp, K) / n0
    F = rng.binomial(4000, sens, K) + rng.binomial(6000, fp, K)
    h, table, V = _srs_rates(p1, p0, n1, n0)
    out = correct_rates(_counts(h, h, [10000] * K, F, [2400] * K), Misclassification(table=table, vcov=V, by=("h",)))
    covered = np.abs(out["rate_corrected"] - 0.6) <= 1.959964 * out["se"]
    assert covered.mean() >= 0.94
    # the files' part alone, against the files' own error (the rates known): its variance at the true rates
    known = Misclassification(
        table=table.assign(estimate=np.r_[np.full(K, sens), np.full(K, fp)]), vcov=V * 0, by=("h",)
    )
    exact = correct_rates(_counts(h, h, [10000] * K, F, [2400] * K), known)
    files_error = exact["rate_corrected"] - 0.6
    ratio = np.mean(out["se_files"] ** 2) / np.var(files_error)
    assert 0.9 < ratio < 1.8, ratio


def test_strata_without_respondents_of_a_kind_and_uncorrectable_ones():
    # no truly not-eligible respondent in a: fp = 0; no truly eligible one in b: se = 1, its file-eligibles are
    # false positives; c's files do not separate (se - fp < 0.1): its count is taken as it is
    mis = _mis({"a": 0.9, "b": np.nan, "c": 0.5}, {"a": np.nan, "b": 0.1, "c": 0.45})
    counts = _counts(["x", "x", "y", "y"], ["a", "b", "a", "c"], [100, 50, 100, 40], [90, 8, 90, 20], [60, 3, 60, 5])
    out = correct_rates(counts, mis).set_index("territory")
    assert out.loc["x", "n_eligible_corrected"] == pytest.approx(90 / 0.9 + (8 - 0.1 * 50) / 0.9, rel=1e-12)
    assert bool(out.loc["x", "corrected"])
    assert out.loc["y", "n_eligible_corrected"] == pytest.approx(100 + 20, rel=1e-12)
    assert not out.loc["y", "corrected"]


def test_file_counts_and_statuses():
    elig = pd.DataFrame(
        {
            "rec_id": ["r1", "r2", "r3", "r4"],
            "cmuc": ["eligible", "not_eligible", "undetermined", "not_eligible"],
            "cmuc_rule": ["rsa_presumption", "over_cmuc_ceiling", "resources_missing", "not_applicable_territory"],
        }
    )
    st = file_statuses(elig, ["cmuc"])
    # undetermined: not found eligible; decided by the territory (Mayotte): left out
    assert st["cmuc"].tolist()[:3] == [1.0, 0.0, 0.0] and np.isnan(st["cmuc"].iloc[3])
    takers = pd.DataFrame(
        {
            "rec_id": ["r1", "r2", "r3", "r4"],
            "territory": "x",
            "right": "cmuc",
            "eligible": st["cmuc"],
            "taker": [1, 1, 0, 0],
            "p_link": [0.9, 1.0, 0.0, 0.0],
            "q_miss": [0.0, 0.0, 0.3, 0.0],
        }
    )
    strata = pd.DataFrame({"rec_id": ["r1", "r2", "r3", "r4"], "h": "a"})
    c = file_counts(takers, strata, by=("h",)).iloc[0]
    # takers among every recipient whose eligibility the files decide, whatever they decide
    assert (c["n_recipients"], c["n_file_eligible"], c["n_undetermined"]) == (3, 1, 1)
    assert c["takers"] == pytest.approx(2.2) and c["var_takers"] == pytest.approx(0.09 + 0.21)


def test_combined_weights_by_inverse_mse():
    corrected = pd.DataFrame(
        {"territory": ["x", "y", "z"], "right": "cmuc", "rate_corrected": [0.6, 0.5, np.nan], "se": [0.02, 0.03, 1]}
    )
    sae = pd.DataFrame({"territory": ["x", "z"], "right": "cmuc", "eblup": [0.7, 0.4], "mse": [0.0012, 0.001]})
    out = combine_estimates(corrected, sae).set_index("territory")
    phi = 0.0012 / (0.0004 + 0.0012)
    assert out.loc["x", "weight_admin"] == pytest.approx(phi)
    assert out.loc["x", "combined"] == pytest.approx(phi * 0.6 + (1 - phi) * 0.7)
    assert out.loc["x", "mse_combined"] == pytest.approx(0.0004 * 0.0012 / 0.0016)
    assert out.loc["x", "mse_combined"] < min(0.0004, 0.0012)
    assert out.loc["y", "combined"] == 0.5 and out.loc["y", "weight_admin"] == 1  # no small-area estimate
    assert np.isnan(out.loc["z", "combined"])  # no corrected rate: the small-area estimate stands alone
    with pytest.raises(Exception, match="mse"):
        combine_estimates(corrected, sae.drop(columns="mse"))


def test_corrected_rates_carry_the_linkage_and_boundary_variance_of_the_rates():
    """Every recipient found eligible by the files: the corrected rates' cells are the rates' cells, so their
    takers and linkage (+ boundary) variance are ``linked_rates``' own, under a clerical review's calibration."""
    from nonrecours.admin.misclassification import survey_corrected_rates
    from nonrecours.admin.rates import linked_rates

    rng = np.random.default_rng(11)
    rows = []
    for terr, n in (("A", 300), ("B", 200)):
        p = np.where(rng.random(n) < 0.6, rng.uniform(0.9, 1, n), 0.0)
        q = np.where((p == 0) & (rng.random(n) < 0.1), rng.uniform(0.05, 0.8, n), 0.0)
        rows.append(
            pd.DataFrame(
                {
                    "rec_id": [f"{terr}{i}" for i in range(n)],
                    "territory": terr,
                    "departement": "01",
                    "right": "tpn",
                    "eligible": 1.0,
                    "taker": (p > 0).astype(int),
                    "p_link": p,
                    "q_miss": q,
                    "boundary": (rng.random(n) < 0.2).astype(np.int8),
                }
            )
        )
    takers = pd.concat(rows, ignore_index=True)
    cal = tpn_calibration()
    ref = linked_rates(takers, min_cell=5, calibration=cal).table.set_index("territory")
    elig = pd.DataFrame({"rec_id": takers["rec_id"], "tpn": "eligible", "tpn_rule": "under_ceiling"})
    # 80 respondents, each with a record in the files; their answers (eligible or not) decide nothing here
    n = 80
    resp = rng.choice(len(takers), n, replace=False)
    design = SurveyDesign(
        pd.DataFrame(
            {
                "id": np.arange(n),
                "h": "a",
                "w": 10.0,
                "tpn": np.where(rng.random(n) < 0.5, (rng.random(n) < 0.7).astype(float), np.nan),
            }
        ),
        weight="w",
    )
    frame_ids = pd.DataFrame({"id": np.arange(n), "rec_id": takers["rec_id"].to_numpy()[resp]})
    strata = pd.DataFrame({"rec_id": takers["rec_id"], "h": "a"})
    res = survey_corrected_rates(design, elig, strata, takers, frame_ids, ["tpn"], by=("h",), calibration=cal)
    got = res.table.set_index("territory")
    for terr in ("A", "B"):
        g, r = got.loc[terr], ref.loc[terr]
        assert g["n_eligible_corrected"] == pytest.approx(r["n_eligible"], rel=1e-12)  # the files separate nothing
        assert g["takers"] == pytest.approx(r["takers_adjusted"], rel=1e-12)
        assert g["rate_corrected"] == pytest.approx(r["rate_adjusted"], rel=1e-12)
        # rates.py's se: linkage (Bernoulli + calibration) and boundary; no undetermined recipient
        assert np.hypot(g["se_linkage"], g["se_boundary"]) == pytest.approx(r["se"], rel=1e-9)
        assert g["se_boundary"] > 0
    # the calibration's error enters: without the review, the linkage variance is the model's sum p (1 - p)
    model = survey_corrected_rates(design, elig, strata, takers, frame_ids, ["tpn"], by=("h",)).table
    assert (model["se_linkage"].to_numpy() < got.loc[["A", "B"], "se_linkage"].to_numpy()).all()


def test_recipients_not_found_eligible_take_the_reviews_other_groups():
    """Takers among the recipients the files do not find eligible: rates.py's figures under the review's ratios
    of its ``other`` group; the two parts' takers and linkage variances add."""
    from nonrecours.admin.misclassification import survey_corrected_rates
    from nonrecours.admin.rates import linked_rates

    rng = np.random.default_rng(5)
    n = 400
    p = np.where(rng.random(n) < 0.6, rng.uniform(0.9, 1, n), 0.0)
    q = np.where((p == 0) & (rng.random(n) < 0.1), rng.uniform(0.05, 0.8, n), 0.0)
    found = rng.random(n) < 0.7
    takers = pd.DataFrame(
        {
            "rec_id": [f"r{i}" for i in range(n)],
            "territory": "A",
            "departement": "01",
            "right": "tpn",
            "eligible": found.astype(float),
            "taker": (p > 0).astype(int),
            "p_link": p,
            "q_miss": q,
        }
    )
    strata = ["link_high", "link_low", "near_miss", "no_candidate"]
    cal = pd.concat(
        [
            pd.DataFrame(
                {"group": "eligible", "ratio": [0.999, 0.95, 0.5, 0.02], "var_ratio": [1e-7, 1e-4, 1e-2, 1e-5]}
            ),
            pd.DataFrame({"group": "other", "ratio": [0.99, 0.9, 0.2, 0.01], "var_ratio": [1e-6, 1e-3, 1e-2, 1e-6]}),
        ]
    ).assign(source="tpn", stratum=strata * 2, N=[5000, 100, 300, 4000] * 2)
    status = np.where(found, "eligible", "not_eligible")
    elig = pd.DataFrame({"rec_id": takers["rec_id"], "tpn": status, "tpn_rule": "under_ceiling"})
    m = 60
    design = SurveyDesign(
        pd.DataFrame({"id": np.arange(m), "h": "a", "w": 5.0, "tpn": (rng.random(m) < 0.6).astype(float)}),
        weight="w",
    )
    frame_ids = pd.DataFrame({"id": np.arange(m), "rec_id": takers["rec_id"].to_numpy()[:m]})
    got = survey_corrected_rates(
        design, elig, takers[["rec_id"]].assign(h="a"), takers, frame_ids, ["tpn"], by=("h",), calibration=cal
    ).table.iloc[0]
    own = linked_rates(takers[found], min_cell=5, calibration=cal).table.iloc[0]
    other_cal = cal[cal["group"] == "other"].assign(group="eligible")
    other = linked_rates(takers[~found].assign(eligible=1.0), min_cell=5, calibration=other_cal).table.iloc[0]
    assert got["takers"] == pytest.approx(own["takers_adjusted"] + other["takers_adjusted"], rel=1e-12)
    var = (own["se"] * own["n_eligible"]) ** 2 + (other["se"] * other["n_eligible"]) ** 2
    assert got["se_linkage"] * got["n_eligible_corrected"] == pytest.approx(np.sqrt(var), rel=1e-9)


def test_takers_joined_by_position_equal_pandas_merges():
    from nonrecours.admin.misclassification import _coded, _join_by_record

    rng = np.random.default_rng(5)
    ids = [f"R{i:04d}" for i in range(40)]
    takers = pd.DataFrame(
        {
            "rec_id": pd.Series(np.repeat(ids + ["ZZZ"], 2), dtype="str"),
            "right": pd.Series(np.tile(["cmuc", "tpn"], 41), dtype="str"),
            "taker": rng.integers(0, 2, 82),
        }
    )
    status = pd.DataFrame(
        {"rec_id": pd.Series(ids[::-1], dtype="str"), "cmuc": rng.choice([0.0, 1.0, np.nan], 40), "tpn": 1.0}
    )
    long = status.melt(id_vars="rec_id", var_name="right", value_name="eligible")
    pd.testing.assert_frame_equal(
        _coded(takers, status, ["cmuc", "tpn"]), takers.merge(long, on=["rec_id", "right"], how="left")
    )
    strata = pd.DataFrame({"rec_id": pd.Series(ids[5:], dtype="str"), "benefit": "RSA", "is_qpv": np.int8(1)})
    pd.testing.assert_frame_equal(_join_by_record(takers, strata), takers.merge(strata, on="rec_id", how="inner"))
    twice = pd.concat([strata, strata.iloc[:3]], ignore_index=True)  # a repeated record: pandas' merge
    pd.testing.assert_frame_equal(_join_by_record(takers, twice), takers.merge(twice, on="rec_id", how="inner"))


def test_taker_arrays_give_the_taker_tables_corrected_rates():
    """:func:`taker_arrays` (integer codes, links aggregated alone) and :func:`~.rates.taker_table` give the same
    corrected rates and counts: several rights, a health record holding two rights, near misses, a recipient
    without a territory row, strata with a missing value."""
    from nonrecours.admin.misclassification import TakerArrays, survey_corrected_rates, taker_arrays
    from nonrecours.admin.rates import RIGHTS, taker_table

    rng = np.random.default_rng(8)
    n = 600
    ids = pd.Series([f"R{i:04d}" for i in rng.permutation(n)], dtype="str")
    status = lambda: rng.choice(["eligible", "not_eligible", "undetermined"], n, p=[0.6, 0.3, 0.1])  # noqa: E731
    elig = pd.DataFrame({"rec_id": ids})
    for r in RIGHTS:
        elig[r] = status()
        elig[f"{r}_rule"] = rng.choice(["resources_missing", "not_applicable_territory", "under_ceiling"], n)
    recipients = pd.DataFrame(
        {
            "rec_id": ids.iloc[::-1].to_numpy()[:-3],  # three recipients without their territory row
            "territory": rng.choice(["T2", "T10", "T1"], n - 3),
            "departement": "01",
            "boundary": (rng.random(n - 3) < 0.1).astype(np.int8),
        }
    )
    linked = rng.choice(n, 500)
    links = pd.DataFrame(
        {
            "source": rng.choice(["health", "tpn", "tss"], 500),
            "id_l": ids.to_numpy()[linked],
            "id_r": [f"H{i % 300}" for i in range(500)],
            "match_probability": rng.uniform(0.5, 1, 500),
        }
    )
    near = links.sample(80, random_state=1).assign(
        id_l=ids.to_numpy()[rng.choice(n, 80)], match_probability=rng.uniform(0.05, 0.5, 80)
    )
    health = pd.DataFrame({"rec_id": [f"H{i}" for i in range(300)], "right": rng.choice(["cmuc", "acs"], 300)})
    health = pd.concat([health, health.iloc[:20].assign(right="acs")], ignore_index=True)  # two rights
    rights_of = {"health": health}
    table = taker_table(recipients, elig, links, near, rights_of)
    arrays = taker_arrays(recipients, elig, links, near, rights_of)
    assert isinstance(arrays, TakerArrays)
    cols = ["rec_id", "territory", "right", "taker", "p_link", "q_miss", "boundary"]
    order = ["rec_id", "right"]
    want = table[cols].sort_values(order, ignore_index=True)
    got = arrays.frame()[cols].sort_values(order, ignore_index=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    m = 120
    design = SurveyDesign(
        pd.DataFrame(
            {
                "id": np.arange(m),
                "is_qpv": rng.integers(0, 2, m),
                "benefit": rng.choice(["RSA", "AAH"], m),
                "w": rng.uniform(5, 15, m),
                **{r: np.where(rng.random(m) < 0.7, (rng.random(m) < 0.6).astype(float), np.nan) for r in RIGHTS},
            }
        ),
        weight="w",
    )
    frame_ids = pd.DataFrame({"id": np.arange(m), "rec_id": ids.to_numpy()[rng.choice(n, m, replace=False)]})
    benefit = pd.Series(rng.choice(["RSA", "AAH"], n), dtype="str")
    benefit[5] = np.nan
    strata = pd.DataFrame({"rec_id": ids, "benefit": benefit, "is_qpv": rng.integers(0, 2, n).astype(np.int8)})
    args = (design, elig, strata)
    rest = (frame_ids, list(RIGHTS))
    kw = {"by": ("is_qpv", "benefit")}
    ref = survey_corrected_rates(*args, table, *rest, **kw)
    new = survey_corrected_rates(*args, arrays, *rest, **kw)
    pd.testing.assert_frame_equal(new.table, ref.table, check_exact=True)
    pd.testing.assert_frame_equal(new.linkage, ref.linkage, check_exact=True)
    pd.testing.assert_frame_equal(new.counts, ref.counts, check_dtype=False)  # takers: sums in another order
    # strata on other records than the arrays': the arrays' rows as a taker table, the same figures
    other = survey_corrected_rates(design, elig, strata.iloc[::-1], arrays, *rest, **kw)
    pd.testing.assert_frame_equal(other.table, ref.table, check_exact=True)


def test_taker_arrays_without_links():
    """No link nor near miss: every recipient × right a non-taker without candidate, as in the taker table."""
    from nonrecours.admin.misclassification import taker_arrays
    from nonrecours.admin.rates import RIGHTS, taker_table

    ids = pd.Series([f"R{i}" for i in range(5)], dtype="str")
    elig = pd.DataFrame({"rec_id": ids, **{r: "eligible" for r in RIGHTS}})
    recipients = pd.DataFrame({"rec_id": ids, "territory": "T1", "departement": "01"})
    none = pd.DataFrame({c: pd.Series([], dtype="str") for c in ["source", "id_l", "id_r"]}).assign(
        match_probability=pd.Series([], dtype=float)
    )
    arrays = taker_arrays(recipients, elig, none, none, {})
    assert arrays is not None
    table = taker_table(recipients, elig, none, none, {})
    cols = ["rec_id", "right", "taker", "p_link", "q_miss"]
    got = arrays.frame()[cols].sort_values(["rec_id", "right"], ignore_index=True)
    want = table[cols].sort_values(["rec_id", "right"], ignore_index=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert (got["taker"] == 0).all() and (got["q_miss"] == 0).all()
