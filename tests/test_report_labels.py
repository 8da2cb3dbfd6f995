"""The report and the workbook in plain words (issue 28, item 5): labels, model terms, a model not fitted,
predicted take-up on the logit scale, the territory table's département, wide tables, the workbook's values.

Synthetic result tables, in both languages; ``test_section_analysis`` checks the same on a study run.
"""

from __future__ import annotations

import html as htmllib
import io
import re

import openpyxl
import pandas as pd
import pytest

from nonrecours.errors import ConfigError
from nonrecours.report import publication, section_analysis, section_territories
from nonrecours.report._format import WIDE_COLUMNS, frame_table
from nonrecours.report.format import ci
from nonrecours.report.labels import labels

LANGS = ("fr", "en")
#: Codes that must not reach a reader (the issue's list), as whole words.
RAW = re.compile(
    r"\b(benefitASPA|benefitRSA|is_qpv|householdcouple_children|household\w+_\w+|age_band\w*|cmuc|"
    r"in_sample|eblup|sampled|empty_level)\b|p = <"
)


def _visible(page: str) -> str:
    page = re.sub(r"<style>.*?</style>|<script.*?</script>", "", page, flags=re.DOTALL)
    page = re.sub(r'<img [^>]*>|data-v="[^"]*"|data-search="[^"]*"', "", page)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", page))


def _tables() -> dict[str, pd.DataFrame]:
    """The analysis tables as a study writes them, with an ACS model that could not be fitted."""
    nontakers = pd.DataFrame(
        {
            "level": ["AAH", "0", "1"],
            "right": ["cmuc:non_takers"] * 3,
            "n": [130, 400, 200],
            "estimate": [3872.4, 5000.0, 2000.0],
            "ci_low": [2705.3, 4000.0, 1500.0],
            "ci_high": [5039.6, 6000.0, 2500.0],
            "flag": ["ok"] * 3,
            "group": ["benefit", "is_qpv", "is_qpv"],
        }
    )
    tests = pd.DataFrame(
        {
            "row": ["cmuc"],
            "col": ["is_qpv"],
            "statistic": ["f"],
            "value": [15.1],
            "ndf": [1.0],
            "ddf": [590.0],
            "p_value": [0.0004],
            "right": ["cmuc"],
            "group": ["is_qpv"],
        }
    )
    model = pd.DataFrame(
        {
            "term": ["(Intercept)", "benefitASPA", "is_qpv", "householdcouple_children", "is_qpv:benefitASPA"],
            "estimate": [0.3, 0.9, 0.4, 0.3, 0.1],
            "se": [0.3, 0.9, 0.1, 0.2, 0.3],
            "ci_low": [-0.3, -0.9, 0.2, -0.1, -0.5],
            "ci_high": [0.9, 2.6, 0.6, 0.7, 0.7],
            "odds_ratio": [1.36, 2.42, 1.52, 1.38, 1.1],
            "or_low": [0.72, 0.43, 1.23, 0.89, 0.6],
            "or_high": [2.57, 13.8, 1.88, 2.14, 2.0],
            "df": [600.0] * 5,
            "t": [0.9, 1.0, 3.8, 1.4, 0.3],
            "p_value": [0.34, 0.32, 0.0001, 0.16, 0.7],
            "right": ["cmuc"] * 5,
        }
    )
    model_tests = pd.DataFrame(
        {
            "term": ["benefit", "is_qpv", "household", "is_qpv:benefit"],
            "F": [6.1, 14.8, 5.9, 0.3],
            "ndf": [3.0, 1.0, 3.0, 3.0],
            "ddf": [600.0] * 4,
            "p_value": [0.0004, 0.0001, 0.0005, 0.8],
            "right": ["cmuc"] * 4,
        }
    )
    # R's Wald interval of a predicted take-up reaches 107.2 %; the logit one stays inside
    predicted = pd.DataFrame(
        {
            "group": ["benefit", "benefit"],
            "level": ["AAH", "ASPA"],
            "estimate": [0.64, 0.811],
            "se": [0.04, 0.133],
            "ci_low": [0.566, 0.550],
            "ci_high": [0.722, 1.072],
            "ci_low_logit": [0.563, 0.439],
            "ci_high_logit": [0.717, 0.959],
            "right": ["cmuc", "cmuc"],
        }
    )
    models = pd.DataFrame(
        {
            "right": ["cmuc", "acs"],
            "fitted": [True, False],
            "reason": ["fitted", "empty_level"],
            "variable": ["", "benefit"],
            "levels": ["", "RSA"],
        }
    )
    return {
        "analysis_nontakers": nontakers,
        "analysis_tests": tests,
        "analysis_model": model,
        "analysis_model_tests": model_tests,
        "analysis_predicted": predicted,
        "analysis_models": models,
    }


