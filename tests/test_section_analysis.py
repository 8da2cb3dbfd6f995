"""The study's analysis stage and the report section "Who does not take up" (en and fr)."""

from __future__ import annotations

import pandas as pd
import pytest

from nonrecours.errors import ConfigError, OptionError
from nonrecours.report.section_analysis import TEXT, fmt_count, fmt_pct, render
from nonrecours.simulate import simulate_population
from nonrecours.study import run_study
from nonrecours.study.demo import example_study

# slow: fits the analysis section on a simulated study
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::nonrecours.errors.ConvergenceWarning")]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysis")
    simulate_population(25, seed=7).write(folder / "population")
    text = example_study(seed=7).replace("n = 6000", "n = 1500").replace("min_per_stratum = 50", "min_per_stratum = 20")
    # no small-area phase: with 25 territories and the default threshold of 11 respondents, too few have a
    # published direct estimate for the Fay-Herriot model (it is not what this file tests)
    text = text.replace("[territorial]\n", "[territorial]\nenabled = false\n", 1)
    text += '\n[analysis]\ngroups = ["benefit", "is_qpv"]\ncovariates = ["benefit", "is_qpv"]\n' \
            'interactions = ["is_qpv:benefit"]\n'
    path = folder / "study.toml"
    path.write_text(text)
    return run_study(path)


def test_analysis_tables(result):
    t = result.tables
    nt = t["analysis_nontakers"]
    assert set(nt["group"]) == {"benefit", "is_qpv"}
    takers = nt[nt["right"].str.endswith(":takers")].reset_index(drop=True)
    non = nt[nt["right"].str.endswith(":non_takers")].reset_index(drop=True)
    assert len(takers) == len(non) and (non["estimate"].dropna() >= 0).all()
    # takers + non-takers = eligible; their ratio is the published rate of the same domain
    rates = t["estimates_benefit"].set_index(["benefit", "right"])
    for r in takers[takers["group"] == "benefit"].itertuples(index=False):
        nn = non[(non["group"] == "benefit") & (non["level"] == r.level)
                 & (non["right"] == r.right.replace(":takers", ":non_takers"))]["estimate"].iloc[0]
        want = rates.loc[(r.level, r.right.split(":")[0]), "estimate"]
        if pd.notna(want) and pd.notna(r.estimate):
            assert abs(r.estimate / (r.estimate + nn) - want) < 1e-12
    assert set(t["analysis_tests"]["statistic"]) == {"f"} and t["analysis_tests"]["p_value"].between(0, 1).all()
    assert "is_qpv:benefitASPA" in set(t["analysis_model"]["term"])
    assert set(t["analysis_model_tests"]["term"]) == {"benefit", "is_qpv", "is_qpv:benefit"}
    assert "p_adjusted" in t["analysis_gaps"].columns


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_section_renders_in_both_languages(result, lang):
    html = render(result.tables, lang)
    assert TEXT[lang]["title"] in html and "<img" in html and html.count("<table") >= 3
    assert ("Environ" in html) == (lang == "fr")


def test_french_numbers_and_bad_options(result):
    assert fmt_count(12345.4, "fr") == "12\u202f345" and fmt_count(12345.4, "en") == "12,345"
    assert fmt_pct(0.6171, "fr") == "61,7\u202f%" and fmt_pct(0.6171, "en") == "61.7 %"
    assert set(TEXT["en"]) == set(TEXT["fr"])
    with pytest.raises(OptionError):
        render({}, "de")
    import tomllib

    from nonrecours.study.config import parse_study
    folder = result.config.source.parent
    base = tomllib.loads(result.config.source.read_text())
    base["analysis"] = {"covariates": ["benefit"], "interactions": ["is_qpv:benefit"]}
    with pytest.raises(ConfigError, match="analysis.interactions"):
        parse_study(base, base_dir=folder)
    base["analysis"] = {"adjust": "fdr"}
    with pytest.raises(ConfigError, match="analysis.adjust"):
        parse_study(base, base_dir=folder)
