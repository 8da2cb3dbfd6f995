"""Tables for publication: one Excel workbook, one sheet per table, with a notes sheet.

:func:`publication_workbook` turns the result tables of a study into the
workbook a statistical office sends out: readable headers in French or
English, rates as percentages and counts with thousands separators (Excel
number formats, which a French Excel shows as ``61,7 %`` and ``12 345``; the
kind of each column is :func:`nonrecours.report.format.column_kind`, the same
as in the report, and the text of the notes sheet is formatted by
:mod:`nonrecours.report.format`), the
estimate of a suppressed cell left empty with the mark ‡ (statistical
confidentiality), unreliable estimates marked †, and a notes sheet that
explains the marks, the thresholds, the method and the source. The workbook
is reproducible to the byte (fixed timestamps).

Display only: nothing is computed here; the numbers are those of the tables.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..io import normalise_zip
from . import _xlsx, i18n
from . import format as fmt
from .labels import Labels, from_provenance
from .section_analysis import model_notes

__all__ = ["publication_workbook", "TEXT", "SHEETS", "PERCENT", "COUNT"]

#: Excel number formats (locale-independent codes; Excel displays them with the reader's separators).
PERCENT = "0.0 %"
COUNT = "#,##0"
DECIMAL = "0.0000"

#: Result tables published, in sheet order, with their sheet-name key in :data:`TEXT`.
SHEETS = (
    "estimates_national",
    "estimates_qpv",
    "gap_qpv",
    "estimates_benefit",
    "estimates_territory",
    "sae",
    "analysis_nontakers",
    "analysis_gaps",
    "analysis_predicted",
    "analysis_tests",
    "analysis_model",
    "analysis_model_tests",
    "comparison_summary",
    "admin_rates",
    "admin_departements",
    "admin_comparison",
    "linkage_quality",
    "admin_accuracy",
)

#: Excel number format of each kind of column (:func:`~nonrecours.report.format.column_kind`): a change or a
#: quantity in percentage points is a difference of rates, shown in percent.
_EXCEL_FORMATS = {"rate": PERCENT, "change": PERCENT, "points": PERCENT, "count": COUNT, "decimal": DECIMAL}

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "estimates_national": "national",
        "estimates_qpv": "QPV and rest",
        "gap_qpv": "gap QPV-rest",
        "estimates_benefit": "by benefit",
        "estimates_territory": "by territory",
        "sae": "small areas",
        "analysis_nontakers": "takers and non-takers",
        "analysis_gaps": "gaps between groups",
        "analysis_predicted": "predicted take-up",
        "analysis_tests": "association tests",
        "analysis_model": "logistic model",
        "analysis_model_tests": "model term tests",
        "comparison_summary": "estimators vs true rates",
        "admin_rates": "administrative rates",
        "admin_departements": "admin rates by département",
        "admin_comparison": "survey vs administrative",
        "linkage_quality": "linkage quality",
        "admin_accuracy": "admin rates vs true rates",
        "published": "published",
        "notes": "notes",
        "mark": "mark",
        "title": "Tables of the study: {title}",
        "definition": "Take-up rate: share of the eligible recipients who take up the right (takers / eligible). "
        "Non-take-up rate: one minus the take-up rate. Rates and their confidence intervals are in "
        "percent.",
        "level": "Confidence intervals at the {level} level; method: {ci}.",
        "suppressed": "‡ suppressed (statistical confidentiality): fewer than {min_n} eligible respondents, "
        "takers or non-takers; the estimate is not published.",
        "unreliable": "† unreliable: fewer than {reliable_n} eligible respondents or a coefficient of variation "
        "above {max_cv}.",
        "note_gap": "Gap QPV − rest: difference of the take-up rates (QPV minus the rest of their urban areas), in "
        "percentage points of the rates shown as percent, with its confidence interval and the p-value "
        "of the test of no gap.",
        "note_sae": "Small areas: Fay–Herriot (EBLUP) estimates per territory; gamma is the weight of the direct "
        "estimate.",
        "source": "Source: {study}; nonrecours {version}. Every number comes from the CSV tables of the same run "
        "(see manifest.json).",
        "sheet": "sheet",
        "content": "content",
    },
    "fr": {
        "estimates_national": "national",
        "estimates_qpv": "QPV et hors QPV",
        "gap_qpv": "écart QPV-hors QPV",
        "estimates_benefit": "par prestation",
        "estimates_territory": "par territoire",
        "sae": "petits domaines",
        "analysis_nontakers": "recourants et non-recourants",
        "analysis_gaps": "écarts entre groupes",
        "analysis_predicted": "recours prédit",
        "analysis_tests": "tests d'association",
        "analysis_model": "modèle logistique",
        "analysis_model_tests": "tests des termes du modèle",
        "comparison_summary": "estimateurs et taux vrais",
        "admin_rates": "taux administratifs",
        "admin_departements": "taux admin. par département",
        "admin_comparison": "enquête et administratif",
        "linkage_quality": "qualité de l'appariement",
        "admin_accuracy": "taux admin. et taux vrais",
        "published": "diffusé",
        "notes": "notes",
        "mark": "signe",
        "title": "Tableaux de l'étude : {title}",
        "definition": "Taux de recours : part des allocataires éligibles qui recourent au droit (bénéficiaires / "
        "éligibles). Taux de non-recours : complément à un du taux de recours. Les taux et leurs "
        "intervalles de confiance sont exprimés en pourcentage.",
        "level": "Intervalles de confiance au niveau de {level} ; méthode : {ci}.",
        "suppressed": "‡ secret statistique : moins de {min_n} répondants éligibles, recourants ou "
        "non-recourants ; l'estimation n'est pas diffusée.",
        "unreliable": "† estimation fragile : moins de {reliable_n} répondants éligibles ou coefficient de "
        "variation supérieur à {max_cv}.",
        "note_gap": "Écart QPV − hors QPV : différence des taux de recours (QPV moins le reste de leurs unités "
        "urbaines), avec son intervalle de confiance et la p-valeur du test d'absence d'écart.",
        "note_sae": "Petits domaines : estimations de Fay–Herriot (EBLUP) par territoire ; gamma est le poids de "
        "l'estimation directe.",
        "source": "Source : {study} ; nonrecours {version}. Chaque nombre provient des tables CSV de la même "
        "exécution (voir manifest.json).",
        "sheet": "feuille",
        "content": "contenu",
    },
}

_FLAGS = {"unreliable": "†", "suppressed": "‡"}


#: Headers that mean something else in one table (the others come from :data:`~nonrecours.report.i18n.COLUMN_LABELS`).
SHEET_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "analysis_nontakers": {"estimate": "weighted count"},
        "analysis_model": {"estimate": "coefficient (log odds ratio)"},
        "comparison_summary": {"n": "number of territories"},
    },
    "fr": {
        "analysis_nontakers": {"estimate": "effectif pondéré"},
        "analysis_model": {"estimate": "coefficient (log du rapport de cotes)"},
        "comparison_summary": {"n": "nombre de territoires"},
    },
}


def _right(value: str, lang: str, lab: Labels) -> str:
    """A right as the report writes it (CMU-C, ACS...); ``cmuc:takers`` as 'CMU-C : takers' in ``lang``."""
    right, _, part = value.partition(":")
    if right == "all":  # the comparison's rows over every right
        return i18n.TEXT[lang]["all"]
    if not part:
        return lab.right(right)
    sep = " : " if lang == "fr" else ": "
    return lab.right(right) + sep + i18n.label(f"n_{part}", lang)


#: Values of the workbook's text columns, per language (codes of the result tables in words).
VALUES: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "estimator": {"direct": "direct", "eblup": "small-area"},
        "subset": {"sampled": "sampled", "unsampled": "not sampled", "all": "all"},
        "in_sample": {"True": "yes", "False": "no"},
        "ci_method": {
            "auto": "auto (Wilson for small domains and rates of 0 or 1, logit elsewhere)",
            "wald": "Wald",
            "logit": "logit",
            "asin": "arcsine",
            "beta": "beta (Korn–Graubard)",
            "likelihood": "likelihood (Rao–Scott)",
            "xlogit": "logit of the mean",
            "wilson": "Wilson",
        },
    },
    "fr": {
        "estimator": {"direct": "directe", "eblup": "petits domaines"},
        "subset": {"sampled": "échantillonnés", "unsampled": "non échantillonnés", "all": "ensemble"},
        "in_sample": {"True": "oui", "False": "non"},
        "ci_method": {
            "auto": "automatique (Wilson pour les petits domaines et les taux de 0 ou 1, logit sinon)",
            "wald": "Wald",
            "logit": "logit",
            "asin": "arcsinus",
            "beta": "bêta (Korn–Graubard)",
            "likelihood": "vraisemblance (Rao–Scott)",
            "xlogit": "logit de la moyenne",
            "wilson": "Wilson",
        },
    },
}


def _words(out: pd.DataFrame, lang: str, lab: Labels, variables: list[str]) -> pd.DataFrame:
    """The codes of a table in words: levels of the labelled columns (is_qpv 0/1...), groups and their levels,
    statistics, model terms, the comparison's estimators and subsets, yes/no."""

    def cells(col: str, name: Any) -> list:
        return [v if fmt.is_missing(v) else name(v) for v in out[col]]

    for c in [c for c in out.columns if lab.known_levels(c)]:  # is_qpv, household... as columns
        out[c] = cells(c, lambda v, c=c: lab.level(c, v))
    if "group" in out.columns:  # analysis tables: the level (and a gap's two levels) of the row's group
        groups = out["group"].astype(str).tolist()
        for c in ("level", "domain_a", "domain_b"):
            if c in out.columns:
                out[c] = [v if fmt.is_missing(v) else lab.level(g, v) for g, v in zip(groups, out[c])]
        out["group"] = cells("group", lab.variable)
    for c in ("domain_a", "domain_b"):  # the QPV gap: levels of is_qpv
        if c in out.columns and "group" not in out.columns:
            out[c] = cells(c, lambda v: lab.level("is_qpv", v))
    if "statistic" in out.columns:
        out["statistic"] = cells("statistic", lab.statistic)
    if "col" in out.columns and "row" in out.columns:  # association tests: right x group
        out["row"] = cells("row", lab.right)
        out["col"] = cells("col", lab.variable)
    if "term" in out.columns and "F" in out.columns:  # term tests: variables (benefit, is_qpv:benefit)
        out["term"] = cells("term", lambda t: " × ".join(lab.variable(v) for v in str(t).split(":")))
    elif "term" in out.columns:  # coefficients: a level of a variable (benefitASPA)
        out["term"] = cells("term", lambda t: t if t == "(Intercept)" else lab.term(t, variables))
    for c, words in VALUES[lang].items():
        if c in out.columns:
            out[c] = cells(c, lambda v, w=words: w.get(str(v), str(v)))
    return out


