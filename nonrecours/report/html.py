"""The study report: one self-contained HTML file rendered from result tables.

:func:`render_report` takes the tables a study wrote (``allocation``,
``weights``, ``estimates_national``, ``estimates_qpv``, ``gap_qpv``,
``estimates_benefit``, ``estimates_territory``, ``sae``, ``comparison``) and
the run's provenance (versions, seeds, input hashes, counts and the methods
that ran), and returns the HTML text. Numbers are taken from those tables as
they are; the report only formats, orders and plots them. Images are PNG
embedded as base64, styles are inline, and nothing refers to the network, so
the file reads anywhere. The page carries no timestamp: a re-run of the same
study gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from . import plots
from ._format import ci, esc, flag_mark, frame_table, img, is_missing, num, pct, table

__all__ = ["render_report", "SECTIONS"]

#: Section ids and titles, in the order of the page.
SECTIONS = (
    ("design", "Sample design"),
    ("weighting", "Weighting diagnostics"),
    ("headline", "Take-up rates: national, QPV and the rest"),
    ("benefit", "Take-up by benefit"),
    ("territories", "Per-territory estimates"),
    ("shrinkage", "Shrinkage of the small-area estimates"),
    ("lowest", "Territories with the lowest take-up"),
    ("truth", "Comparison with the true rates"),
    ("notes", "Notes on suppressed and unreliable cells"),
    ("methods", "Methods"),
    ("provenance", "Provenance"),
)

CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;
line-height:1.45;padding:0 1em}
h1{font-size:1.7em;border-bottom:3px solid #2c7fb8;padding-bottom:.2em}
h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #ccc;color:#1d4f73}
h3{font-size:1.05em}
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}
th,td{padding:.25em .6em;border-bottom:1px solid #e3e3e3}
th{background:#f1f5f9;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:bottom;font-size:.85em;color:#555;text-align:left;padding-top:.3em}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
nav ol{columns:2;font-size:.92em}
.note{color:#555;font-size:.9em}
.missing{color:#8a6d3b;background:#fcf8e3;padding:.4em .8em}
pre{background:#f6f8fa;padding:.8em;font-size:.8em;overflow-x:auto}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dt{font-weight:bold}dd{margin:0}
"""


def render_report(tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any]) -> str:
    """Render the study report as one self-contained HTML page.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Result tables by name (the output file's stem). Absent tables leave
        their section with a note saying the stage did not run.
    provenance : mapping
        ``title``, ``versions``, ``study_file``, ``inputs``, ``seeds``,
        ``settings`` (rights, domains, level, thresholds), ``counts``,
        ``weighting`` (weight summary) and ``methods`` (per stage, what ran),
        as built by :func:`nonrecours.study.pipeline.run_study`.

    Returns
    -------
    str
        The HTML text.

    Examples
    --------
    >>> html = render_report({}, {"title": "Dry run"})
    >>> html.startswith("<!DOCTYPE html>")
    True
    """
    r = _Report(tables, provenance)
    body = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{getattr(r, sid)()}</section>'
                   for sid, title in SECTIONS)
    nav = "".join(f'<li><a href="#{sid}">{esc(title)}</a></li>' for sid, title in SECTIONS)
    title = provenance.get("title", "Study report")
    version = provenance.get("versions", {}).get("nonrecours", "")
    study = provenance.get("study_file", {}).get("path", "")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1>"
            f'<p class="note">Study file <code>{esc(study)}</code>, run with nonrecours {esc(version)}. '
            f"Estimates are design-based take-up rates (takers / eligible recipients); "
            f"intervals at the {pct(_settings(provenance).get('level', 0.95), 0)} level.</p>"
            f"<nav><ol>{nav}</ol></nav>{body}</body></html>\n")


def _settings(prov: Mapping[str, Any]) -> Mapping[str, Any]:
    return prov.get("settings", {})


def _missing(what: str) -> str:
    return f'<p class="missing">{esc(what)}</p>'


