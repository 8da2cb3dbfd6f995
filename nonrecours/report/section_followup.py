"""Report section "Follow-up over the years": series per right, QPV vs rest, changes, territories that moved.

:func:`render` takes the follow-up tables a study wrote (``follow_up_yearly``,
``follow_up_changes``, ``follow_up_trend``, ``follow_up_did``,
``follow_up_territories``) and returns an HTML fragment in English or French
(``TEXT``); numbers are taken from the tables as they are and formatted by
:mod:`nonrecours.report.format` (« 61,7 % », « −5,0 pts »).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .format import ci, pct, pts, pvalue
from .labels import RIGHTS

__all__ = ["render", "series_plot", "TEXT"]

TEXT = {
    "en": {
        "title": "Follow-up over the years",
        "intro": "Take-up measured again each year on the samples of the successive runs ({years}; samples {scheme}). "
        "Changes and trends take into account that the samples share recipients: their standard errors "
        "come from the joint linearisation over the union of the samples, linked by recipient id.",
        "plots": "Take-up per year, QPV and the rest of their urban areas (95 % intervals)",
        "plot_title": "Take-up of {right}",
        "qpv": "QPV",
        "rest": "rest",
        "all": "all",
        "changes": "Changes between years",
        "changes_caption": "Change in percentage points with its confidence interval and the p-value of the test "
        "of no change; 'SE if independent' ignores the overlap of the samples.",
        "did": "Net change of the QPV − rest gap (difference in differences)",
        "did_caption": "Gap QPV − rest in each year and its change, in percentage points; the SE combines the four "
        "estimates with their joint covariance.",
        "trend": "Trend",
        "trend_caption": "Slope in percentage points per year by generalised least squares on the yearly estimates "
        "with their covariance; lack of fit: chi-square test of a straight line.",
        "territories": "Territories whose take-up moved most",
        "territories_caption": "Largest changes between the last two years among territories with enough eligible "
        "respondents in both; wide intervals are common at this level.",
        "h_right": "Right",
        "h_domain": "Domain",
        "h_years": "Years",
        "h_from": "From",
        "h_to": "To",
        "h_change": "Change",
        "h_ci": "CI (pts)",
        "h_se": "SE",
        "h_se_ind": "SE if independent",
        "h_p": "p-value",
        "h_gap1": "Gap, first",
        "h_gap2": "Gap, second",
        "h_did": "Net change",
        "h_slope": "Slope per year",
        "h_lof": "Lack of fit p",
        "h_territory": "Territory",
        "none": "No follow-up tables: this run has no earlier runs.",
        "persistence": "Persistent and transient non-take-up",
        "persistence_caption": "Among the recipients of both samples eligible in both years ({years}): share not "
        "taking up in both years (persistent), in exactly one (transient), in either; entries (took up the "
        "first year, not the second) and exits (the reverse). Share in percent with its SE in points "
        "(joint linearisation on the later sample's design).",
        "h_persistent": "Persistent",
        "h_transient": "Transient",
        "h_either": "In either year",
        "h_entries": "Entries",
        "h_exits": "Exits",
    },
    "fr": {
        "title": "Suivi année après année",
        "intro": "Recours mesuré de nouveau chaque année sur les échantillons des exécutions successives ({years} ; "
        "échantillons {scheme}). Les évolutions et tendances tiennent compte des allocataires communs aux "
        "échantillons : leurs écarts-types viennent de la linéarisation conjointe sur la réunion des "
        "échantillons, reliés par l'identifiant de l'allocataire.",
        "plots": "Recours par année, QPV et reste de leur unité urbaine (intervalles à 95 %)",
        "plot_title": "Recours : {right}",
        "qpv": "QPV",
        "rest": "reste",
        "all": "ensemble",
        "changes": "Évolutions entre années",
        "changes_caption": "Évolution en points avec son intervalle de confiance et la p-valeur du test d'absence "
        "d'évolution ; « ET si indépendants » ignore le recouvrement des échantillons.",
        "did": "Évolution nette de l'écart QPV − reste (double différence)",
        "did_caption": "Écart QPV − reste chaque année et son évolution, en points ; l'écart-type combine les quatre "
        "estimations avec leur covariance conjointe.",
        "trend": "Tendance",
        "trend_caption": "Pente en points par an, par moindres carrés généralisés sur les estimations annuelles et "
        "leur covariance ; défaut d'ajustement : test du khi-deux d'une droite.",
        "territories": "Territoires dont le recours a le plus évolué",
        "territories_caption": "Plus fortes évolutions entre les deux dernières années parmi les territoires ayant "
        "assez de répondants éligibles les deux années ; à ce niveau les intervalles sont larges.",
        "h_right": "Droit",
        "h_domain": "Domaine",
        "h_years": "Années",
        "h_from": "De",
        "h_to": "À",
        "h_change": "Évolution",
        "h_ci": "IC (pts)",
        "h_se": "ET",
        "h_se_ind": "ET si indépendants",
        "h_p": "p-valeur",
        "h_gap1": "Écart, début",
        "h_gap2": "Écart, fin",
        "h_did": "Évolution nette",
        "h_slope": "Pente par an",
        "h_lof": "Défaut d'ajustement p",
        "h_territory": "Territoire",
        "none": "Pas de tableau de suivi : cette exécution n'a pas d'exécution antérieure.",
        "persistence": "Non-recours persistant et transitoire",
        "persistence_caption": "Parmi les allocataires des deux échantillons éligibles les deux années ({years}) : "
        "part sans recours les deux années (persistant), une seule (transitoire), au moins une ; entrées (recours "
        "la première année, pas la seconde) et sorties (l'inverse). Part en pourcentage avec son écart-type en "
        "points (linéarisation conjointe sur le plan de l'échantillon le plus récent).",
        "h_persistent": "Persistant",
        "h_transient": "Transitoire",
        "h_either": "Au moins une année",
        "h_entries": "Entrées",
        "h_exits": "Sorties",
    },
}

SCHEMES = {
    "en": {"panel": "in a panel", "rotating": "rotating", "independent": "independent"},
    "fr": {"panel": "en panel", "rotating": "rotatifs", "independent": "indépendants"},
}


def _table(rows: list[list[str]], header: list[str], caption: str, numeric_from: int = 2) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"num" if i >= numeric_from else "txt"}">{esc(c)}</td>' for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _domain_label(value: Any, col: str | None, t: dict) -> str:
    if col is None:
        return t["all"]
    if col == "is_qpv":
        return t["qpv"] if str(value) in ("1", "1.0", "True") else t["rest"]
    return f"{col} = {value}"


def series_plot(yearly: pd.DataFrame, right: str, by: str | None, lang: str) -> bytes:
    """Yearly estimates of one right with their intervals, one line per domain (QPV vs rest)."""
    from matplotlib.figure import Figure

    from .plots import QPV_COLOURS, _ticks, png_bytes

    t = TEXT[lang]
    fig = Figure(figsize=(4.2, 2.8))
    ax = fig.add_subplot(1, 1, 1)
    d = yearly[yearly["right"] == right]
    groups = [(None, d)] if by is None else list(d.groupby(d[by].astype(str), sort=True))
    for i, (level, g) in enumerate(groups):  # one line per domain (two for QPV vs rest)
        label = _domain_label(level, by, t)
        colour = QPV_COLOURS["qpv" if label == t["qpv"] else "rest"] if by == "is_qpv" else None
        x = g["year"].to_numpy(dtype=float) + (i - (len(groups) - 1) / 2) * 0.06
        y = 100 * g["estimate"].to_numpy(dtype=float)
        err = np.vstack([y - 100 * g["ci_low"].to_numpy(dtype=float), 100 * g["ci_high"].to_numpy(dtype=float) - y])
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label, color=colour)
    ax.set_xticks(sorted(d["year"].unique()))
    ax.set_ylabel("%")
    _ticks(ax, lang, "y")  # decimal commas in French
    ax.set_title(t["plot_title"].format(right=RIGHTS.get(right, right.upper())))
    if by is not None:
        ax.legend(frameon=False, fontsize=8)
    return png_bytes(fig)


def render(tables: Mapping[str, pd.DataFrame], lang: str = "fr", *, scheme: str = "panel") -> str:
    """HTML fragment of the follow-up section.

    Parameters
    ----------
    tables : mapping
        ``follow_up_yearly``, ``follow_up_changes``, ``follow_up_trend`` and, when present,
        ``follow_up_did`` and ``follow_up_territories`` (as written by the study).
    lang : {"fr", "en"}
    scheme : {"panel", "rotating", "independent"}
        How the runs' samples relate (named in the introduction).

    Returns
    -------
    str
    """
    from ._format import img

    if lang not in TEXT:
        raise ValueError(f"lang must be 'fr' or 'en', not {lang!r}")
    t = TEXT[lang]
    yearly = tables.get("follow_up_yearly")
    if yearly is None or len(yearly) == 0:
        return f'<section id="follow-up"><h2>{html.escape(t["title"])}</h2><p>{html.escape(t["none"])}</p></section>'
    std = {"year", "right", "n", "estimate", "se", "ci_low", "ci_high"}
    by_cols = [c for c in yearly.columns if c not in std]
    by = by_cols[0] if by_cols else None
    years = sorted(yearly["year"].unique())
    changes = tables.get("follow_up_changes", pd.DataFrame())
    out = [
        f'<section id="follow-up"><h2>{html.escape(t["title"])}</h2>',
        "<p>"
        + html.escape(t["intro"].format(years=f"{years[0]}–{years[-1]}", scheme=SCHEMES[lang].get(scheme, scheme)))
        + "</p>",
        f"<h3>{html.escape(t['plots'])}</h3>",
    ]
    for right in pd.unique(yearly["right"]):  # one figure per right
        out.append(img(series_plot(yearly, str(right), by, lang), t["plot_title"].format(right=right)))
    if len(changes):
        rows = [
            [
                str(r["right"]),
                _domain_label(r[by], by, t) if by else t["all"],
                f"{r['year_from']}–{r['year_to']}",
                pct(r["estimate_from"], lang),
                pct(r["estimate_to"], lang),
                pts(r["change"], lang),
                ci(r["ci_low"], r["ci_high"], lang, kind="change"),
                pts(r["se"], lang, 2, signed=False),
                pts(r["se_independent"], lang, 2, signed=False),
                pvalue(r["p_value"], lang),
            ]
            for _, r in changes.iterrows()
        ]
        out += [
            f"<h3>{html.escape(t['changes'])}</h3>",
            _table(
                rows,
                [
                    t["h_right"],
                    t["h_domain"],
                    t["h_years"],
                    t["h_from"],
                    t["h_to"],
                    t["h_change"],
                    t["h_ci"],
                    t["h_se"],
                    t["h_se_ind"],
                    t["h_p"],
                ],
                t["changes_caption"],
                numeric_from=3,
            ),
        ]
    did = tables.get("follow_up_did")
    if did is not None and len(did):
        rows = [
            [
                str(r["right"]),
                f"{r['year_from']}–{r['year_to']}",
                pts(r["gap_1"], lang),
                pts(r["gap_2"], lang),
                pts(r["did"], lang),
                ci(r["ci_low"], r["ci_high"], lang, kind="change"),
                pvalue(r["p_value"], lang),
            ]
            for _, r in did.iterrows()
        ]
        out += [
            f"<h3>{html.escape(t['did'])}</h3>",
            _table(
                rows,
                [t["h_right"], t["h_years"], t["h_gap1"], t["h_gap2"], t["h_did"], t["h_ci"], t["h_p"]],
                t["did_caption"],
            ),
        ]
    trend = tables.get("follow_up_trend")
    if trend is not None and len(trend):
        rows = [
            [
                str(r["right"]),
                _domain_label(r[by], by, t) if by else t["all"],
                str(r["years"]),
                pts(r["slope"], lang, 2),
                ci(r["ci_low"], r["ci_high"], lang, kind="change"),
                pvalue(r["p_value"], lang),
                pvalue(r["lack_of_fit_p"], lang),
            ]
            for _, r in trend.iterrows()
        ]
        out += [
            f"<h3>{html.escape(t['trend'])}</h3>",
            _table(
                rows,
                [t["h_right"], t["h_domain"], t["h_years"], t["h_slope"], t["h_ci"], t["h_p"], t["h_lof"]],
                t["trend_caption"],
                numeric_from=3,
            ),
        ]
    terr = tables.get("follow_up_territories")
    if terr is not None and len(terr):
        tcol = terr.columns[0]  # the territory column comes first
        rows = [
            [
                str(r[tcol]),
                str(r["right"]),
                f"{r['year_from']}–{r['year_to']}",
                pct(r["estimate_1"], lang),
                pct(r["estimate_2"], lang),
                pts(r["change"], lang),
                ci(r["ci_low"], r["ci_high"], lang, kind="change"),
            ]
            for _, r in terr.iterrows()
        ]
        out += [
            f"<h3>{html.escape(t['territories'])}</h3>",
            _table(
                rows,
                [t["h_territory"], t["h_right"], t["h_years"], t["h_from"], t["h_to"], t["h_change"], t["h_ci"]],
                t["territories_caption"],
                numeric_from=3,
            ),
        ]
    out += _persistence(tables.get("follow_up_persistence"), by, t, lang)
    out.append("</section>")
    return "\n".join(out)


def _persistence(table: pd.DataFrame | None, by: str | None, t: dict, lang: str) -> list[str]:
    """The persistence table: one row per right and domain (all, then the levels of ``by``), one column per
    indicator, each cell the share and its SE."""
    if table is None or len(table) == 0:
        return []
    from .format import DASH, is_missing

    inds = ("persistent", "transient", "either", "entries", "exits")
    col = by if by is not None and by in table.columns else None
    dom = table[col].astype(object).where(table[col].notna(), "") if col else pd.Series("", index=table.index)
    keyed = table.assign(_dom=dom.astype(str)).set_index(["right", "_dom", "indicator"])
    rows = []
    for right, d in pd.unique(pd.Series(list(zip(keyed.index.get_level_values(0), keyed.index.get_level_values(1))))):
        cells = []
        for ind in inds:  # five indicators per row
            if (right, d, ind) not in keyed.index or is_missing(keyed.loc[(right, d, ind), "estimate"]):
                cells.append(DASH)
                continue
            r = keyed.loc[(right, d, ind)]
            cells.append(f"{pct(r['estimate'], lang)} ({pts(r['se'], lang, 1, signed=False)})")
        label = t["all"] if d == "" else _domain_label(d, col, t)
        rows.append([str(right), label, *cells])
    years = f"{table['year_from'].iloc[0]}–{table['year_to'].iloc[0]}"
    return [
        f"<h3>{html.escape(t['persistence'])}</h3>",
        _table(
            rows,
            [t["h_right"], t["h_domain"], *(t[f"h_{i}"] for i in inds)],
            t["persistence_caption"].format(years=years),
        ),
    ]