def test_labels_of_codes_in_both_languages():
    fr, en = labels("fr"), labels("en")
    assert [fr.right(r) for r in ("cmuc", "acs", "tpn", "tss", "cmuc:non_takers")] == [
        "CMU-C",
        "ACS",
        "TPN",
        "TSS",
        "CMU-C",
    ]
    assert (fr.level("is_qpv", 0), fr.level("is_qpv", 1.0), en.level("is_qpv", "0")) == (
        "hors QPV",
        "QPV",
        "rest of the urban area",
    )
    assert fr.term("benefitASPA", ["benefit"]) == "bénéficiaire de l’ASPA"
    assert en.term("householdcouple_children", ["household"]) == "couple with children"
    assert fr.term("is_qpv:benefitASPA", ["is_qpv", "benefit"]) == "habitant d’un QPV × bénéficiaire de l’ASPA"
    assert en.term("zoneNorth", ["zone"]) == "zone: North"  # an unknown column: its name and the level
    assert (fr.statistic("f"), en.statistic("f"), en.statistic("adjwald")) == (
        "F de Rao–Scott",
        "Rao–Scott F",
        "adjusted Wald",
    )
    assert fr.right("rsa_x") == "RSA_X" and fr.level("benefit", "RSA") == "RSA"  # unknown codes kept
    assert fr.reference("household", ["single", "couple_children"]) == "couple"  # R's first level, sorted


def test_a_study_labels_its_own_columns_and_levels():
    lab = labels(
        "fr",
        {
            "labels": {"household": "type de ménage", "tss": "tarif social"},
            "levels": {"household": {"single": "isolé"}, "zone": {"N": "Nord"}},
        },
    )
    assert lab.variable("household") == "type de ménage" and lab.right("tss") == "tarif social"
    assert lab.term("householdsingle", ["household"]) == "type de ménage : isolé"
    assert lab.term("zoneN", ["zone"]) == "zone : Nord" and lab.right_to("tss") == "à tarif social"
    assert lab.by("household") == "selon « type de ménage »"


