"""The study's analysis stage and the report section "Who does not take up" (en and fr)."""

from __future__ import annotations

import html as htmllib
import re

import numpy as np
import pandas as pd
import pytest

from nonrecours.errors import ConfigError, OptionError
from nonrecours.report.format import ci, count, pct
from nonrecours.report.section_analysis import TEXT, model_notes, render
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
    text += (
        '\n[analysis]\ngroups = ["benefit", "is_qpv"]\ncovariates = ["benefit", "is_qpv"]\n'
        'interactions = ["is_qpv:benefit"]\n'
    )
    text += '\n[report.levels.benefit]\nASS = "allocation de solidarité spécifique"\n'  # a study's own label
    path = folder / "study.toml"
    path.write_text(text)
    return run_study(path)


def _visible(page: str) -> str:
    page = re.sub(r"<style>.*?</style>|<script.*?</script>|<img [^>]*>", "", page, flags=re.DOTALL)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", page))


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
        nn = non[
            (non["group"] == "benefit")
            & (non["level"] == r.level)
            & (non["right"] == r.right.replace(":takers", ":non_takers"))
        ]["estimate"].iloc[0]
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
    assert count(12345.4, "fr") == "12\u202f345" and count(12345.4, "en") == "12,345"
    assert pct(0.6171, "fr") == "61,7\u202f%" and pct(0.6171, "en") == "61.7 %"
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


def test_a_model_that_cannot_be_fitted_is_explained(result):
    """Issue 28: the ACS model was silently missing. RSA recipients are not eligible for ACS, so the level RSA
    of benefit has no respondent in its model: analysis_models.csv says so, and the report in a sentence."""
    status = result.tables["analysis_models"].set_index("right")
    assert list(status.index) == list(result.config.estimation.rights)
    acs = status.loc["acs"]
    assert not acs["fitted"] and acs["reason"] == "empty_level" and acs["variable"] == "benefit"
    assert "RSA" in str(acs["levels"]).split("|")
    fitted = status.index[status["fitted"].astype(bool)]
    assert set(fitted) == set(result.tables["analysis_model"]["right"])  # the others are in the coefficient table
    # this small study's interaction leaves an empty cell for another right: named too, as a coefficient
    cells = status[status["reason"] == "empty_cell"]
    assert (cells["variable"] == "is_qpv:benefit").all() and cells["levels"].str.startswith("is_qpv:benefit").all()
    for lang in ("fr", "en"):
        notes = model_notes(result.tables, lang)
        assert len(notes) == (~status["fitted"].astype(bool)).sum()
        acs_note = [n for n in notes if "ACS" in n]
        assert len(acs_note) == 1 and ("« RSA »" if lang == "fr" else "“RSA”") in acs_note[0]
        assert all(n in _visible(render(result.tables, lang)) for n in notes)


def test_predicted_take_up_interval_on_the_logit_scale(result):
    """The report shows a logit interval, inside [0, 1]; the CSV keeps R's Wald interval (svypredmeans)."""
    p = result.tables["analysis_predicted"].dropna(subset=["estimate"])
    assert len(p) and (p["ci_low_logit"] >= 0).all() and (p["ci_high_logit"] <= 1).all()
    assert ((p["ci_low_logit"] < p["estimate"]) & (p["estimate"] < p["ci_high_logit"])).all()
    half = (p["ci_high"] - p["estimate"]).to_numpy()
    np.testing.assert_allclose(p["estimate"] - p["ci_low"], half, rtol=1e-12)  # Wald: symmetric, as R
    # the logit interval is the Wald one on the logit scale: same quantile, SE by the delta method
    q = half / p["se"].to_numpy()
    lg = np.log(p["estimate"] / (1 - p["estimate"])).to_numpy()
    s = (p["se"] / (p["estimate"] * (1 - p["estimate"]))).to_numpy()
    np.testing.assert_allclose(p["ci_high_logit"], 1 / (1 + np.exp(-(lg + q * s))), rtol=1e-10)
    for lang in ("fr", "en"):
        text = _visible(render(result.tables, lang))
        for r in p.itertuples(index=False):
            assert ci(r.ci_low_logit, r.ci_high_logit, lang) in text


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_raw_codes_in_the_section_the_report_and_the_workbook(result, lang):
    import io

    import openpyxl

    from nonrecours.report import publication, render_report

    raw = re.compile(r"\b(benefitASPA|benefitRSA|is_qpv\w*|cmuc|empty_level)\b|p = <")
    section = _visible(render(result.tables, lang))
    assert not raw.search(section), raw.findall(section)
    assert "F de Rao–Scott" in section if lang == "fr" else "Rao–Scott F" in section
    page = render_report(
        {k: v for k, v in result.tables.items() if k not in ("sample", "weights")}, result.manifest, lang=lang
    )
    # left out: the study file as it is written, and the English page's record of the run (manifest.json's)
    page = _visible(re.sub(r"<pre>.*?</pre>|<h3>Record of the run.*?</section>", "", page, flags=re.DOTALL))
    assert not raw.search(page), raw.findall(page)
    book = openpyxl.load_workbook(
        io.BytesIO(
            publication.publication_workbook(
                {k: v for k, v in result.tables.items() if k not in ("sample", "weights", "comparison")},
                result.manifest,
                lang=lang,
            )
        )
    )
    text = " ".join(str(c.value) for ws in book for row in ws.iter_rows() for c in row if isinstance(c.value, str))
    assert not raw.search(text), raw.findall(text)
    assert not re.search(r"(?<![\w–-])f(?![\w–-])", text)  # the statistic's code


def test_the_study_labels_reach_the_report_and_the_workbook(result):
    """[report.levels.benefit] of the study file: in the run's report.html (French), its workbook and manifest."""
    import openpyxl

    assert result.manifest["labels"] == {"levels": {"benefit": {"ASS": "allocation de solidarité spécifique"}}}
    page = _visible(next(p for n, p in result.files.items() if n.endswith("report.html")).read_text("utf-8"))
    section = page[page.index(TEXT["fr"]["title"]) :]
    assert "allocation de solidarité spécifique" in section  # a level of the non-takers table
    book = openpyxl.load_workbook(next(p for n, p in result.files.items() if n.endswith("tables.xlsx")))
    assert any(c.value == "allocation de solidarité spécifique" for ws in book for row in ws.iter_rows() for c in row)
