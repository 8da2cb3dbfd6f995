"""The HTML report: sections, embedded images, determinism, no network, no recomputation."""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
import pytest

from nonrecours.report import SECTIONS, plots, render_report
from nonrecours.report.format import ci, num, pct

RIGHTS = ["cmuc", "acs"]


def _est(by: dict[str, list], rng: np.random.Generator) -> pd.DataFrame:
    keys = pd.MultiIndex.from_product(list(by.values()) + [RIGHTS], names=list(by) + ["right"]).to_frame(index=False)
    k = len(keys)
    est = rng.uniform(0.2, 0.8, k)
    se = rng.uniform(0.01, 0.05, k)
    return keys.assign(
        n=rng.integers(3, 500, k),
        estimate=est,
        se=se,
        ci_low=est - 2 * se,
        ci_high=est + 2 * se,
        df=50.0,
        deff=1.2,
        cv=se / est,
        flag=np.where(np.arange(k) % 7 == 3, "unreliable", "ok"),
    )


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    """Fabricated result tables with the contract's columns."""
    rng = np.random.default_rng(3)
    terr = [f"QP075{i:03d}" for i in range(12)] + [f"HQ075{i:03d}" for i in range(12)]
    nat = _est({"all": ["all"]}, rng).drop(columns="all")
    nat.loc[0, "estimate"] = 0.654321
    nat.loc[0, "ci_low"], nat.loc[0, "ci_high"] = 0.611111, 0.699999
    qpv = _est({"is_qpv": [1, 0]}, rng)
    gap = pd.DataFrame(
        {
            "right": RIGHTS,
            "gap": [-0.05, 0.02],
            "se": [0.02, 0.03],
            "ci_low": [-0.09, -0.04],
            "ci_high": [-0.01, 0.08],
            "df": [50.0, 50.0],
            "p_value": [0.012, 0.5],
        }
    )
    ben = _est({"benefit": ["RSA", "AAH", "ASPA", "ASS"]}, rng)
    ben.loc[2, "flag"] = "suppressed"
    direct = _est({"territory": terr}, rng)
    sae = direct[["territory", "right"]].assign(direct=direct["estimate"], se_direct=direct["se"])
    sae = sae.assign(eblup=0.5 * sae["direct"] + 0.25, mse=0.0004, rmse=0.02)
    sae = sae.assign(
        ci_low=sae["eblup"] - 0.04, ci_high=sae["eblup"] + 0.04, gamma=rng.uniform(0, 1, len(sae)), synthetic=0.5
    )
    alloc = pd.DataFrame(
        {
            "stratum": ["1|RSA", "0|RSA"],
            "N": [1000, 3000],
            "n": [100, 300],
            "n_respondents": [70, 200],
            "response_rate": [0.7, 2 / 3],
        }
    )
    weights = pd.DataFrame(
        {"id": [str(i) for i in range(400)], "weight": rng.uniform(5, 20, 400), "g": rng.uniform(0.8, 1.2, 400)}
    )
    weights.loc[:50, "weight"] = 0.0
    comparison = pd.DataFrame({"territory": sae["territory"], "right": sae["right"], "truth": sae["eblup"] + 0.01})
    return {
        "allocation": alloc,
        "weights": weights,
        "estimates_national": nat,
        "estimates_qpv": qpv,
        "gap_qpv": gap,
        "estimates_benefit": ben,
        "estimates_territory": direct,
        "sae": sae,
        "comparison": comparison,
    }


PROV = {
    "title": "Test study",
    "versions": {"nonrecours": "0.1", "numpy": "2"},
    "settings": {
        "rights": RIGHTS,
        "level": 0.95,
        "domains": {"qpv": "is_qpv", "benefit": "benefit", "territory": "territory"},
        "thresholds": {"min_n": 11, "reliable_n": 30, "max_cv": 0.3},
    },
    "counts": {"frame": 4000, "strata": 2, "sample": 400, "respondents": 270, "response_rate": 0.675},
    "methods": {"estimation": {"estimator": "ratio", "variance": "Taylor linearisation", "df": "design"}},
    "study_file": {"path": "study.toml", "text": "[frame]\npath = 'x.csv' # <b>\n"},
    "inputs": {"frame.path": {"path": "x.csv", "sha256": "ab" * 32, "bytes": 10}},
}


