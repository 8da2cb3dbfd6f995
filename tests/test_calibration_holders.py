"""The survey calibrated to administrative totals: linked holders of each right as margins.

Provenance of the R values: ``tests/reference/holders_reference.json`` made by
``tests/reference/make_holders_reference.R`` (R 4.2.2, survey 4.1.1, 15 significant digits) on
``holders_sample.csv`` and ``holders_totals.csv`` (written by ``make_holders_data.py``, numpy seed
2027): ``calibrate(des, ~stratum + linked_cmuc, pop, calfun=)`` then ``svyratio(~taker, ~eligible)``
nationally and by QPV (``svyby``), the SEs by the residual-based linearisation of a calibrated design.
Tolerance 1e-9 relative: linear calibration is a closed form; raking is iterated to 1e-13 in R and to
1e-12 relative misfit here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nonrecours.admin.holders import NOT_LINKED, holder_margin_columns, linked_holders
from nonrecours.design import SurveyDesign
from nonrecours.errors import ConfigError, InputError
from nonrecours.estimation import QualityThresholds, estimate_rates
from nonrecours.weights import Margins, calibrate

REF_DIR = Path(__file__).resolve().parent / "reference"
RTOL = 1e-9
ALL = QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9)


def _rel(got, want) -> float:
    got, want = np.asarray(got, float), np.asarray(want, float)
    return float(np.max(np.abs(got - want) / np.abs(want)))


# --- linked holders from the links ----------------------------------------------------------------------


def test_linked_holders_reads_the_right_of_each_health_record():
    links = pd.DataFrame(
        {
            "source": ["health", "health", "tpn", "tss", "health"],
            "id_l": ["a", "b", "b", "c", "zz"],  # zz: a record outside the ids asked for
            "id_r": ["h1", "h2", "t1", "g1", "h1"],
        }
    )
    rights = {"health": pd.DataFrame({"rec_id": ["h1", "h2"], "right": ["cmuc", "acs"]})}
    out = linked_holders(["c", "b", "a", "d"], links, rights, ["cmuc", "acs", "tpn", "tss"])
    assert out.to_dict("list") == {"cmuc": [0, 0, 1, 0], "acs": [0, 1, 0, 0], "tpn": [0, 1, 0, 0], "tss": [1, 0, 0, 0]}
    cols = holder_margin_columns(out, np.array([1, 0, 1, 0]))
    assert cols["linked_tpn"].tolist() == [NOT_LINKED, "0", NOT_LINKED, NOT_LINKED]
    assert cols["linked_tss"].tolist() == ["1", NOT_LINKED, NOT_LINKED, NOT_LINKED]


def test_linked_holders_errors_name_the_parameter():
    links = pd.DataFrame({"source": ["tpn"], "id_l": ["a"], "id_r": ["t1"]})
    with pytest.raises(InputError, match="parameter rights.*'rsa'"):
        linked_holders(["a"], links, {}, ["tpn", "rsa"])
    with pytest.raises(InputError, match="parameter by.*2 rows.*3 rows"):
        holder_margin_columns(pd.DataFrame({"tpn": [1, 0]}), np.array([1, 0, 1]))


# --- against R survey: calibrate() + svyratio() ---------------------------------------------------------


@pytest.fixture(scope="module")
def holders_data():
    sample = pd.read_csv(REF_DIR / "holders_sample.csv", dtype={"stratum": str, "linked_cmuc": str})
    totals = pd.read_csv(REF_DIR / "holders_totals.csv", dtype={"variable": str, "category": str})
    ref = json.loads((REF_DIR / "holders_reference.json").read_text())
    return sample, Margins.from_frame(totals), ref


@pytest.mark.parametrize("method", ["none", "raking", "linear"])
def test_holder_calibration_and_ratio_match_r(holders_data, method):
    sample, margins, ref = holders_data
    design = SurveyDesign(sample, strata="stratum", fpc="fpc", weight="weight")
    if method != "none":
        design = calibrate(design, margins, method=method)
    assert _rel(design.weights, ref[f"weights_{method}"]) < RTOL
    rows = pd.DataFrame([r for r in ref["rows"] if r["calfun"] == method]).set_index("domain")
    nat = estimate_rates(design, "cmuc", thresholds=ALL).to_frame()
    assert _rel(nat["estimate"], [rows.loc["national", "estimate"]]) < RTOL
    assert _rel(nat["se"], [rows.loc["national", "se"]]) < RTOL
    by = estimate_rates(design, "cmuc", by="is_qpv", thresholds=ALL).to_frame().set_index("is_qpv")
    for q in (0, 1):
        assert _rel(by.loc[q, "estimate"], rows.loc[str(q), "estimate"]) < RTOL
        assert _rel(by.loc[q, "se"], rows.loc[str(q), "se"]) < RTOL


def test_holder_calibration_reproduces_the_admin_totals(holders_data):
    sample, margins, _ = holders_data
    design = calibrate(SurveyDesign(sample, strata="stratum", fpc="fpc", weight="weight"), margins, method="raking")
    got = pd.Series(design.weights).groupby(sample["linked_cmuc"].to_numpy()).sum()
    want = dict(dict(margins.categorical)["linked_cmuc"])
    assert got.to_dict() == pytest.approx(want, rel=1e-12)
    # the calibration helps the numerator: the take-up SE falls by more than a quarter
    before = estimate_rates(SurveyDesign(sample, strata="stratum", fpc="fpc", weight="weight"), "cmuc").to_frame()
    after = estimate_rates(design, "cmuc").to_frame()
    assert after["se"].iloc[0] < 0.75 * before["se"].iloc[0]


# --- the study: [weighting.calibration] holders ---------------------------------------------------------


def _study(tmp_path: Path, holders: str, admin: bool = True, frame_ids: bool = True) -> Path:
    from nonrecours.simulate import simulate_population
    from nonrecours.simulate.sources import simulate_sources
    from nonrecours.study.demo import ADMIN_SECTION, example_study

    if not (tmp_path / "population").is_dir():
        pop = simulate_population(3, seed=5)
        pop.write(tmp_path / "population")
        simulate_sources(pop, seed=6).write(tmp_path / "population" / "sources")
    text = (
        example_study(seed=3)
        .replace("n = 6000", "n = 1200")
        .replace("[territorial]\n", "[territorial]\nenabled = false\n")
        .replace('"age_band"]   #', f'"age_band"]\nholders = {holders}   #')
    )
    path = tmp_path / "study.toml"
    section = ADMIN_SECTION if frame_ids else "\n".join(x for x in ADMIN_SECTION.split("\n") if "frame_ids" not in x)
    path.write_text(text + (section if admin else ""), encoding="utf-8")
    return path


def test_study_refuses_holders_without_links_or_frame_ids(tmp_path):
    from nonrecours.study.config import load_study

    with pytest.raises(ConfigError, match="weighting.calibration.holders.*unknown right"):
        load_study(_study(tmp_path, '["cmuc", "rsa"]'))
    with pytest.raises(ConfigError, match=r"weighting.calibration.holders.*\[admin\] sources"):
        load_study(_study(tmp_path, '["cmuc"]', admin=False))
    with pytest.raises(ConfigError, match="admin.frame_ids.*frame_ids.csv"):
        load_study(_study(tmp_path, '["cmuc"]', frame_ids=False))


@pytest.mark.slow
def test_study_calibrates_to_linked_holders_exactly(tmp_path):
    from nonrecours.admin.pipeline import run_admin_phase
    from nonrecours.study.pipeline import run_study

    res = run_study(_study(tmp_path, '["cmuc", "acs", "tpn", "tss"]'))
    w = res.tables["weights"]
    resp = w["status"] == "respondent"
    # the admin totals, counted apart: links of the phase (same seed), rights of the health file, frame ids
    src = tmp_path / "population" / "sources"
    ph = run_admin_phase(src, seed=3)
    health = pd.read_csv(src / "health.csv", usecols=["rec_id", "right"])
    lk = ph.links.merge(health.rename(columns={"rec_id": "id_r"}), on="id_r", how="left")
    lk["right"] = lk["right"].where(lk["source"] == "health", lk["source"])
    ids = pd.read_csv(src / "frame_ids.csv")
    frame = pd.read_csv(tmp_path / "population" / "recipients.csv").merge(ids, on="id")
    for right in ("cmuc", "acs", "tpn", "tss"):
        holder = frame["rec_id"].isin(lk.loc[lk["right"] == right, "id_l"])
        want = frame[holder].groupby("is_qpv").size()
        got = w[resp].groupby(f"linked_{right}")["weight"].sum()
        for q in (0, 1):
            assert got[str(q)] == pytest.approx(want[q], rel=1e-10)
        assert got[NOT_LINKED] == pytest.approx(len(frame) - holder.sum(), rel=1e-10)
    gain = res.tables["calibration_gain"]
    assert set(gain["domain"]) == {"national", "0", "1"} and len(gain) == 12
    assert (gain["se_ratio"] < 1).all()  # the holders pin down the numerators: every SE falls
    nat = res.tables["estimates_national"].set_index("right")
    assert np.allclose(
        gain[gain["domain"] == "national"].set_index("right")["se"], nat.loc[gain["right"].unique(), "se"]
    )
    report = (tmp_path / "results" / "publication" / "report.html").read_text(encoding="utf-8")
    assert 'id="calibration"' in report


@pytest.mark.parametrize("order", ["frame", "shuffled"])
def test_holder_columns_read_each_frame_id_first_record_in_any_order(tmp_path, order):
    """The frame's record ids as a reindex on the file's first row of each id would give them, whether the file
    follows the frame's order (read as its rows) or not (hashed); an id without a record id is refused."""
    from types import SimpleNamespace

    from nonrecours.study.stages.weights import _holder_columns

    frame = pd.DataFrame({"id": ["f1", "f2", "f3", "f4"], "is_qpv": [1, 0, 1, 0]}, index=[10, 11, 12, 13])
    ids = pd.DataFrame({"id": ["f1", "f2", "f3", "f4"], "rec_id": ["r1", "r2", "r3", "r4"]})
    if order == "shuffled":  # another order, a repeated id (its first record counts) and an id not in the frame
        ids = pd.DataFrame({"id": ["f3", "f9", "f1", "f4", "f2", "f3"], "rec_id": ["r3", "r9", "r1", "r4", "r2", "r1"]})
    (tmp_path / "frame_ids.csv").write_text(ids.to_csv(index=False), encoding="utf-8")
    links = pd.DataFrame(
        {"source": ["health", "tpn", "health"], "id_l": ["r1", "r3", "r4"], "id_r": ["h1", "t1", "h2"]}
    )
    phase = SimpleNamespace(
        links=links, source_rights={"health": pd.DataFrame({"rec_id": ["h1", "h2"], "right": ["cmuc", "acs"]})}
    )
    cfg = SimpleNamespace(
        frame=SimpleNamespace(id="id"),
        admin=SimpleNamespace(frame_ids=tmp_path / "frame_ids.csv"),
        weighting=SimpleNamespace(calibration=SimpleNamespace(holders=["cmuc", "acs", "tpn"], holders_by="is_qpv")),
    )
    cols = _holder_columns(cfg, {"frame": frame, "admin_phase": phase})["frame"]
    assert {c: v.tolist() for c, v in cols.items()} == {
        "linked_cmuc": ["1", NOT_LINKED, NOT_LINKED, NOT_LINKED],
        "linked_acs": [NOT_LINKED, NOT_LINKED, NOT_LINKED, "0"],
        "linked_tpn": [NOT_LINKED, NOT_LINKED, "1", NOT_LINKED],
    }
    assert all(v.index.equals(frame.index) for v in cols.values())
    (tmp_path / "frame_ids.csv").write_text(ids[ids["id"] != "f2"].to_csv(index=False), encoding="utf-8")
    with pytest.raises(InputError, match="without a record id.*1 of 4"):
        _holder_columns(cfg, {"frame": frame, "admin_phase": phase})
