"""The study file: validation with key paths, suggestions, resolved paths, frozen values."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from nonrecours.errors import ConfigError
from nonrecours.study import load_study, parse_study
from nonrecours.study.demo import example_study

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A folder with the example study and empty input files it names."""
    pop = tmp_path / "population"
    pop.mkdir()
    for name in ("recipients.csv", "territories.csv", "truth.csv"):
        (pop / name).write_text("id\n1\n")
    (tmp_path / "study.toml").write_text(example_study(seed=3))
    return tmp_path


def _edit(base: Path, old: str, new: str) -> Path:
    p = base / "study.toml"
    text = p.read_text()
    assert old in text, old
    p.write_text(text.replace(old, new, 1))
    return p


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    return str(exc.value)


def test_example_study_loads_and_resolves_paths(base):
    cfg = load_study(base / "study.toml")
    assert cfg.frame.path == (base / "population" / "recipients.csv").resolve()
    assert cfg.output.folder == (base / "results").resolve()
    assert cfg.design.seed == 3 and cfg.design.strata == ("is_qpv", "benefit")
    assert cfg.design.allocation.method == "power" and cfg.design.allocation.n == 6000
    assert cfg.responses.simulate and cfg.responses.model.by_benefit["ASPA"] == 0.75
    assert cfg.estimation.rights == ("cmuc", "acs", "tpn", "tss")
    assert cfg.text == (base / "study.toml").read_text()
    assert set(cfg.input_files()) == {"frame.path", "territorial.covariates_file", "territorial.truth"}


def test_examples_folder_holds_the_demo_study():
    assert (ROOT / "examples" / "study.toml").read_text() == example_study(seed=1)