@pytest.mark.slow
def test_sections_and_images(tables):
    html = render_report(tables, PROV)
    for sid, _title in SECTIONS:
        assert f'<section id="{sid}">' in html
    assert html.count('<img src="data:image/png;base64,') == 4
    assert "http://" not in html and "https://" not in html
    # one inline script (search, sort, finder: issue 20) and one JSON data block, nothing loaded from elsewhere
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*\bhref=|@import|url\((?!data:)", html)
    assert html.count("<script") == 1  # the inline script; no territory section without its tables


@pytest.mark.slow
def test_numbers_come_from_tables(tables):
    html = render_report(tables, PROV)
    assert "65.4 %" in html and "[61.1, 70.0]" in html  # national cmuc, as in the table
    assert "−5.0 pts" in html and "0.012" in html  # the gap (minus sign U+2212) and its p-value
    assert "suppressed" in html and "†" in html
    assert "&lt;b&gt;" in html  # study text escaped


@pytest.mark.slow
def test_deterministic(tables):
    assert render_report(tables, PROV) == render_report(tables, PROV)


def test_missing_stages_are_noted():
    html = render_report({}, {"title": "Empty"})
    assert html.count('class="missing"') >= 8
    assert "<img" not in html


@pytest.mark.slow
def test_png_has_no_software_metadata(tables):
    png = plots.shrinkage_plot(tables["sae"])
    assert png.startswith(b"\x89PNG") and b"Software" not in png and b"matplotlib" not in png
    assert png == plots.shrinkage_plot(tables["sae"])


def test_format_helpers():
    assert pct(0.6531, "en") == "65.3 %" and pct(float("nan"), "en") == "–"
    assert ci(0.61, 0.694, "en") == "[61.0, 69.4]"
    assert num(12345.0, "en") == "12,345" and num(0.123456, "en", 3) == "0.123"
    assert re.fullmatch(r"–", num(None, "en"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "lang, territories, respondents",
    [("en", "territories (n)", "eligible respondents"), ("fr", "territoires (n)", "répondants éligibles")],
)
def test_comparison_summary_n_is_labelled_territories(tables, lang, territories, respondents):
    """The n of comparison_summary counts territories: its header never says respondents (a reader, or
    a check of the published respondent counts, would take 3 territories for 3 respondents)."""
    summary = pd.DataFrame(
        {
            "right": ["cmuc"],
            "estimator": ["direct"],
            "subset": ["sampled"],
            "n": [3],
            "bias": [0.01],
            "rmse": [0.1],
            "mae": [0.08],
            "relative_rmse": [0.2],
            "coverage": [0.9],
            "mean_ci_width": [0.4],
        }
    )
    html = render_report(tables | {"comparison_summary": summary}, PROV, lang=lang)
    section = html[html.index('<section id="truth">') :]
    section = section[: section.index("</section>")]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", section)
    assert territories in headers and respondents not in headers


@pytest.mark.slow
def test_report_takes_the_figures_drawn_already_for_the_same_arguments(tables, monkeypatch):
    """A study draws the figures of some sections while its last stages run (``draw_plots``): the report takes
    those of the same plot and arguments (the same bytes as drawn here) and draws the others."""
    from nonrecours.report.html import draw_plots

    here = render_report(tables, PROV, lang="fr")
    drawn = draw_plots(tables, PROV, "fr", ["weighting", "headline", "territories", "shrinkage"])
    assert [name for name, _, _ in drawn] == ["weights_plot", "gap_plot", "caterpillar_plot", "shrinkage_plot"]
    calls = []

    def spy(plot):  # noqa: ANN001, ANN202
        @functools.wraps(plot)  # (the same name: a figure drawn already is found by its plot's name)
        def drawing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls.append(plot.__name__)
            return plot(*args, **kwargs)

        return drawing

    for name in ("weights_plot", "gap_plot", "caterpillar_plot", "shrinkage_plot"):
        monkeypatch.setattr(plots, name, spy(getattr(plots, name)))
    assert render_report(tables, PROV, lang="fr", drawn=drawn) == here and calls == []
    # drawn from other small areas, or in another language: drawn again, the same report as here
    sae = tables["sae"].assign(eblup=tables["sae"]["eblup"] + 0.01)
    other = draw_plots(tables | {"sae": sae}, PROV, "fr", ["territories", "shrinkage"])
    english = draw_plots(tables, PROV, "en", ["weighting"])
    calls.clear()
    assert render_report(tables, PROV, lang="fr", drawn=drawn[1:2] + other + english) == here
    assert calls == ["weights_plot", "caterpillar_plot", "shrinkage_plot"]
