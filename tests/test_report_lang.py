"""The report and the publication workbook in French and in English: complete, and no language leaks.

Every string of the report lives in a ``TEXT`` dictionary with both
languages; the test renders the whole report (and the figures' labels, and
the workbook) in each language and checks that no string of one language
appears in the other's output.
"""

from __future__ import annotations

import html as htmllib
import io
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest
from test_report import PROV, tables  # noqa: F401  (fixture)

from nonrecours.report import html as report_html
from nonrecours.report import i18n, plots, publication, render_report, section_publication
from nonrecours.report.format import NNBSP

CONFIG = {
    "design": {
        "strata": ["is_qpv", "benefit"],
        "selection": "srswor",
        "seed": 1,
        "allocation": {"method": "power", "n": 6000, "min_per_stratum": 50},
    },
    "responses": {"simulate": True},
    "weighting": {
        "nonresponse": {"method": "classes", "classes": ["is_qpv", "benefit"], "min_respondents": 20},
        "calibration": {"method": "raking", "margins": ["benefit", "housing"]},
        "replicates": {"method": "none"},
    },
    "estimation": {
        "ci": "logit",
        "level": 0.95,
        "df": "domain",
        "lonely_psu": "adjust",
        "thresholds": {"min_n": 11, "reliable_n": 30, "max_cv": 0.3},
    },
    "territorial": {
        "enabled": True,
        "method": "reml",
        "covariates": ["poverty_rate"],
        "variance": "gvf",
        "mse": "auto",
    },
}
DICTS = [
    report_html.TEXT,
    report_html.TERMS,
    report_html.WEIGHT_KEYS,
    i18n.TEXT,
    i18n.COLUMN_LABELS,
    plots.TEXT,
    publication.TEXT,
    section_publication.TEXT,
]


def _fragments(template: str) -> list[str]:
    """The literal pieces of a template long enough to be words of one language."""
    pieces = re.split(r"\{[^}]*\}|<[^>]+>", template)
    return [p.strip(" .,;:()") for p in pieces if len(p.strip(" .,;:()")) >= 6 and " " in p.strip()]


def _leaks(lang: str, other: str, output: str) -> list[str]:
    mine = {v for d in DICTS for v in d[lang].values()}
    found = []
    for d in DICTS:
        for key, text in d[other].items():
            if text == d[lang][key]:
                continue  # the same in both languages (REML, QPV, CV...)
            for frag in _fragments(text):
                if any(frag in m for m in mine):
                    continue
                if frag in output:
                    found.append(frag)
    return found


@pytest.fixture
def prov():
    return {
        **PROV,
        "config": CONFIG,
        "title": None,
        "warnings": [],
        "folders": {
            "publication": ["report.html", "tables.xlsx", "manifest.json"],
            "microdata": ["sample.csv", "weights.csv"],
        },
    }


def _page_text(page: str) -> str:
    return htmllib.unescape(re.sub(r'<img src="data:[^"]+"', "<img", page))


def test_both_languages_have_the_same_keys():
    for d in DICTS:
        i18n.check_text(d)


@pytest.mark.slow
def test_report_in_each_language_has_no_string_of_the_other(tables, prov):  # noqa: F811
    pages = {lang: _page_text(render_report(tables, prov, lang=lang)) for lang in ("fr", "en")}
    assert _leaks("fr", "en", pages["fr"]) == []
    assert _leaks("en", "fr", pages["en"]) == []
    fr = pages["fr"]
    assert '<html lang="fr">' in fr and "Taux de recours" in fr and "non-recours" in fr
    assert "secret statistique" in fr and "Recours aux droits sociaux" in fr
    assert f"65,4{NNBSP}%" in fr  # « 65,4 % » from estimate 0.654321
    assert f"4{NNBSP}000" in fr  # thousands with a narrow no-break space
    assert f"[61,1{NNBSP};\u00a070,0]" in fr  # interval with a decimal comma
    assert f"\u22125,0{NNBSP}pts" in fr  # a change, with the minus sign U+2212
    assert "65.4 %" in pages["en"] and "Take-up rates" in pages["en"]
    for lang in ("fr", "en"):  # the note on publication/ vs microdata/ (issue 12), in each language
        assert section_publication.TEXT[lang]["title"] in pages[lang]