def _code_value(v: Any) -> str:
    """Domain codes as text: 1.0 -> '1'."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class _Report:
    """Builds each section's HTML from the tables; one method per section id."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], prov: Mapping[str, Any]) -> None:
        self.t = tables
        self.p = prov
        s = _settings(prov)
        self.rights = list(s.get("rights", []))
        self.domains = dict(s.get("domains", {"qpv": "is_qpv", "benefit": "benefit", "territory": "territory"}))
        if not self.rights:
            for name in ("estimates_national", "sae"):
                if name in tables:
                    self.rights = list(pd.unique(tables[name]["right"]))
                    break

    # ----------------------------------------------------------------- design
    def design(self) -> str:
        c = self.p.get("counts", {})
        out = []
        if c:
            out.append(
                f"<p>The frame holds {num(c.get('frame'))} recipients in {num(c.get('strata'))} strata. "
                f"{num(c.get('sample'))} were sampled and {num(c.get('respondents'))} answered "
                f"(response rate {pct(c.get('response_rate'))}).</p>")
        alloc = self.t.get("allocation")
        if alloc is None:
            return "".join(out) + _missing("The allocation table is not available.")
        out.append(frame_table(alloc, caption="Allocation by stratum: population, sample, respondents "
                               "and response rate (allocation.csv)."))
        return "".join(out)

    # -------------------------------------------------------------- weighting
    def weighting(self) -> str:
        w = self.p.get("weighting", {})
        out = []
        if w:
            out.append(table([[k, num(v, 4) if not isinstance(v, str) else v] for k, v in w.items()],
                             ["quantity", "value"], caption="Weights of the respondents."))
        weights = self.t.get("weights")
        if weights is None or "weight" not in weights.columns:
            return "".join(out) + _missing("The weighted sample is not available.")
        out.append(img(plots.weights_plot(weights), "Distribution of the final weights and g-weights"))
        return "".join(out)

    # --------------------------------------------------------------- headline
    def headline(self) -> str:
        nat = self.t.get("estimates_national")
        if nat is None:
            return _missing("National estimates are not available.")
        qpv = self.t.get("estimates_qpv")
        gap = self.t.get("gap_qpv")
        qcol = self.domains.get("qpv", "is_qpv")
        rows = []
        for right in self.rights:
            row = [right.upper()]
            row += self._cell(nat[nat["right"] == right])
            for code in ("1", "0"):
                if qpv is not None:
                    sub = qpv[(qpv["right"] == right) & (qpv[qcol].map(_code_value) == code)]
                    row.append(self._estimate_ci(sub))
            if gap is not None:
                g = gap[gap["right"] == right]
                row += self._gap_cells(g)
            rows.append(row)
        header = ["right", "eligible respondents", "take-up", f"CI {pct(_settings(self.p).get('level', 0.95), 0)}", "CV"]
        if qpv is not None:
            header += ["QPV", "rest"]
        if gap is not None:
            header += ["gap QPV − rest", "CI of the gap", "p-value"]
        out = [table(rows, header, caption="Take-up rate per right among eligible recipients, with its "
                     "confidence interval; QPV vs the rest of their urban areas and the gap (points), "
                     "with the p-value of the test of no gap. † unreliable, ‡ suppressed.")]
        if qpv is not None:
            out.append(img(plots.gap_plot(qpv, qpv_col=qcol, rights=self.rights),
                           "Take-up in QPV and in the rest, with confidence intervals"))
        return "".join(out)

    @staticmethod
    def _cell(sub: pd.DataFrame) -> list[str]:
        if sub.empty:
            return ["–", "–", "–", "–"]
        r = sub.iloc[0]
        if str(r.get("flag")) == "suppressed":
            return [num(r.get("n")), "suppressed", "", ""]
        return [num(r.get("n")), pct(r["estimate"]) + flag_mark(r.get("flag")),
                ci(r["ci_low"], r["ci_high"]), num(r.get("cv"), 2)]

    @staticmethod
    def _estimate_ci(sub: pd.DataFrame) -> str:
        if sub.empty:
            return "–"
        r = sub.iloc[0]
        if str(r.get("flag")) == "suppressed":
            return "suppressed"
        return f"{pct(r['estimate'])} {ci(r['ci_low'], r['ci_high'])}{flag_mark(r.get('flag'))}"

    @staticmethod
    def _gap_cells(g: pd.DataFrame) -> list[str]:
        if g.empty:
            return ["–", "–", "–"]
        r = g.iloc[0]
        p = next((r[c] for c in ("p_value", "pvalue", "p") if c in g.columns), None)
        pts = "–" if is_missing(r["gap"]) else f"{100 * float(r['gap']):+.1f} pts"
        return [pts, ci(r["ci_low"], r["ci_high"]), "–" if is_missing(p) else f"{float(p):.3g}"]

    # ---------------------------------------------------------------- benefit
    def benefit(self) -> str:
        ben = self.t.get("estimates_benefit")
        if ben is None:
            return _missing("Estimates by benefit are not available.")
        bcol = self.domains.get("benefit", "benefit")
        levels = list(pd.unique(ben[bcol].map(_code_value)))
        rows = []
        for level in levels:
            row = [level]
            for right in self.rights:
                sub = ben[(ben[bcol].map(_code_value) == level) & (ben["right"] == right)]
                row.append(self._estimate_ci(sub))
            rows.append(row)
        return table(rows, [bcol] + [r.upper() for r in self.rights],
                     caption="Take-up rate and confidence interval per benefit; – not eligible in the sample.")

    # ------------------------------------------------------------ territories
    def territories(self) -> str:
        sae = self.t.get("sae")
        if sae is None:
            direct = self.t.get("estimates_territory")
            if direct is None:
                return _missing("Per-territory estimates are not available.")
            return _missing("The small-area phase did not run; direct estimates per territory are in "
                            "estimates_territory.csv.")
        return ("<p>Each point is a territory; territories are ordered by their small-area estimate. "
                "Grey: direct estimate and its interval (often wide or missing with few respondents); "
                "green: small-area (EBLUP) estimate and its interval.</p>"
                + img(plots.caterpillar_plot(sae, self.t.get("estimates_territory"), rights=self.rights),
                      "Caterpillar plot of direct and small-area estimates per territory"))

    def shrinkage(self) -> str:
        sae = self.t.get("sae")
        if sae is None:
            return _missing("The small-area phase did not run.")
        return ("<p>Small-area against direct estimate. Territories with many respondents (gamma near 1) "
                "stay on the diagonal; the others are pulled towards the model's synthetic estimate.</p>"
                + img(plots.shrinkage_plot(sae, rights=self.rights), "Shrinkage plot"))

    def lowest(self, k: int = 10) -> str:
        sae = self.t.get("sae")
        if sae is None:
            return _missing("The small-area phase did not run.")
        cmp_ = self.t.get("comparison")
        truth = None
        if cmp_ is not None and "truth" in cmp_.columns:
            truth = cmp_[["territory", "right", "truth"]].drop_duplicates(["territory", "right"])
        out = [f"<p>The {k} territories with the lowest small-area estimate, per right. Territories without "
               "direct estimate (no or too few respondents) get the model's synthetic estimate (gamma 0).</p>"]
        for right in self.rights:
            s = sae[sae["right"] == right].sort_values(["eblup", "territory"]).head(k)
            if truth is not None:
                s = s.merge(truth, on=["territory", "right"], how="left")
            rows = [[t.territory, pct(t.eblup), ci(t.ci_low, t.ci_high), pct(t.direct),
                     num(getattr(t, "n", None)) if getattr(t, "in_sample", True) else "–", num(t.gamma, 2)]
                    + ([pct(t.truth)] if truth is not None else []) for t in s.itertuples()]
            header = (["territory", "small-area", "CI", "direct", "eligible respondents", "gamma"]
                      + (["true rate"] if truth is not None else []))
            out.append(f"<h3>{esc(right.upper())}</h3>" + table(rows, header))
        return "".join(out)

    def truth(self) -> str:
        cmp_ = self.t.get("comparison_summary")
        if cmp_ is None:
            return _missing("No true rates were given (territorial.truth): nothing to compare with.")
        return frame_table(cmp_, caption="Direct and small-area estimates against the true rates "
                           "of the simulated population (comparison.csv).")

    # ------------------------------------------------------------------ notes
    def notes(self) -> str:
        th = _settings(self.p).get("thresholds", {})
        rows = []
        for name in ("estimates_national", "estimates_qpv", "estimates_benefit", "estimates_territory"):
            df = self.t.get(name)
            if df is None or "flag" not in df.columns:
                continue
            counts = df["flag"].value_counts()
            rows.append([f"{name}.csv", num(len(df)), num(counts.get("unreliable", 0)),
                         num(counts.get("suppressed", 0))])
        rule = ""
        if th:
            rule = (f"<p>A cell is <b>suppressed</b> (‡, not published) with fewer than {num(th.get('min_n'))} "
                    f"eligible respondents, and <b>unreliable</b> (†) with fewer than {num(th.get('reliable_n'))} "
                    f"or a coefficient of variation above {pct(th.get('max_cv'), 0)}.</p>")
        warned = self.p.get("warnings", [])
        notes = ("<h3>Warnings raised during the run</h3><ul>" + "".join(f"<li>{esc(w)}</li>" for w in warned)
                 + "</ul>") if warned else ""
        if not rows:
            return rule + _missing("No estimate tables.") + notes
        return rule + table(rows, ["table", "cells", "unreliable", "suppressed"]) + notes

    # ---------------------------------------------------------------- methods
    def methods(self) -> str:
        methods = self.p.get("methods", {})
        if not methods:
            return _missing("No method record.")
        out = []
        for stage, items in methods.items():
            if isinstance(items, Mapping):
                dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(_show(v))}</dd>" for k, v in items.items())
                out.append(f"<h3>{esc(stage.capitalize())}</h3><dl>{dl}</dl>")
            else:
                out.append(f"<h3>{esc(stage.capitalize())}</h3><p>{esc(_show(items))}</p>")
        return "".join(out)

    def provenance(self) -> str:
        p = self.p
        out = []
        if p.get("folders"):
            from .section_publication import render as publication_note

            out.append(publication_note(p["folders"].get("microdata", []),
                                        _settings(p).get("thresholds", {}).get("min_n"), p.get("lang", "en")))
        if p.get("versions"):
            out.append(table(list(p["versions"].items()), ["package", "version"], numeric_from=2))
        if p.get("seeds"):
            out.append(table([[k, _show(v)] for k, v in p["seeds"].items()], ["seed", "value"]))
        if p.get("inputs"):
            out.append(table([[k, v["path"], v["sha256"]] for k, v in p["inputs"].items()],
                             ["input", "file", "SHA-256"], numeric_from=3,
                             caption="Inputs; the SHA-256 of every output is in manifest.json."))
        study = p.get("study_file", {})
        if study.get("text"):
            out.append(f"<h3>Study file</h3><pre>{esc(study['text'])}</pre>")
        return "".join(out) or _missing("No provenance record.")


def _show(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(map(_show, v))
    if isinstance(v, Mapping):
        return "; ".join(f"{k} = {_show(x)}" for k, x in v.items())
    if isinstance(v, float):
        return num(v, 6)
    return str(v)