def test_config_is_frozen(base):
    cfg = load_study(base / "study.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.design.seed = 2  # type: ignore[misc]


def test_unknown_key_suggests_the_closest(base):
    msg = _error(_edit(base, 'method = "power"', 'methd = "power"'))
    assert msg.startswith("design.allocation.methd: unknown key")
    assert "'design.allocation.method'" in msg


def test_unknown_section(base):
    p = base / "study.toml"
    p.write_text(p.read_text() + "\n[weigthing.extra]\nx = 1\n")
    msg = _error(p)
    assert msg.startswith("weigthing: unknown key") and "'weighting'" in msg


def test_wrong_type_names_key(base):
    msg = _error(_edit(base, "seed = 3", 'seed = "3"'))
    assert msg.startswith("design.seed: wrong type") and "an integer" in msg
    msg = _error(_edit(base, 'seed = "3"', "seed = true"))
    assert msg.startswith("design.seed: wrong type")


def test_list_expected(base):
    msg = _error(_edit(base, 'strata = ["is_qpv", "benefit"]', 'strata = "is_qpv"'))
    assert msg.startswith("design.strata: wrong type") and "a list of strings" in msg


def test_bad_choice_suggests(base):
    msg = _error(_edit(base, 'ci = "auto"', 'ci = "logi"'))
    assert msg.startswith("estimation.ci: unknown value") and "'logit'" in msg


def test_out_of_range(base):
    msg = _error(_edit(base, "level = 0.95", "level = 1.5"))
    assert msg.startswith("estimation.level: value out of range")


def test_missing_file(base):
    (base / "population" / "truth.csv").unlink()
    msg = _error(base / "study.toml")
    assert msg.startswith("territorial.truth: file not found") and "truth.csv" in msg


def test_missing_required_key(base):
    msg = _error(_edit(base, "seed = 3\n", "\n"))
    assert msg.startswith("design.seed: missing required key")


def test_cross_checks(base):
    p = _edit(base, "simulate = true", 'simulate = true\npath = "population/truth.csv"')
    assert _error(p).startswith("responses: give either path")
    p = _edit(base, 'simulate = true\npath = "population/truth.csv"', "simulate = true")
    p = _edit(base, 'method = "raking"', 'method = "logit"')
    assert _error(p).startswith("weighting.calibration.bounds: the logit method needs bounds")
    p = _edit(
        base, 'method = "logit"', 'method = "raking"\nbounds = [-0.5, 3.0]'
    )  # the lower bound, checked by the library
    assert _error(p).startswith("weighting.calibration.bounds: bounds must surround 1; expected 0 <= L < 1 < U")


def test_pps_keys(base):
    p = _edit(base, 'lonely_psu = "adjust"', 'lonely_psu = "adjust"\npps = "brewer"')
    assert _error(p).startswith("estimation.pps: a PPS variance needs a selection with unequal probabilities")
    p = _edit(base, 'selection = "srswor"', 'selection = "pps-systematic"\nsize = "age_band"')
    p = _edit(base, 'pps = "brewer"', 'pps = "yg"')
    assert _error(p).startswith("estimation.joint: pps 'yg' needs the joint inclusion probabilities")
    p = _edit(base, 'pps = "yg"', 'pps = "sen"')
    assert "estimation.pps" in _error(p)


def test_precision_allocation_keys(base):
    p = _edit(
        base,
        'method = "power"',
        'method = "precision"\ntarget_cv = 0.1\ndomains = [["territory"], ["benefit", "is_qpv"]]',
    )
    assert _error(p).startswith("design.allocation.n: the precision allocation computes the sample size")
    p = _edit(base, "n = 6000\n", "\n")
    cfg = load_study(p)
    assert cfg.design.allocation.domains == (("territory",), ("benefit", "is_qpv"))


def test_invalid_toml_and_missing_study(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[frame\npath = 1\n")
    assert "not valid TOML" in _error(p)
    assert "study file not found" in _error(tmp_path / "none.toml")


def test_parse_study_from_dict(base):
    data = tomllib.loads(example_study(seed=1))
    data["territorial"]["enabled"] = False
    cfg = parse_study(data, base_dir=base)
    assert cfg.territorial.enabled is False and cfg.source is None


def test_thresholds_checked_by_the_library(base):
    p = _edit(base, "reliable_n = 30", "reliable_n = 3")
    assert _error(p).startswith("estimation.thresholds: inconsistent quality thresholds")


def test_unit_model_refuses_fay_herriot_options(base):
    """model = "unit" with an option of the Fay-Herriot model only: an error naming the key, not an MSE
    silently turned off (prasad-rao) or an option silently ignored."""
    p = _edit(base, 'method = "amrl"', 'method = "amrl"\nmodel = "unit"\nmse = "prasad-rao"')
    msg = _error(p)
    assert msg.startswith("territorial.mse") and "prasad-rao" in msg and "bootstrap" in msg
    p = _edit(base, 'mse = "prasad-rao"', 'mse = "auto"')
    assert load_study(p).territorial.model == "unit"
    p = _edit(base, 'transform = "none"', 'transform = "arcsin"')
    msg = _error(p)
    assert msg.startswith("territorial.transform") and "arcsin" in msg and 'model = "area"' in msg


def test_borrowing_models_and_their_options(base):
    """model = rao-yu | multivariate | spatial: what each needs is named (follow-up, neighbours, REML/ML)."""
    p = _edit(base, 'method = "amrl"', 'method = "reml"\nmodel = "rao-yu"')
    msg = _error(p)
    assert msg.startswith("territorial.model") and "[follow_up]" in msg
    p = _edit(base, 'model = "rao-yu"', 'model = "spatial"')
    msg = _error(p)
    assert msg.startswith("territorial.neighbours") and "neighbours" in msg
    (base / "neighbours.csv").write_text("territory_a,territory_b\nA,B\n")
    p = _edit(base, 'model = "spatial"', 'model = "spatial"\nneighbours = "neighbours.csv"')
    cfg = load_study(p)
    assert cfg.territorial.model == "spatial" and cfg.territorial.neighbours == base / "neighbours.csv"
    p = _edit(base, 'method = "reml"', 'method = "amrl"')
    msg = _error(p)
    assert msg.startswith("territorial.method") and "'amrl'" in msg and "'reml' or 'ml'" in msg
