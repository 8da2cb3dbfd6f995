"""Issue 30: the clerical review of the links, the error model of the administrative rates, their coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.admin.rates import boundary_variance, eligibility_variance, linked_rates
from nonrecours.admin.review import (
    draw_review,
    review_estimates,
    review_frame,
    review_quality,
    simulated_verdicts,
)
from nonrecours.cli.main import app
from nonrecours.errors import InputError

Z95 = 1.959963984540054


def _toy_linkage(seed: int = 3, n: int = 4000):
    """Recipients, their links and near misses to one source 'tpn', and the true links (known here)."""
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"r{i}" for i in range(n)])
    took = rng.random(n) < 0.5
    linked = took & (rng.random(n) < 0.97) | (~took & (rng.random(n) < 0.01))  # misses and false links
    near = ~linked & (rng.random(n) < 0.1)
    p = np.where(linked, rng.uniform(0.9, 1.0, n), np.nan)
    q = np.where(near, rng.uniform(0.01, 0.9, n), np.nan)
    links = pd.DataFrame(
        {"source": "tpn", "id_l": ids[linked], "id_r": "s" + ids[linked], "match_probability": p[linked]}
    )
    nm = pd.DataFrame({"source": "tpn", "id_l": ids[near], "id_r": "s" + ids[near], "match_probability": q[near]})
    truth = pd.DataFrame({"source": "tpn", "id_l": ids[took], "id_r": "s" + ids[took]})
    return ids, links, nm, truth, took, linked


def test_review_ratio_is_the_stratified_ratio_estimator():
    ids, links, nm, truth, took, linked = _toy_linkage()
    frame = review_frame(ids, links, nm)
    sample = simulated_verdicts(draw_review(frame, 600, seed=1), truth)
    est = review_estimates(sample, frame).set_index("stratum")
    for stratum, e in est.iterrows():
        s = sample[sample["stratum"] == stratum]
        w = np.where(stratum == "no_candidate", 1.0, s["match_probability"].to_numpy(dtype=float))
        y = s["match"].to_numpy(dtype=float)
        ratio = y.sum() / w.sum()
        assert e["ratio"] == pytest.approx(ratio, rel=1e-12)
        n, N = len(s), (frame["stratum"] == stratum).sum()
        assert (e["n"], e["N"]) == (n, N)
        s2 = ((y - ratio * w) ** 2).sum() / (n - 1)
        pt = (y.sum() + 0.5) / (n + 1)  # the mean of Jeffreys' posterior of the share of matches
        # Cochran's variance as written, its residual variance at least the Bernoulli variance at that mean
        assert e["var_ratio"] == pytest.approx((1 - n / N) * max(s2, pt * (1 - pt)) / (n * w.mean() ** 2), rel=1e-9)
        assert e["var_ratio"] > 0 or n == N  # never a point interval unless the stratum is a census
    # precision and recall from the ratios; their intervals cover the true ones of this linkage
    q = review_quality(est.reset_index()).iloc[0]
    true_precision = took[linked].mean()
    true_recall = (took & linked).sum() / took.sum()
    assert q["review_precision_low"] <= true_precision <= q["review_precision_high"]
    assert q["review_recall_low"] <= true_recall <= q["review_recall_high"]
    assert q["review_recall_high"] - q["review_recall_low"] < 0.1  # informative: 600 reviews of 4,000


def test_review_groups_by_position_or_by_id_give_the_same_frame_and_sample():
    from nonrecours.admin.review import recipient_groups

    ids, links, nm, _truth, took, _linked = _toy_linkage(seed=4, n=3000)
    qpv = (np.arange(len(ids)) % 3 == 0).astype(float)
    groups = recipient_groups(ids, {"tpn": ids[took]}, qpv)  # indexed by the recipients' ids, in their order
    shuffled = {"tpn": groups["tpn"].sample(frac=1.0, random_state=2)}  # the same labels, found by id
    partial = {"tpn": groups["tpn"].iloc[::2]}  # the others: group 'all'
    as_objects = {"tpn": groups["tpn"].astype(object)}  # labels of another dtype: pandas' own path
    frame = review_frame(ids, links, nm, groups=groups)
    for other in (shuffled, as_objects):
        pd.testing.assert_frame_equal(review_frame(ids, links, nm, groups=other), frame)
    half = review_frame(ids, links, nm, groups=partial)
    assert (half["group"].to_numpy()[1::2] == "all").all()
    assert (half["group"].to_numpy()[::2] == frame["group"].to_numpy()[::2]).all()
    expected = np.array(["other_rest", "other_qpv", "eligible_rest", "eligible_qpv"])[2 * took + (qpv == 1)]
    assert (frame["group"].to_numpy() == expected).all()
    # the sample: the smallest uniforms of each stratum, ranked as a lexsort would (ties in row order)
    from nonrecours.admin.review import _allocation

    keys = ["source", "group", "stratum"]
    u = np.random.default_rng(3).random(len(frame))
    stratum = frame.groupby(keys, sort=True).ngroup().to_numpy()
    order = np.lexsort((u, stratum))
    rank = np.empty(len(frame), dtype=np.int64)
    rank[order] = np.arange(len(frame)) - np.searchsorted(stratum[order], stratum[order]) + 1
    quota = _allocation(frame, 200).reindex(pd.MultiIndex.from_frame(frame[keys])).to_numpy()
    sample = draw_review(frame, 200, seed=3)
    assert sorted(sample["id_l"]) == sorted(frame.loc[rank <= quota, "id_l"])


def _several_sources(seed: int = 5, n: int = 2400):
    """Recipients (ids in no sorted order), three sources' links and near misses listed out of the sources' order
    (a recipient's second link of a source and links to other ids among them), the true links, each source's
    eligible recipients (none known for 'health': group 'all') and QPV flags (some missing)."""
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"r{i:05d}" for i in rng.permutation(n)])
    links, near, truth = [], [], []
    for k, src in enumerate(("tss", "health", "tpn")):
        took = rng.random(n) < 0.3 + 0.2 * k
        linked = took & (rng.random(n) < 0.95) | (~took & (rng.random(n) < 0.02))
        # probabilities on a grid of 0.005 (ties, some exactly HIGH); a few missing (then the near miss counts)
        p = np.round(rng.uniform(0.9, 1.0, n) / 0.005) * 0.005
        p[rng.random(n) < 0.01] = np.nan
        nm = ~linked & (rng.random(n) < 0.15)
        q = np.where(rng.random(n) < 0.05, np.nan, rng.uniform(0.01, 0.9, n))
        links.append(
            pd.DataFrame(
                {"source": src, "id_l": ids[linked], "id_r": src + ids[linked], "match_probability": p[linked]}
            )
        )
        near.append(pd.DataFrame({"source": src, "id_l": ids[nm], "id_r": "n" + ids[nm], "match_probability": q[nm]}))
        truth.append(pd.DataFrame({"source": src, "id_l": ids[took], "id_r": src + ids[took]}))
        again = ids[linked].iloc[::7]  # a second link of the same recipients: the first one counts
        links.append(pd.DataFrame({"source": src, "id_l": again, "id_r": "x" + again, "match_probability": 0.5}))
        links.append(pd.DataFrame({"source": src, "id_l": ["nobody", "z"], "id_r": "y", "match_probability": 0.95}))
    order = rng.permutation(sum(len(t) for t in links))  # the sources' links interleaved
    links_df = pd.concat(links, ignore_index=True).iloc[order].reset_index(drop=True)
    eligible = {"tss": rng.random(n) < 0.6, "tpn": rng.random(n) < 0.4, "unlinked": rng.random(n) < 0.5}
    qpv = np.where(rng.random(n) < 0.05, np.nan, (rng.random(n) < 0.3).astype(float))
    return ids, links_df, pd.concat(near, ignore_index=True), pd.concat(truth, ignore_index=True), eligible, qpv


def _reference_draw(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """draw_review written plainly: every row ranked by a lexsort of (stratum, uniform), ties in row order."""
    from nonrecours.admin.review import REVIEW_COLUMNS, _allocation

    keys = ["source", "group", "stratum"]
    alloc = _allocation(frame, n)
    u = np.random.default_rng(seed).random(len(frame))
    stratum = frame.groupby(keys, sort=True).ngroup().to_numpy()
    order = np.lexsort((u, stratum))
    rank = np.empty(len(frame), dtype=np.int64)
    rank[order] = np.arange(len(frame)) - np.searchsorted(stratum[order], stratum[order]) + 1
    take = rank <= alloc.to_numpy()[stratum]
    size = np.bincount(stratum)[stratum]
    out = frame.loc[take].assign(n_stratum=size[take], match=np.nan)[list(REVIEW_COLUMNS)]
    return out.sort_values(keys + ["id_l"], ignore_index=True)


@pytest.mark.parametrize("case", ["aligned", "eligibility_by_id", "repeated_ids", "no_qpv"])
def test_review_by_code_draws_the_frame_sample_and_its_ratios(case):
    """The phase's review on integer codes (_population) against review_frame, recipient_groups, a plain draw and
    review_estimates: the same sample (rows, order, values, dtypes) and ratios, to the last bit."""
    from nonrecours.admin.review import _population, recipient_groups

    ids, links, near, truth, eligible, qpv = _several_sources()
    eligible_ids = ids
    if case == "no_qpv":  # groups 'eligible' and 'other' (and 'all'): in GROUPS' order, not their labels'
        qpv = None
    if case == "repeated_ids":  # ids repeated (and one missing): coded by factorizing, each a group by id
        ids = ids.copy()
        ids.iloc[1::50] = ids.iloc[0:-1:50].to_numpy()
        ids.iloc[7] = None
        eligible_ids = ids
    groups = recipient_groups(ids, {s: eligible_ids[m] for s, m in eligible.items()}, qpv)
    if case == "eligibility_by_id":  # the eligibility's rows in another order: found by id
        perm = np.random.default_rng(1).permutation(len(ids))
        eligible_ids, eligible = ids[perm], {s: m[perm] for s, m in eligible.items()}
    frame = review_frame(ids, links, near, groups=groups)
    assert {
        "all",
        "eligible_qpv" if qpv is not None else "eligible",
        "other_rest" if qpv is not None else "other",
    } <= set(frame["group"])
    pop = _population(ids, links, near, eligible_ids=eligible_ids, eligible=eligible, qpv=qpv)
    for n, seed in ((150, 7), (40, 8)):
        got = pop.draw(n, seed=seed)
        pd.testing.assert_frame_equal(got, _reference_draw(frame, n, seed), check_exact=True)
        pd.testing.assert_frame_equal(got, draw_review(frame, n, seed=seed), check_exact=True)
        sample = simulated_verdicts(got, truth)
        pd.testing.assert_frame_equal(pop.estimates(sample), review_estimates(sample, frame), check_exact=True)


def test_review_draw_ranks_ties_in_row_order_and_takes_all_rows_of_a_short_stratum():
    """_draw_rows against a plain per-stratum sort: uniforms with ties, rows without a stratum, a stratum whose
    uniforms all lie above its cut (its candidates too few: all its rows), a stratum taken whole."""
    from nonrecours.admin.review import _draw_rows

    rng = np.random.default_rng(9)
    stratum = rng.integers(-1, 6, 6000)
    u = np.round(rng.random(6000), 2)  # a hundred values: many ties
    u[stratum == 2] = 0.995
    u[(stratum == 3) & (rng.random(6000) < 0.5)] = 0.0
    quota = np.array([5, 40, 30, 60, 10_000, 1])

    class Fixed:  # a generator whose uniforms are u
        def random(self, size):
            assert size == len(u)
            return u.copy()

    expected = []
    for h in range(len(quota)):
        rows = np.flatnonzero(stratum == h)
        expected.extend(rows[np.argsort(u[rows], kind="stable")][: quota[h]])
    got = _draw_rows(stratum, quota, Fixed())  # type: ignore[arg-type]
    assert got.tolist() == sorted(expected)


def test_review_verdicts_are_checked_and_name_no_record():
    ids, links, nm, *_ = _toy_linkage(n=500)
    sample = draw_review(review_frame(ids, links, nm), 100, seed=1)
    with pytest.raises(InputError, match="column 'match'") as err:
        review_estimates(sample.assign(match=np.where(np.arange(len(sample)) == 3, 2, 1)))
    assert "line" in str(err.value) and "r1" not in str(err.value)
    with pytest.raises(InputError, match="parameter n"):
        draw_review(review_frame(ids, links, nm), 0, seed=1)


def _cell(n_rows: int, rng) -> pd.DataFrame:
    p = np.where(rng.random(n_rows) < 0.6, rng.uniform(0.9, 1, n_rows), 0.0)
    q = np.where((p == 0) & (rng.random(n_rows) < 0.1), rng.uniform(0.05, 0.8, n_rows), 0.0)
    return pd.DataFrame(
        {
            "rec_id": [f"r{i}" for i in range(n_rows)],
            "territory": "A",
            "departement": "01",
            "right": "tpn",
            "eligible": 1.0,
            "taker": (p > 0).astype(int),
            "p_link": p,
            "q_miss": q,
        }
    )


def tpn_calibration() -> pd.DataFrame:
    """A review's ratios and their variances for the four TPN strata (group ``all``), with the strata's sizes."""
    return pd.DataFrame(
        {
            "source": "tpn",
            "group": "all",
            "stratum": ["link_high", "link_low", "near_miss", "no_candidate"],
            "N": [5000, 100, 300, 4000],
            "ratio": [0.999, 0.95, 0.5, 0.02],
            "var_ratio": [1e-7, 1e-4, 1e-2, 1e-5],
        }
    )


def test_calibrated_rates_follow_the_review_ratios_and_add_their_variance():
    rng = np.random.default_rng(4)
    t = _cell(400, rng)
    t = pd.concat([t, t.assign(territory="B", rec_id=lambda d: d["rec_id"] + "b")], ignore_index=True)
    cal = tpn_calibration()
    got = linked_rates(t, min_cell=5, calibration=cal).table.set_index("territory").loc["A"]
    a = t[t["territory"] == "A"]
    stratum = np.select(
        [(a["taker"] == 1) & (a["p_link"] >= 0.99), a["taker"] == 1, a["q_miss"] > 0],
        ["link_high", "link_low", "near_miss"],
        "no_candidate",
    )
    # without candidate: the missed links grow with the links, W = L_c U_g / L_g (4000 / 5100 per link)
    n_links, none = int((a["taker"] == 1).sum()), stratum == "no_candidate"
    w = np.where(a["taker"] == 1, a["p_link"], np.where(a["q_miss"] > 0, a["q_miss"], 0.0))
    c = cal.set_index("stratum")
    r = c["ratio"].reindex(stratum).to_numpy()
    w_none = n_links * 4000 / 5100
    e_none = 0.02 * w_none
    takers = (r * w).sum() + e_none
    assert got["takers_adjusted"] == pytest.approx(takers, rel=1e-12)
    W = pd.Series(w).groupby(stratum).sum()
    W["no_candidate"] = w_none
    var = (r * w * (1 - r * w)).sum() + e_none * (1 - e_none / none.sum())
    var += (W**2 * c["var_ratio"].reindex(W.index)).sum()
    assert got["se"] == pytest.approx(np.sqrt(var) / len(a), rel=1e-9)
    assert got["ci_high"] == pytest.approx(takers / len(a) + Z95 * np.sqrt(var) / len(a), rel=1e-9)
    # without a review, the model's own: sum p + sum q, variance sum p(1-p) + q(1-q)
    base = linked_rates(t, min_cell=5).table.set_index("territory").loc["A"]
    assert base["takers_adjusted"] == pytest.approx(a["p_link"].sum() + a["q_miss"].sum(), rel=1e-12)


def test_undetermined_and_boundary_recipients_widen_the_interval_by_their_formulas():
    rng = np.random.default_rng(5)
    t = _cell(300, rng).assign(boundary=0, undetermined_at_random=0)
    # 20 not eligible, 12 undetermined for a missing resource, 7 undetermined for a fact not at random, 6 eligible
    # recipients on a QPV contour
    t.loc[:19, "eligible"] = 0.0
    t.loc[20:31, ["eligible", "undetermined_at_random"]] = [np.nan, 1]
    t.loc[32:38, "eligible"] = np.nan
    t.loc[50:55, "boundary"] = 1
    t = pd.concat([t, t.assign(territory="B", rec_id=lambda d: d["rec_id"] + "b")], ignore_index=True)
    got = linked_rates(t, min_cell=5).table.set_index("territory").loc["A"]
    a = t[(t["territory"] == "A") & (t["eligible"] == 1)]
    n = len(a)
    r = got["rate_adjusted"]
    link = (a["p_link"] * (1 - a["p_link"])).sum() + (a["q_miss"] * (1 - a["q_miss"])).sum()
    # the 7 undetermined for the fiscal income are decided by their resources: in the share that imputes
    nu = 12 * n / (n + 20 + 7)
    assert eligibility_variance(
        np.array([r]), np.array([n]), np.array([20]), np.array([12]), np.array([n]), np.array([7])
    )[0] == pytest.approx(r * (1 - r) * nu / (n * (n + nu)), rel=1e-12)
    var = link / n**2 + r * (1 - r) * nu / (n * (n + nu)) + 6 * r * (1 - r) / (4 * n**2)
    assert got["se"] == pytest.approx(np.sqrt(var), rel=1e-9)
    assert boundary_variance(np.array([0.5]), np.array([100]), np.array([0]))[0] == 0


def test_eligibility_variance_matches_a_monte_carlo_of_resources_missing_at_random():
    # a cell: 60 eligible by the RSA presumption (never undetermined), 240 eligible, 200 not eligible and 30
    # undetermined for the fiscal income by their resources; a resource goes missing at random (8 %) among the
    # 470 recipients the resources decide. The rate of the determined eligible against that of every eligible.
    rng = np.random.default_rng(30)
    n_p, n_r, n_0, n_f, pi, reps = 60, 240, 200, 30, 0.08, 4000
    y = rng.random(n_p + n_r) < 0.6  # take-up, fixed
    missing = rng.random((reps, n_r + n_0 + n_f)) < pi  # per replication, which resources are missing
    miss_e = np.hstack([np.zeros((reps, n_p), dtype=bool), missing[:, :n_r]])
    det = ~miss_e
    n = det.sum(axis=1)
    rate = (det * y).sum(axis=1) / n
    error = rate - y.mean()
    u = missing.sum(axis=1)
    predicted = eligibility_variance(
        rate, n, n_0 - missing[:, n_r : n_r + n_0].sum(axis=1), u, n - n_p, n_f - missing[:, n_r + n_0 :].sum(axis=1)
    )
    # Monte Carlo variance within 10 % of the formula's mean (its relative MC error is about 2.2 %)
    assert np.var(error) == pytest.approx(predicted.mean(), rel=0.10)
    # the share without the presumption and the fiscal income left out would be 18 % too wide
    naive = eligibility_variance(rate, n, n_0 - missing[:, n_r : n_r + n_0].sum(axis=1), u)
    assert naive.mean() > 1.12 * np.var(error)


def test_link_review_options_are_checked_before_any_work(tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "link",
            str(tmp_path),
            "--out",
            str(tmp_path / "l.csv"),
            "--near-misses-out",
            str(tmp_path / "n.csv"),
            "--quality-out",
            str(tmp_path / "q.csv"),
            "--review-sample",
            "100",
        ],
    )
    assert res.exit_code == 2 and "--review-out" in res.output


@pytest.fixture(scope="module")
def phase(tmp_path_factory):
    from nonrecours.admin.pipeline import run_admin_phase
    from nonrecours.simulate import simulate_population
    from nonrecours.simulate.sources import simulate_sources

    pop = simulate_population(6, seed=11)
    src = simulate_sources(pop, seed=12)
    folder = tmp_path_factory.mktemp("review") / "sources"
    src.write(folder)
    ph = run_admin_phase(folder, truth_links=src.tables["truth_links"], review_sample=1500, min_cell=11, seed=3)
    return pop, src, ph


@pytest.mark.slow
def test_review_intervals_cover_the_true_precision_and_recall(phase):
    _pop, _src, ph = phase
    q = ph.quality.set_index("source")
    for s, row in q.iterrows():
        assert row["review_precision_low"] <= row["true_precision"] <= row["review_precision_high"], s
        assert row["review_recall_low"] <= row["true_recall"] <= row["review_recall_high"], s
    # the model is optimistic about its recall; the review is not bound to be
    assert (ph.calibration["n"] <= ph.calibration["N"]).all()
    assert set(ph.review.columns) >= {"source", "stratum", "match"} and ph.review["match"].isin([0, 1]).all()


@pytest.mark.slow
def test_admin_intervals_cover_the_true_rates_within_tolerance():
    from nonrecours.validation.admin import run_admin_validation

    # two simulated populations of 20 QPVs (40 territories each), sources, linkages, simulated reviews, surveys
    pooled, per = run_admin_validation(20, 2, seed=21, review_sample=1500, sample_size=1500)
    summed = per.groupby(["interval", "right"])["cells"].sum()
    assert set(per["replication"]) == {0, 1}
    assert (pooled.set_index(["interval", "right"])["cells"].reindex(summed.index) == summed).all()
    rates = pooled[(pooled["interval"] == "admin_rates") & (pooled["right"] != "all")]
    assert (rates["estimand"] == "file_rate").all() and (rates["cells"] >= 60).all(), pooled
    # each right within 0.95 ± 0.03 of its own estimand, up to 2 Monte Carlo SEs at the nominal coverage
    mc_se = np.sqrt(0.95 * 0.05 / rates["cells"])
    assert ((rates["coverage"] - 0.95).abs() <= 0.03 + 2 * mc_se).all(), pooled
    assert (pooled["mean_width"] < 0.2).all()
    corrected = pooled[(pooled["interval"] == "admin_corrected") & (pooled["right"] == "all")].iloc[0]
    assert corrected["estimand"] == "rate" and corrected["coverage"] > 0.85, pooled


@pytest.mark.slow
def test_cli_review_sample_then_verdicts_calibrate_the_rates(tmp_path):
    r = CliRunner()
    out = tmp_path / "pop"
    assert (
        r.invoke(app, ["simulate", "--territories", "2", "--seed", "4", "--out", str(out), "--sources"]).exit_code == 0
    )
    s = out / "sources"
    assert r.invoke(app, ["eligibility", str(s), "--out", str(tmp_path / "elig.csv")]).exit_code == 0
    link = ["link", str(s), "--near-misses-out", str(tmp_path / "near.csv")]
    res = r.invoke(
        app,
        [*link, "--out", str(tmp_path / "links.csv"), "--quality-out", str(tmp_path / "q.csv")]
        + ["--review-sample", "200", "--review-out", str(tmp_path / "review.csv")],
    )
    assert res.exit_code == 0, res.output
    sample = pd.read_csv(tmp_path / "review.csv", dtype={"id_l": str, "id_r": str})
    assert sample["match"].isna().all() and set(sample["source"]) == {"health", "tpn", "tss"}
    # the reviewer's verdicts (here the truth), read back: review precision and recall in the quality table
    truth = pd.read_csv(s / "truth_links.csv", dtype=str)
    simulated_verdicts(sample, truth).to_csv(tmp_path / "reviewed.csv", index=False)
    res2 = r.invoke(
        app,
        [*link, "--out", str(tmp_path / "links2.csv"), "--quality-out", str(tmp_path / "q2.csv"), "--overwrite"]
        + ["--reviewed", str(tmp_path / "reviewed.csv")],
    )
    assert res2.exit_code == 0, res2.output
    q = pd.read_csv(tmp_path / "q2.csv")
    assert {"review_precision", "review_recall_low", "review_recall_high"} <= set(q.columns)
    assert (q["review_recall_low"] <= q["review_recall_high"]).all()
    admin = ["territorial", "admin", "--sources", str(s), "--eligibility", str(tmp_path / "elig.csv")]
    admin += ["--links", str(tmp_path / "links.csv"), "--near-misses", str(tmp_path / "near.csv")]
    base = r.invoke(app, [*admin, "--out", str(tmp_path / "a.csv")])
    cal = r.invoke(app, [*admin, "--out", str(tmp_path / "b.csv"), "--reviewed", str(tmp_path / "reviewed.csv")])
    assert base.exit_code == 0 and cal.exit_code == 0, cal.output
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    pub = a["status"] == "published"
    assert pub.any() and not np.allclose(a.loc[pub, "takers_adjusted"], b.loc[pub, "takers_adjusted"])
    caf = pd.read_csv(s / "caf.csv", dtype=str)
    text = res.output + res2.output + cal.output
    assert not any(v in text for v in caf["rec_id"].head(200))


def test_study_review_sample_without_truth_or_verdicts_is_refused(tmp_path):
    from types import SimpleNamespace

    from nonrecours.errors import ConfigError
    from nonrecours.study.config import AdminConfig
    from nonrecours.study.stages.admin import admin_stage

    cfg = SimpleNamespace(admin=AdminConfig(sources=tmp_path, review_sample=500))
    with pytest.raises(ConfigError, match="admin.review_sample") as err:
        admin_stage(cfg, {})  # type: ignore[arg-type]
    assert "nonrecours link --review-sample" in str(err.value)


def _exact_coverages(p, n, N):
    """Exact coverage (binomial enumeration of the review's misses) of the no-candidate stratum's 95 % interval:
    with the variance of review_estimates, and with Cochran's variance alone (the residual variance as written)."""
    from scipy.stats import binom

    ks = np.arange(n + 1)
    var = []
    for k in ks.tolist():
        rev = pd.DataFrame(
            {
                "source": "tpn",
                "group": "all",
                "stratum": "no_candidate",
                "n_stratum": N,
                "id_l": [f"r{i}" for i in range(n)],
                "id_r": "",
                "match_probability": 0.0,
                "match": np.r_[np.ones(k), np.zeros(n - k)],
            }
        )
        var.append(review_estimates(rev)["var_ratio"].iloc[0])
    ph, pk, fpc = ks / n, binom.pmf(ks, n, p), 1 - n / N
    cochran = fpc * ph * (1 - ph) * n / (n - 1) / n
    hit = lambda v: float((pk * (np.abs(ph - p) <= 1.96 * np.sqrt(v))).sum())  # noqa: E731
    return hit(np.array(var)), hit(cochran)


def test_review_variance_floor_where_misses_are_few():
    """Rows without candidate where a few per cent are missed links: the stratum's interval with Cochran's
    variance alone covers less than 95 % (its variance falls with its error); floored at Jeffreys' posterior
    mean it never covers less, and more where the lattice of the counts allows (3 % of 100 reviewed: 0.80 ->
    0.95). Exact binomial enumeration, no tolerance needed beyond the rounding."""
    floored, cochran = _exact_coverages(0.03, 100, 5000)
    assert cochran < 0.85 and floored > 0.93
    for p, n in ((0.01, 60), (0.05, 80)):
        floored, cochran = _exact_coverages(p, n, 5000)
        assert floored >= cochran - 1e-12, (p, n, floored, cochran)
