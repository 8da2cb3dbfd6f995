"""Samples across waves (nonrecours.design.waves) and ``sample --scheme/--previous``."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.design.waves import prn, select_wave
from nonrecours.errors import InputError


@pytest.fixture(scope="module")
def frame():
    return pd.DataFrame({"id": [f"R{i:05d}" for i in range(6000)], "s": ["a"] * 4000 + ["b"] * 2000})


SIZES = {"a": 400, "b": 100}


def test_prn_uniform_and_permanent(frame):
    u = prn(frame["id"], 7)
    assert np.array_equal(u, prn(frame["id"], 7))
    assert abs(u.mean() - 0.5) < 0.01 and u.min() > 0 and u.max() < 1
    assert abs(np.corrcoef(u, prn(frame["id"], 8))[0, 1]) < 0.05


def test_schemes_overlap(frame):
    w1 = select_wave(frame, SIZES, strata=["s"], scheme="panel", seed=1).data
    assert w1.groupby("stratum").size().to_dict() == SIZES
    assert np.allclose(w1["weight"], np.where(w1["s"] == "a", 10.0, 20.0))
    same = select_wave(frame, SIZES, strata=["s"], scheme="panel", seed=9, previous=w1).data
    assert set(same["id"]) == set(w1["id"]) and same["in_previous"].all()
    lost = select_wave(frame, SIZES, strata=["s"], scheme="panel", seed=9, previous=w1, share=0.2).data
    assert lost.groupby("stratum").size().to_dict() == SIZES
    assert abs(lost["in_previous"].mean() - 0.8) < 0.06
    assert set(lost["id"]) & set(w1["id"]) == set(lost.loc[lost["in_previous"] == 1, "id"])
    rot = select_wave(frame, SIZES, strata=["s"], scheme="rotating", seed=9, previous=w1, share=0.25).data
    assert abs(rot["in_previous"].mean() - 0.75) < 0.06
    ind = select_wave(frame, SIZES, strata=["s"], scheme="independent", seed=9, previous=w1).data
    assert ind["in_previous"].mean() < 0.2


@pytest.mark.slow
def test_inclusion_probabilities_of_a_rotating_wave(frame):
    """Each wave stays a stratified SRS: every unit has pi = n_h / N_h (Monte Carlo, 400 draws, 5 SE bound).

    Draws through ``coordinate``, the array core of ``select_wave`` (checked equal to it below).
    """
    from nonrecours.design.waves import coordinate

    codes = (frame["s"] == "b").to_numpy().astype(np.int64)
    N, n = np.array([4000, 2000]), np.array([400, 100])
    ids = frame["id"].to_numpy(dtype=object)
    hits = np.zeros(len(frame))
    R = 400
    for r in range(R):
        rows1, start, key, _ = coordinate(
            codes,
            N,
            n,
            ids,
            scheme="rotating",
            seed=r,
            share=0.3,
            key=None,
            start=np.zeros(2),
            previous_ids=np.zeros(0, object),
            has_previous=False,
        )
        rows2, *_ = coordinate(
            codes,
            N,
            n,
            ids,
            scheme="rotating",
            seed=r,
            share=0.3,
            key=key,
            start=start,
            previous_ids=ids[rows1],
            has_previous=True,
        )
        hits[rows2] += 1
    a = select_wave(frame, SIZES, strata=["s"], scheme="rotating", seed=R - 1).data
    b = select_wave(frame, SIZES, strata=["s"], scheme="rotating", seed=R - 1, previous=a, share=0.3).data
    assert set(b["id"]) == set(ids[rows2])
    p = hits / R
    for sl, pi in ((slice(0, 4000), 0.1), (slice(4000, 6000), 0.05)):
        m = p[sl].mean()
        assert abs(m - pi) < 5 * np.sqrt(pi * (1 - pi) / (R * (sl.stop - sl.start)))
        # no unit systematically favoured: spread of per-unit frequencies as for independent draws
        assert p[sl].std() < 1.3 * np.sqrt(pi * (1 - pi) / R)


def test_previous_without_prn(frame):
    w1 = select_wave(frame, SIZES, strata=["s"], scheme="panel", seed=1).data.drop(columns=["prn_seed"])
    with pytest.raises(InputError, match="prn_seed"):
        select_wave(frame, SIZES, strata=["s"], scheme="rotating", seed=2, previous=w1)


def test_cli_sample_previous(tmp_path, frame):
    f = tmp_path / "frame.csv"
    frame.to_csv(f, index=False)
    pd.DataFrame({"s": ["a", "b"], "stratum": ["a", "b"], "n_h": [400, 100]}).to_csv(
        tmp_path / "alloc.csv", index=False
    )
    run = CliRunner().invoke
    base = ["sample", str(f), "--allocation", str(tmp_path / "alloc.csv")]
    r = run(app, base + ["--seed", "1", "--scheme", "panel", "--out", str(tmp_path / "w1.csv")])
    assert r.exit_code == 0, r.output
    r = run(
        app,
        base
        + [
            "--seed",
            "2",
            "--scheme",
            "rotating",
            "--share",
            "0.5",
            "--previous",
            str(tmp_path / "w1.csv"),
            "--out",
            str(tmp_path / "w2.csv"),
        ],
    )
    assert r.exit_code == 0, r.output
    w2 = pd.read_csv(tmp_path / "w2.csv")
    assert {"prn_seed", "prn_start", "in_previous", "scheme"} <= set(w2.columns)
    assert abs(w2["in_previous"].mean() - 0.5) < 0.1
    r = run(app, base + ["--seed", "2", "--previous", str(tmp_path / "w1.csv"), "--out", str(tmp_path / "w3.csv")])
    assert r.exit_code == 2 and "--scheme" in r.output and not (tmp_path / "w3.csv").exists()
    r = run(app, base + ["--seed", "2", "--scheme", "panel", "--method", "poisson", "--out", str(tmp_path / "w3.csv")])
    assert r.exit_code == 2 and not (tmp_path / "w3.csv").exists()