@pytest.mark.slow
def test_figures_are_labelled_in_the_report_language(tables, monkeypatch):  # noqa: F811
    from matplotlib.text import Text

    seen: dict[str, list[str]] = {}
    real = plots.png_bytes

    def record(fig):
        png = real(fig)  # drawn: the tick labels are set
        seen.setdefault(current, []).extend(t.get_text() for t in fig.findobj(Text) if t.get_text())
        return png

    monkeypatch.setattr(plots, "png_bytes", record)
    for current in ("fr", "en"):
        plots.weights_plot(tables["weights"], lang=current)
        plots.gap_plot(tables["estimates_qpv"], rights=["cmuc", "acs"], lang=current)
        plots.caterpillar_plot(tables["sae"], tables["estimates_territory"], rights=["cmuc", "acs"], lang=current)
        plots.shrinkage_plot(tables["sae"], rights=["cmuc", "acs"], lang=current)
    for lang, other in (("fr", "en"), ("en", "fr")):
        labels = set(seen[lang])
        assert {plots.TEXT[lang][k] for k in ("takeup", "direct_estimate", "weights_title")} <= labels
        wrong = {v for k, v in plots.TEXT[other].items() if v != plots.TEXT[lang][k]}
        assert not labels & wrong, labels & wrong
    dotted = [t for t in seen["fr"] if re.fullmatch(r"−?\d+\.\d+", t)]
    assert any("," in t for t in seen["fr"]) and not dotted, dotted


def test_publication_workbook(tables, prov):  # noqa: F811
    data = publication.publication_workbook(tables, prov, lang="fr")
    assert data == publication.publication_workbook(tables, prov, lang="fr")  # reproducible bytes
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == [
        "national",
        "QPV et hors QPV",
        "écart QPV-hors QPV",
        "par prestation",
        "par territoire",
        "petits domaines",
        "notes",
    ]
    ws = wb["par prestation"]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["prestation", "droit", "répondants éligibles", "taux de recours"]
    col = {h: i for i, h in enumerate(header)}
    rows = list(ws.iter_rows(min_row=2))
    suppressed = [r for r in rows if r[col["qualité"]].value == "secret statistique"]
    assert len(suppressed) == 1 and suppressed[0][col["taux de recours"]].value is None
    assert suppressed[0][col["signe"]].value == "‡"
    assert any(r[col["signe"]].value == "†" and r[col["qualité"]].value == "fragile" for r in rows)
    ok = next(r for r in rows if r[col["qualité"]].value == "publiable")
    assert ok[col["taux de recours"]].number_format == publication.PERCENT
    assert ok[col["répondants éligibles"]].number_format == publication.COUNT
    notes = " ".join(str(c.value) for (c,) in wb["notes"].iter_rows(max_col=1) if c.value)
    assert "secret statistique" in notes and "moins de 11" in notes and "Taux de non-recours" in notes
    en = openpyxl.load_workbook(io.BytesIO(publication.publication_workbook(tables, prov, lang="en")))
    text_en = " ".join(str(c.value) for ws in en for row in ws.iter_rows() for c in row if isinstance(c.value, str))
    text_fr = " ".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str))
    assert _leaks("en", "fr", text_en) == [] and _leaks("fr", "en", text_fr) == []