def _sheet_frame(
    df: pd.DataFrame, lang: str, lab: Labels | None = None, variables: list[str] | None = None
) -> pd.DataFrame:
    """The table as published: codes in words, flags translated, a mark column, suppressed estimates emptied."""
    lab = lab or from_provenance(None, lang)
    out = _words(df.copy(), lang, lab, variables or [])
    if "right" in out.columns:  # CMU-C, ACS...: as in the report
        out["right"] = [_right(str(v), lang, lab) for v in out["right"]]
    if "status" in out.columns:  # administrative tables: published / suppressed (already emptied)
        status = out["status"].astype(str)
        out.insert(out.columns.get_loc("status"), "mark", status.map({"suppressed": _FLAGS["suppressed"]}).fillna(""))
        out["status"] = status.map(
            {"published": TEXT[lang]["published"], "suppressed": i18n.TEXT[lang]["suppressed"]}
        ).fillna(status)
    if "flag" in out.columns:
        flag = out["flag"].astype(str)
        suppressed = (flag == "suppressed").to_numpy()
        for c in ("estimate", "se", "ci_low", "ci_high", "cv", "deff"):
            if c in out.columns:
                out[c] = out[c].astype(float).where(~suppressed)
        out.insert(out.columns.get_loc("flag"), "mark", flag.map(_FLAGS).fillna(""))
        out["flag"] = flag.map(lambda f: i18n.TEXT[lang].get(f, f))
    return out