def test_study_file_labels_are_validated(tmp_path):
    from nonrecours.study.config import parse_study

    (tmp_path / "frame.csv").write_text("id\n1\n")
    base = {
        "frame": {"path": "frame.csv"},
        "design": {"strata": ["is_qpv"], "seed": 1, "allocation": {"n": 10}},
        "responses": {"simulate": True},
        "output": {"folder": "out"},
        "territorial": {"enabled": False},
        "weighting": {"nonresponse": {"method": "none"}, "calibration": {"method": "none"}},
    }
    cfg = parse_study(
        {
            **base,
            "report": {
                "labels": {"household": "type de ménage"},
                "levels": {"is_qpv": {"0": "ailleurs", "1": "en QPV"}},
            },
        },
        base_dir=tmp_path,
    )
    assert cfg.report.labels == {"household": "type de ménage"} and cfg.report.levels["is_qpv"]["1"] == "en QPV"
    with pytest.raises(ConfigError, match=r"report\.labels\.househld.*did you mean 'household'"):
        parse_study({**base, "report": {"labels": {"househld": "x"}}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"report\.levels\.is_qpv: wrong type"):
        parse_study({**base, "report": {"levels": {"is_qpv": {"0": 1}}}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"report\.labels: wrong type"):
        parse_study({**base, "report": {"labels": {"household": ""}}}, base_dir=tmp_path)


@pytest.mark.parametrize("lang", LANGS)
def test_analysis_section_speaks_plainly(lang):
    tables = _tables()
    text = _visible(section_analysis.render(tables, lang))
    assert not RAW.search(text), RAW.findall(text)
    assert not re.search(r"(?<![\w–-])f(?![\w–-])", text)  # the statistic is named, not 'f'
    lab = labels(lang)
    for words in (
        lab.term("benefitASPA"),
        lab.statistic("f"),
        "CMU-C",
        lab.level("is_qpv", 0),
        lab.variable("benefit"),
    ):
        assert words in text
    # the ACS model: why it is missing, in a sentence
    sentence = section_analysis.model_notes(tables, lang)
    assert len(sentence) == 1 and sentence[0] in text and "RSA" in sentence[0] and "ACS" in sentence[0]
    # predicted take-up: the logit interval (inside 0-100 %), never R's Wald bound of 107.2 %
    assert ci(0.439, 0.959, lang) in text and "107" not in text and ci(0.550, 1.072, lang) not in text


def test_predicted_take_up_without_logit_columns_keeps_the_csv_interval():
    """A run from before issue 28 has only R's Wald interval: shown as it is (the report computes nothing)."""
    tables = _tables()
    tables["analysis_predicted"] = tables["analysis_predicted"].drop(columns=["ci_low_logit", "ci_high_logit"])
    assert "107,2" in _visible(section_analysis.render(tables, "fr"))


def _workbook_text(tables: dict, lang: str, prov: dict | None = None) -> tuple[str, list[list]]:
    book = openpyxl.load_workbook(io.BytesIO(publication.publication_workbook(tables, prov or {}, lang=lang)))
    headers = [[c.value for c in ws[1]] for ws in book if ws.title != "notes"]
    text = " ".join(str(c.value) for ws in book for row in ws.iter_rows() for c in row if isinstance(c.value, str))
    return text, headers


@pytest.mark.parametrize("lang", LANGS)
def test_workbook_speaks_plainly_with_distinct_headers(lang):
    tables = _tables()
    tables["comparison_summary"] = pd.DataFrame(
        {
            "right": ["cmuc", "all"],
            "estimator": ["eblup", "direct"],
            "subset": ["sampled", "unsampled"],
            "n": [38, 22],
            "bias": [0.01, 0.0],
            "rmse": [0.05, 0.1],
        }
    )
    tables["sae"] = pd.DataFrame({"territory": ["QP001"], "right": ["acs"], "eblup": [0.4], "in_sample": [True]})
    tables["estimates_qpv"] = pd.DataFrame(
        {
            "is_qpv": [0, 1],
            "right": ["tss", "tss"],
            "n": [300, 200],
            "estimate": [0.5, 0.6],
            "flag": ["ok", "ok"],
            "ci_method": ["logit", "wilson"],
        }
    )
    text, headers = _workbook_text(tables, lang, {"config": {"estimation": {"ci": "auto"}}})
    for h in headers:
        assert len(h) == len(set(h)), h  # no header twice (the comparison's 'territoires')
    found = RAW.findall(text) + re.findall(r"\b(f|wilson|True|False)\b", text)
    if lang == "en":  # an English word in the English workbook
        found = [f for f in found if f != "sampled"]
    assert found == [] and "p = <" not in text
    lab = labels(lang)
    assert lab.term("benefitASPA") in text and lab.statistic("f") in text and lab.level("is_qpv", 0) in text
    assert section_analysis.model_notes(tables, lang)[0] in text  # the notes sheet says why ACS is missing
    assert publication.VALUES[lang]["ci_method"]["auto"] in text  # ci = "auto" in words
    words = {
        "fr": ("échantillonnés", "non échantillonnés", "petits domaines", "oui", "ensemble", "Wilson"),
        "en": ("not sampled", "small-area", "yes", "all", "Wilson"),
    }[lang]
    assert all(w in text for w in words)


def test_territory_table_shows_the_departement_with_an_admin_table():
    """The admin table's département and the territories file's used to be merged into departement_x/_y, and
    the table showed '–' for every territory (issue 28)."""
    sae = pd.DataFrame(
        {
            "territory": ["QP01", "HQ01", "QP02"],
            "right": "cmuc",
            "eblup": [0.6, 0.5, 0.55],
            "ci_low": [0.5, 0.4, 0.45],
            "ci_high": [0.7, 0.6, 0.65],
        }
    )
    admin = pd.DataFrame(
        {
            "territory": ["QP01", "HQ01", "QP02"],
            "right": "cmuc",
            "rate": [0.6, 0.5, 0.55],
            "status": "published",
            "departement": ["02", "02", "971"],
        }
    )
    terr = pd.DataFrame(
        {"territory": ["QP01", "HQ01", "QP02"], "departement": ["02", "02", "971"], "is_qpv": [1, 0, 1]}
    )
    for lang in LANGS:
        for tables, territories in (
            ({"sae": sae, "admin_rates": admin}, terr),
            ({"sae": sae, "admin_rates": admin}, None),
            ({"sae": sae}, terr),
        ):
            page = section_territories.render(tables, lang, rights=["cmuc"], territories=territories)
            body = page[page.index("<tbody>") : page.index("</tbody>")]
            deps = re.findall(r"</th><td>([^<]*)</td>", body)
            assert deps == ["02", "02", "971"], deps  # sorted by code: HQ01, QP01, QP02
            assert "CMU-C" in page and not RAW.search(_visible(page))


def test_wide_tables_scroll_within_the_page():
    df = pd.DataFrame({f"c{i}": [1.5] for i in range(WIDE_COLUMNS)})
    html = frame_table(df, lang="fr")
    assert html.startswith('<div class="nr-wide"><table class="wide">')
    narrow = frame_table(df.iloc[:, :3], lang="fr")
    assert narrow.startswith('<div class="nr-wide"><table class="">')  # a long hash scrolls too


@pytest.mark.parametrize("lang", LANGS)
def test_report_tables_name_rights_levels_and_estimators(lang):
    from nonrecours.report import render_report

    summary = pd.DataFrame(
        {
            "right": ["cmuc", "all"],
            "estimator": ["eblup", "direct"],
            "subset": ["sampled", "unsampled"],
            "n": [38, 22],
            "bias": [0.01, 0.0],
        }
    )
    alloc = pd.DataFrame(
        {
            "is_qpv": [0, 1],
            "benefit": ["RSA", "RSA"],
            "stratum": ["0|RSA", "1|RSA"],
            "N_h": [1000, 500],
            "n_h": [100, 80],
        }
    )
    nat = pd.DataFrame(
        {
            "right": ["tss"],
            "n": [300],
            "estimate": [0.5],
            "ci_low": [0.45],
            "ci_high": [0.55],
            "cv": [0.05],
            "flag": ["ok"],
        }
    )
    page = _visible(
        render_report(
            {"comparison_summary": summary, "allocation": alloc, "estimates_national": nat},
            {"settings": {"rights": ["tss"]}},
            lang=lang,
        )
    )
    found = [w for w in RAW.findall(page) if not (lang == "en" and w == "sampled")]
    assert found == [], found
    lab = labels(lang)
    assert all(w in page for w in ("CMU-C", "TSS", lab.level("is_qpv", 0), lab.variable("is_qpv")))