def _openpyxl_only(monkeypatch, build):  # noqa: ANN001, ANN202
    """``build()`` with openpyxl writing every cell (the text writer of the data rows refused)."""
    from nonrecours.report import _xlsx

    def refuse(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise _xlsx.Unusual("test")

    with monkeypatch.context() as m:
        m.setattr(_xlsx, "sheet_rows", refuse)
        return build()


def test_workbook_rows_written_as_text_are_openpyxls_bytes(tables, prov, monkeypatch):  # noqa: F811
    """The data rows written as XML text give the bytes openpyxl writes with a cell object per value, on the
    demo-like tables and on unusual values (infinities, -0.0, large integers, booleans, empty and padded text,
    XML's special characters, empty columns, an empty table); a formula-like text or an error code makes
    openpyxl write the whole workbook, as before."""
    odd = pd.DataFrame(
        {
            "level": ["  padded ", "a & b < c > d", "", "   ", "x\ty", "ünï\ncode"],
            "right": ["cmuc", "acs", "cmuc", "acs", "cmuc", "acs"],
            "n": [0, 12345678901234567, -3, 2**53 + 1, 7, 1],
            "estimate": [float("inf"), -0.0, 1e-300, float("-inf"), 0.1 + 0.2, np.nan],
            "se": [None] * 6,
            "in_sample": [True, False, True, False, True, False],
            "flag": ["ok", "unreliable", "suppressed", "ok", "ok", "ok"],
        }
    )
    cases = [
        dict(tables),
        {**tables, "analysis_nontakers": odd},
        {**tables, "analysis_gaps": odd.iloc[:0]},
        {**tables, "analysis_nontakers": odd.assign(level=["=1+1", "#N/A", "a", "b", "c", "d"])},
    ]
    from nonrecours.report import _xlsx

    refused = []
    text_rows = _xlsx.sheet_rows

    def spy(*a, **k):  # noqa: ANN002, ANN003, ANN202
        try:
            return text_rows(*a, **k)
        except _xlsx.Unusual:
            refused.append(a[0][0])
            raise

    for i, case in enumerate(cases):
        for lang in ("fr", "en"):
            refused.clear()
            with monkeypatch.context() as m:
                m.setattr(_xlsx, "sheet_rows", spy)
                fast = publication.publication_workbook(case, prov, lang=lang)
            assert bool(refused) == (i == 3)  # only the formula and the error code go to openpyxl
            slow = _openpyxl_only(
                monkeypatch, lambda c=case, lg=lang: publication.publication_workbook(c, prov, lang=lg)
            )
            assert fast == slow
    wb = openpyxl.load_workbook(io.BytesIO(publication.publication_workbook(cases[1], prov, lang="en")))
    ws = wb[publication.TEXT["en"]["analysis_nontakers"]]
    assert [c.value for c in ws["A"]][1:4] == ["  padded ", "a & b < c > d", None]


def test_workbook_has_a_sheet_for_the_analysis_and_administrative_tables(tables, prov):  # noqa: F811
    """Every publishable table of a run gets its sheet (issue 13: one sheet per table), with headers in the
    workbook's language, its own meaning of a column where it differs (weighted counts, coefficients), number
    formats by what a column holds, and the administrative status translated with the ‡ mark."""
    extra = {
        "analysis_nontakers": pd.DataFrame(
            {
                "level": ["AAH"],
                "right": ["cmuc:non_takers"],
                "n": [130],
                "estimate": [3872.45],
                "se": [589.9],
                "ci_low": [2705.3],
                "ci_high": [5039.6],
                "flag": ["ok"],
                "group": ["benefit"],
            }
        ),
        "analysis_model": pd.DataFrame(
            {
                "term": ["is_qpv"],
                "estimate": [0.36],
                "se": [0.1],
                "ci_low": [0.16],
                "ci_high": [0.56],
                "odds_ratio": [1.43],
                "p_value": [0.01],
                "right": ["cmuc"],
            }
        ),
        "admin_rates": pd.DataFrame(
            {
                "territory": ["QP001001", "HQ001001"],
                "departement": ["01", "01"],
                "right": ["acs", "acs"],
                "n_eligible": [213.0, np.nan],
                "n_takers": [93.0, np.nan],
                "rate": [0.4366, np.nan],
                "status": ["published", "suppressed"],
            }
        ),
        "linkage_quality": pd.DataFrame({"source": ["health"], "links_number": [139410], "true_recall": [0.9984]}),
    }
    books = {
        lang: openpyxl.load_workbook(io.BytesIO(publication.publication_workbook({**tables, **extra}, prov, lang=lang)))
        for lang in ("fr", "en")
    }
    fr, en = books["fr"], books["en"]
    for name in (
        "recourants et non-recourants",
        "modèle logistique",
        "taux administratifs",
        "qualité de l'appariement",
    ):
        assert name in fr.sheetnames
    assert fr.sheetnames[-1] == "notes" and len(fr.sheetnames) == len(en.sheetnames) == 11
    ws = fr["recourants et non-recourants"]
    header = [c.value for c in ws[1]]
    assert "effectif pondéré" in header and "taux de recours" not in header
    row = {h: c for h, c in zip(header, ws[2])}
    assert row["droit"].value == "CMU-C : non-recourants"
    assert row["effectif pondéré"].number_format == publication.COUNT  # a weighted count, not a rate
    model = {h: c for h, c in zip([c.value for c in fr["modèle logistique"][1]], fr["modèle logistique"][2])}
    assert model["coefficient (log du rapport de cotes)"].number_format == publication.DECIMAL
    admin = fr["taux administratifs"]
    header = [c.value for c in admin[1]]
    rows = [{h: c.value for h, c in zip(header, r)} for r in admin.iter_rows(min_row=2)]
    assert rows[0]["diffusion"] == "diffusé" and not rows[0]["signe"]
    assert rows[1]["diffusion"] == "secret statistique" and rows[1]["signe"] == "‡"
    assert rows[1]["taux de recours"] is None and rows[1]["allocataires éligibles"] is None
    assert admin.cell(2, header.index("taux de recours") + 1).number_format == publication.PERCENT
    assert admin.cell(2, header.index("allocataires éligibles") + 1).number_format == publication.COUNT
    text_en = " ".join(str(c.value) for ws in en for row in ws.iter_rows() for c in row if isinstance(c.value, str))
    text_fr = " ".join(str(c.value) for ws in fr for row in ws.iter_rows() for c in row if isinstance(c.value, str))
    assert _leaks("en", "fr", text_en) == [] and _leaks("fr", "en", text_fr) == []