def publication_workbook(
    tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any], *, lang: str = "fr"
) -> bytes:
    """The publication workbook of a study run, as .xlsx bytes.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        The run's result tables (see :data:`SHEETS`; absent ones are left out).
    provenance : mapping
        The run's provenance (title, settings, versions, study file), as for
        :func:`~nonrecours.report.render_report`.
    lang : {"fr", "en"}
        Language of the sheet names, headers, flags and notes.

    Returns
    -------
    bytes
        The workbook; the same tables give the same bytes.
    """
    i18n.check_lang(lang)
    t = TEXT[lang]
    lab = from_provenance(provenance, lang)
    tests = tables.get("analysis_model_tests")
    variables = (
        [] if tests is None else list(dict.fromkeys(v for term in tests["term"].astype(str) for v in term.split(":")))
    )
    sheets: list[_Sheet] = []
    for name in SHEETS:
        if name not in tables:
            continue
        df = _sheet_frame(tables[name], lang, lab, variables)
        own = SHEET_LABELS[lang].get(name, {})
        header = [t["mark"] if c == "mark" else own.get(c) or i18n.label(c, lang) for c in df.columns]
        # the columns' values as lists (one conversion per column; iterating rows steps through each Arrow text
        # column one Python call per value), then the rows: itertuples' values, but numpy integers as int (_value)
        columns = [df.iloc[:, j].tolist() for j in range(df.shape[1])]
        rows = [[_value(v) for v in row] for row in zip(*columns)]
        formats = [_EXCEL_FORMATS.get(fmt.column_kind(col, name) or "") for col in df.columns]
        sheets.append((name, header, rows, formats))
    notes = _notes(tables, provenance, lang, lab, [name for name, *_ in sheets])
    try:  # openpyxl writes the workbook without its data rows; they are written as text (same bytes)
        wb = _workbook(sheets, notes, lang, skeleton=True)
        buf = io.BytesIO()
        wb.save(buf)
        spliced = {}
        for ws, (_, header, rows, _) in zip(wb.worksheets, sheets):
            if rows and header:
                styles = [ws.cell(2, j).style_id if ws.cell(2, j).has_style else 0 for j in range(1, len(header) + 1)]
                spliced[ws.path.lstrip("/")] = _xlsx.sheet_rows([header, *rows], ws.cell(1, 1).style_id, styles)
        return normalise_zip(_xlsx.splice(buf.getvalue(), spliced))
    except _xlsx.Unusual:  # a value the text writer does not handle as openpyxl does: openpyxl writes every cell
        buf = io.BytesIO()
        _workbook(sheets, notes, lang, skeleton=False).save(buf)
        return normalise_zip(buf.getvalue())


def _notes(
    tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any], lang: str, lab: Labels, written: list[str]
) -> list[str]:
    """The lines of the notes sheet: title, definitions, thresholds, method notes, source, the sheets' contents."""
    t = TEXT[lang]
    s = provenance.get("settings", {})
    th = s.get("thresholds", {})
    title = provenance.get("title") or ""
    ci_used = str(provenance.get("config", {}).get("estimation", {}).get("ci", "logit"))
    lines = [
        t["title"].format(title=title),
        "",
        t["definition"],
        t["level"].format(
            level=fmt.pct(s.get("level", 0.95), lang, 0), ci=VALUES[lang]["ci_method"].get(ci_used, ci_used)
        ),
    ]
    if th:
        lines += [
            t["suppressed"].format(min_n=fmt.count(th.get("min_n"), lang)),
            t["unreliable"].format(
                reliable_n=fmt.count(th.get("reliable_n"), lang), max_cv=fmt.pct(th.get("max_cv"), lang, 0)
            ),
        ]
    if "gap_qpv" in written:
        lines.append(t["note_gap"])
    if "sae" in written:
        lines.append(t["note_sae"])
    lines += model_notes(tables, lang, labels=lab)  # the rights whose model could not be fitted, and why
    lines += [
        "",
        t["source"].format(
            study=provenance.get("study_file", {}).get("path", ""),
            version=provenance.get("versions", {}).get("nonrecours", ""),
        ),
        "",
        f"{t['sheet']} — {t['content']}",
    ]
    lines += [f"{t[n]}" for n in written]
    return lines


_Sheet = tuple[str, list[str], list[list[Any]], list[str | None]]  # table, header, rows, number format per column


def _workbook(sheets: list[_Sheet], notes: list[str], lang: str, *, skeleton: bool) -> Any:
    """The openpyxl workbook: one sheet per table (bold wrapped headers, number formats per column, column widths,
    the header row frozen) and the notes sheet.

    With ``skeleton``, a sheet holds its header and, in place of its data rows, one row of empty cells carrying
    the columns' number formats: saved, it registers the same styles in the same order as the whole workbook
    (openpyxl numbers the styles as it writes the cells, and every data row has the styles of the first).
    """
    import openpyxl
    from openpyxl.styles import Alignment, Font

    t = TEXT[lang]
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for name, header, rows, formats in sheets:
        ws = wb.create_sheet(t[name][:31])
        ws.append(header)
        for cell in ws[1]:
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in (rows[:1] and [[None] * len(header)]) if skeleton else rows:
            ws.append(row)
        for j, number_format in enumerate(formats, start=1):
            letter = openpyxl.utils.get_column_letter(j)
            ws.column_dimensions[letter].width = max(10, min(28, len(str(ws.cell(1, j).value)) + 2))
            if number_format is not None:
                for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                    cell.number_format = number_format
        ws.freeze_panes = "A2"
    ws = wb.create_sheet(t["notes"])
    for line in notes:
        ws.append([line])
    ws["A1"].font = Font(bold=True, size=12)
    ws.column_dimensions["A"].width = 120
    for (cell,) in ws.iter_rows(min_row=2, max_col=1):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    return wb


def _value(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v
