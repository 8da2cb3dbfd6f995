"""Report section "Territories: maps and finder" (issue 20), in English and French.

``render(tables, lang, contours=..., territories=...)`` returns an HTML
fragment with

* a map per right of the small-area estimates (or the direct estimates when
  the small-area phase did not run), of the administrative rates
  (``admin_rates``) and of the change between years
  (``follow_up_territories``) when the run has them, drawn by
  :mod:`nonrecours.report.maps` and embedded as PNG, each in a ``figure``
  with a caption and a text alternative giving its range and counts;
* a "find my territory" box (code or name) and a card per territory with its
  direct and small-area estimates, intervals, administrative rate and flags
  for every right (data embedded as JSON, rendered by the page's script);
* the table of every territory, searchable and sortable in the page.

Display only: every number comes from the result tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._format import esc, img
from .format import DASH, ci, count, is_missing, pct, pts, sort_value
from .labels import Labels
from .labels import labels as make_labels

__all__ = ["TEXT", "render", "territory_records", "draw_maps", "MapKey"]

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Territories: maps and finder",
        "maps": "Maps",
        "finder": "Find my territory",
        "table": "Every territory",
        "intro": "Each map colours the QPVs and, as rings around them, the rest of their urban areas, over the "
        "outlines of the départements, with Paris and the petite couronne enlarged at the top left and "
        "the overseas départements on the left. Hatched "
        "territories have an unreliable value; grey crossed ones have none (suppressed or not "
        "estimated). The right panel shows the width of each confidence interval: darker is less "
        "precise.",
        "no_contours": "No QPV contours were given (territorial.contours): the maps are not drawn.",
        "no_maps_stack": "The maps need shapely and pyproj (pip install 'nonrecours[maps]'): not drawn.",
        "caption_sae": "Small-area (Fay–Herriot) estimate of take-up of {right} by territory, and the width of "
        "its confidence interval.",
        "caption_direct": "Direct estimate of take-up of {right} by territory, and the width of its interval.",
        "caption_admin_dep": "Administrative take-up rate of {right} by département (published cells; grey, crossed: "
        "suppressed or no recipient).",
        "caption_admin": "Administrative take-up rate of {right} by territory (published cells), and the width "
        "of its interval.",
        "caption_change": "Change of take-up of {right} between the last two years, for the territories that "
        "moved most, and the width of its interval.",
        "what_sae": "small-area estimate",
        "what_direct": "direct estimate",
        "what_admin": "administrative rate",
        "what_change": "change between years",
        "where": "France with the overseas départements",
        "finder_label": "Territory code or name",
        "finder_hint": "Type a code (e.g. {example}) to see its card and filter the table.",
        "search": "Search the table:",
        "shown": "{n} of {t} rows shown",
        "sort": "Sort by this column",
        "territory": "territory",
        "departement": "département",
        "type": "type",
        "qpv": "QPV",
        "rest": "rest",
        "sae": "small-area",
        "direct": "direct",
        "admin": "admin.",
        "flag": "flag",
        "table_caption": "Take-up by territory and right: small-area estimate, direct estimate (– without "
        "respondents; † unreliable, ‡ suppressed) and administrative rate when available. "
        "Search and sort in the page; the table prints in full.",
        "card_caption": "Estimates of every right for this territory",
        "none": "No territory table in this run.",
        "card_header": "right|direct|direct CI|small-area|small-area CI|admin. rate|flags",
        "card_where": "Département {dep}, {type}.",
        "flag_unreliable": "direct unreliable",
        "flag_suppressed": "direct suppressed",
        "flag_synthetic": "model only (no respondent)",
        "flag_model": "small-area estimate shown (model-based, not a count)",
        "flag_admin": "admin. suppressed",
    },
    "fr": {
        "title": "Territoires : cartes et recherche",
        "maps": "Cartes",
        "finder": "Trouver mon territoire",
        "table": "Tous les territoires",
        "intro": "Chaque carte colore les QPV et, en anneaux autour d’eux, le reste de leurs unités urbaines, sur "
        "les contours des départements, avec Paris et la petite couronne agrandis en haut à gauche et les "
        "départements d’outre-mer à gauche. Les "
        "territoires hachurés ont une valeur peu fiable ; les gris croisés n’en ont pas (masquée ou non "
        "estimée). Le panneau de droite montre la largeur de chaque intervalle de confiance : plus "
        "foncé, moins précis.",
        "no_contours": "Aucun contour de QPV n’a été fourni (territorial.contours) : les cartes ne sont pas dessinées.",
        "no_maps_stack": "Les cartes demandent shapely et pyproj (pip install 'nonrecours[maps]') : non dessinées.",
        "caption_sae": "Estimation sur petits domaines (Fay–Herriot) du taux de recours à {right} par territoire, "
        "et largeur de son intervalle de confiance.",
        "caption_direct": "Estimation directe du taux de recours à {right} par territoire, et largeur de son "
        "intervalle.",
        "caption_admin_dep": "Taux de recours administratif à {right} par département (cellules publiées ; gris "
        "croisé : masqué ou sans allocataire).",
        "caption_admin": "Taux de recours administratif à {right} par territoire (cellules publiées), et largeur "
        "de son intervalle.",
        "caption_change": "Évolution du recours à {right} entre les deux dernières années, pour les territoires "
        "qui ont le plus varié, et largeur de son intervalle.",
        "what_sae": "estimation sur petits domaines",
        "what_direct": "estimation directe",
        "what_admin": "taux administratif",
        "what_change": "évolution entre années",
        "where": "France avec les départements d’outre-mer",
        "finder_label": "Code ou nom du territoire",
        "finder_hint": "Tapez un code (par exemple {example}) pour voir sa fiche et filtrer le tableau.",
        "search": "Rechercher dans le tableau :",
        "shown": "{n} ligne(s) affichée(s) sur {t}",
        "sort": "Trier selon cette colonne",
        "territory": "territoire",
        "departement": "département",
        "type": "type",
        "qpv": "QPV",
        "rest": "hors QPV",
        "sae": "petits domaines",
        "direct": "direct",
        "admin": "admin.",
        "flag": "indicateur",
        "table_caption": "Recours par territoire et par droit : estimation sur petits domaines, estimation directe "
        "(– sans répondant ; † peu fiable, ‡ masquée) et taux administratif s’il existe. "
        "Recherche et tri dans la page ; le tableau s’imprime en entier.",
        "card_caption": "Estimations de chaque droit pour ce territoire",
        "none": "Aucune table par territoire dans cette étude.",
        "card_header": "droit|direct|IC direct|petits domaines|IC petits domaines|taux admin.|indicateurs",
        "card_where": "Département {dep}, {type}.",
        "flag_unreliable": "direct peu fiable",
        "flag_suppressed": "direct masqué",
        "flag_synthetic": "modèle seul (aucun répondant)",
        "flag_model": "estimation sur petit domaine affichée (issue d'un modèle, pas d'un comptage)",
        "flag_admin": "admin. masqué",
    },
}

_MARK = {"unreliable": " †", "suppressed": " ‡"}


def _text(lang: str) -> Mapping[str, str]:
    if lang not in TEXT:
        from ..errors import OptionError, message

        raise OptionError(
            message("unknown report language", where="parameter lang", expected="fr or en", found=repr(lang))
        )
    return TEXT[lang]


def _wide(tables: Mapping[str, pd.DataFrame], rights: list[str]) -> pd.DataFrame:
    """One row per territory x right with every value the card shows (no computation: a join)."""
    sae = tables.get("sae")
    direct = tables.get("estimates_territory")
    admin = tables.get("admin_rates")
    frames = []
    if sae is not None:
        frames.append(
            sae[["territory", "right", "eblup", "ci_low", "ci_high"]].rename(
                columns={"ci_low": "sae_low", "ci_high": "sae_high"}
            )
        )
    if direct is not None and "territory" in direct.columns:
        frames.append(
            direct[["territory", "right", "estimate", "ci_low", "ci_high", "flag"]].rename(
                columns={"estimate": "direct", "ci_low": "direct_low", "ci_high": "direct_high"}
            )
        )
    if admin is not None:
        rate = "rate_adjusted" if "rate_adjusted" in admin.columns else "rate"
        cols = ["territory", "right", rate, "status"] + (["departement"] if "departement" in admin.columns else [])
        frames.append(admin[[c for c in cols if c in admin.columns]].rename(columns={rate: "admin"}))
    if not frames:
        return pd.DataFrame(columns=["territory", "right"])
    out = frames[0].astype({"territory": str})
    for f in frames[1:]:
        out = out.merge(f.astype({"territory": str}), on=["territory", "right"], how="outer")
    out = out[out["right"].isin(rights)] if rights else out
    return out.sort_values(["territory", "right"], kind="stable").reset_index(drop=True)


def territory_records(
    tables: Mapping[str, pd.DataFrame],
    lang: str,
    *,
    rights: list[str],
    territories: pd.DataFrame | None = None,
    labels: Labels | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """The wide table (one row per territory) and the cards' records (JSON-ready, formatted for ``lang``).

    The département and type of a territory come from ``territories`` (the territories file), else from the
    administrative table; rights are named by ``labels`` (the defaults of ``lang`` unless given).
    """
    tx = _text(lang)
    lab = labels or make_labels(lang)
    long = _wide(tables, rights)
    info = pd.DataFrame({"territory": pd.unique(long["territory"])})
    if territories is not None and "territory" in territories.columns:
        keep = [c for c in ("territory", "departement", "is_qpv", "name") if c in territories.columns]
        info = info.merge(
            territories[keep].astype({"territory": str}).drop_duplicates("territory"), on="territory", how="left"
        )
    for c in ("departement", "is_qpv", "name"):
        if c not in info.columns:
            info[c] = np.nan
    if "departement" in long.columns:
        dep = long.dropna(subset=["departement"]).drop_duplicates("territory").set_index("territory")["departement"]
        known = info["departement"].astype(object)  # an all-missing float column, or text: one dtype to fill
        info["departement"] = known.where(known.notna(), info["territory"].map(dep).astype(object))
    info["type"] = np.where(
        pd.to_numeric(info["is_qpv"], errors="coerce") == 1,
        lab.level("is_qpv", 1),
        np.where(info["is_qpv"].isna(), "–", lab.level("is_qpv", 0)),
    )
    records = []
    by_t: dict[Any, list] = {}
    for r in long.itertuples(index=False):  # rows grouped in one pass (in their territory x right order)
        by_t.setdefault(r.territory, []).append(r)
    for row in info.itertuples(index=False):  # one card per territory: formatting, not a statistic
        rows = []
        for r in by_t.get(row.territory, []):
            flags = []
            f = str(getattr(r, "flag", ""))
            if f in ("unreliable", "suppressed"):
                flags.append(tx[f"flag_{f}"])
            if f == "suppressed" and not is_missing(getattr(r, "eblup", np.nan)):
                flags.append(tx["flag_model"])  # what the card shows instead: the model's, not the sample's
            if (
                f != "suppressed"
                and is_missing(getattr(r, "direct", np.nan))
                and not is_missing(getattr(r, "eblup", np.nan))
            ):
                flags.append(tx["flag_synthetic"])
            st = getattr(r, "status", None)
            if isinstance(st, str) and st != "published":
                flags.append(tx["flag_admin"])
            rows.append(
                [
                    lab.right(r.right),
                    pct(getattr(r, "direct", np.nan), lang),
                    ci(getattr(r, "direct_low", np.nan), getattr(r, "direct_high", np.nan), lang),
                    pct(getattr(r, "eblup", np.nan), lang),
                    ci(getattr(r, "sae_low", np.nan), getattr(r, "sae_high", np.nan), lang),
                    pct(getattr(r, "admin", np.nan), lang),
                    ", ".join(flags) or DASH,
                ]
            )
        dep = "–" if is_missing(row.departement) else str(row.departement)
        where = "" if dep == "–" and row.type == "–" else tx["card_where"].format(dep=dep, type=row.type)
        rec = {"code": row.territory, "where": where, "rows": rows}
        if not is_missing(row.name):
            rec["name"] = str(row.name)
        records.append(rec)
    # one département column: the one of ``info`` (territories file, else the admin table's), not two merged
    return long.drop(columns=["departement"], errors="ignore").merge(info, on="territory", how="left"), records


#: A map's key besides its values: kind, right, level (``territory`` or ``departement``: its shapes), the CV
#: above which it hatches (``None`` for the département maps) and the language.
MapKey = tuple[str, str, str, float | None, str]


def _map_jobs(tables: Mapping[str, pd.DataFrame], rights: list[str], max_cv: float) -> list[dict]:
    """The maps of ``tables``, in the report's order: :func:`~nonrecours.report.maps.choropleth`'s arguments but
    the shapes (``level`` says which) and the language."""
    from . import maps

    jobs: list[dict] = []
    kinds = [
        ("sae", "sae") if "sae" in tables else ("direct", "estimates_territory"),
        ("admin", "admin_rates"),
        ("change", "follow_up_territories"),
    ]
    for kind, name in kinds:
        table = tables.get(name)
        if table is None or "territory" not in table.columns:
            continue
        for right in rights:
            if not (table["right"].astype(str) == right).any():
                continue
            values = maps.map_values(table, kind, right, max_cv=max_cv)
            jobs.append({"values": values, "level": "territory", "kind": kind, "right": right, "max_cv": max_cv})
    deps = tables.get("admin_departements")
    if deps is not None and {"departement", "right", "rate"} <= set(deps.columns):
        for right in rights:
            if not (deps["right"].astype(str) == right).any():
                continue
            values = maps.map_values(deps, "admin", right, territory="departement")
            jobs.append({"values": values, "level": "departement", "kind": "admin", "right": right, "width": False})
    return jobs


def _key(job: dict, lang: str) -> MapKey:
    return (job["kind"], job["right"], job["level"], job.get("max_cv"), lang)


def _draw(
    jobs: list[dict], lang: str, contours: Any, territories: pd.DataFrame | None, shapes: dict | None = None
) -> list[bytes]:
    """The maps of ``jobs`` (:func:`_map_jobs`) drawn on their shapes (``shapes`` by level: those read already)."""
    from . import maps

    shapes = dict(shapes or {})
    for level in dict.fromkeys(j["level"] for j in jobs):
        if level not in shapes:
            shapes[level] = (
                maps.territory_shapes(contours, territories) if level == "territory" else maps.departement_shapes()
            )
    return maps.choropleths(  # drawn in parallel where the platform forks: the same bytes
        [{k: v for k, v in j.items() if k != "level"} | {"shapes": shapes[j["level"]]} for j in jobs], lang=lang
    )


def draw_maps(
    tables: Mapping[str, pd.DataFrame],
    lang: str,
    *,
    rights: list[str],
    contours: Any,
    territories: pd.DataFrame | None = None,
    max_cv: float = 0.3,
) -> list[tuple[MapKey, pd.DataFrame, bytes]]:
    """The maps :func:`render` draws from ``tables`` (some of a run's tables, those final already), drawn now.

    A study draws them on a forked process as soon as the stage that writes their tables has run
    (:func:`nonrecours.study.pipeline.run_study`), while the next stages run; :func:`render` takes them
    (``drawn``) for the maps of the same key and values. Each map: its key, its values
    (:func:`~nonrecours.report.maps.map_values`) and its PNG; none without contours.
    """
    if contours is None:
        return []
    jobs = _map_jobs(tables, rights, max_cv)
    pngs = _draw(jobs, lang, contours, territories)
    return [(_key(j, lang), j["values"], png) for j, png in zip(jobs, pngs)]


def _maps(
    tables: Mapping[str, pd.DataFrame],
    lang: str,
    rights: list[str],
    contours: Any,
    territories: pd.DataFrame | None,
    max_cv: float,
    lab: Labels,
    drawn: Iterable[tuple[MapKey, pd.DataFrame, bytes]] = (),
) -> str:
    tx = _text(lang)
    if contours is None:
        return f'<p class="missing">{esc(tx["no_contours"])}</p>'
    drawn = list(drawn)
    shapes = {}
    try:
        from . import maps

        if not drawn:  # (maps drawn already: their shapes were read without error; read here only if need be)
            shapes["territory"] = maps.territory_shapes(contours, territories)
    except ImportError:
        return f'<p class="missing">{esc(tx["no_maps_stack"])}</p>'
    jobs = _map_jobs(tables, rights, max_cv)
    captions: list[tuple[str, str]] = []  # the maps' alternative texts and captions
    for job in jobs:
        kind, right, s = job["kind"], job["right"], maps.map_summary(job["values"])
        if job["level"] == "territory":
            ulabel = maps.TEXT[lang]["unreliable"][kind].format(cv=pct(max_cv, lang, 0))
            fmt = (lambda x: pts(x, lang)) if kind == "change" else (lambda x: pct(x, lang))
            alt = maps.TEXT[lang]["alt"].format(
                what=tx[f"what_{kind}"],
                right=lab.right(right),
                where=tx["where"],
                n=count(s["n"], lang),
                lo=fmt(s["lo"]),
                hi=fmt(s["hi"]),
                u=count(s["u"], lang),
                ulabel=ulabel,
                s=count(s["s"], lang),
            )
            captions.append((alt, tx["caption_" + kind].format(right=lab.right(right))))
        else:
            alt = maps.TEXT[lang]["alt_dep"].format(
                what=tx["what_admin"],
                right=lab.right(right),
                n=count(s["n"], lang),
                lo=pct(s["lo"], lang),
                hi=pct(s["hi"], lang),
                s=count(s["s"], lang),
            )
            captions.append((alt, tx["caption_admin_dep"].format(right=lab.right(right))))
    pngs = [_drawn(drawn, _key(job, lang), job["values"]) for job in jobs]  # a map drawn already: the same bytes
    fresh = iter(_draw([j for j, png in zip(jobs, pngs) if png is None], lang, contours, territories, shapes))
    return "".join(
        f"<figure>{img(png if png is not None else next(fresh), alt)}<figcaption>{esc(caption)}</figcaption></figure>"
        for png, (alt, caption) in zip(pngs, captions)
    )


def _drawn(drawn: list[tuple[MapKey, pd.DataFrame, bytes]], key: MapKey, values: pd.DataFrame) -> bytes | None:
    """The PNG of a map drawn already with this key and these values (the same columns, dtypes and rows), if any:
    drawing is deterministic, so its bytes are those the map would have here."""
    for k, v, png in drawn:
        if k == key and v.columns.equals(values.columns) and (v.dtypes == values.dtypes).all() and v.equals(values):
            return png
    return None


def render(
    tables: Mapping[str, pd.DataFrame],
    lang: str = "fr",
    *,
    rights: list[str] | None = None,
    contours: Any = None,
    territories: pd.DataFrame | None = None,
    max_cv: float = 0.3,
    labels: Labels | None = None,
    drawn: Iterable[tuple[MapKey, pd.DataFrame, bytes]] = (),
) -> str:
    """The section's HTML fragment (without its ``<h2>``, which the report adds).

    Parameters
    ----------
    tables : mapping of str to DataFrame
        The run's tables: ``sae``, ``estimates_territory``, and when present
        ``admin_rates`` and ``follow_up_territories``.
    lang : {'fr', 'en'}
    rights : list of str, optional
        Rights in order (default: those of the tables).
    contours : path or GeoJSON text, optional
        QPV contours (see :func:`nonrecours.report.maps.read_contours`).
    territories : DataFrame, optional
        The territories file (``territory``, ``departement``, ``is_qpv``,
        ``urban_area``, optional ``name``).
    max_cv : float
        Small-area estimates with a larger CV are hatched on the maps.
    labels : Labels, optional
        Names of the rights and of the territory types (:func:`nonrecours.report.labels.labels`).
    drawn : iterable, optional
        Maps drawn already (:func:`draw_maps`, e.g. on a forked process while the study ran): a map of the same
        key and values is taken from there instead of drawn again (the same bytes).

    Examples
    --------
    >>> "No territory table" in render({}, "en")
    True
    """
    tx = _text(lang)
    if rights is None:
        rights = (
            [str(r) for r in pd.unique(pd.concat([t["right"] for t in tables.values() if "right" in t.columns]))]
            if tables
            else []
        )
    lab = labels or make_labels(lang)
    long, records = territory_records(tables, lang, rights=rights, territories=territories, labels=lab)
    if long.empty:
        return f'<p class="missing">{esc(tx["none"])}</p>'
    parts = [
        f"<h3>{esc(tx['maps'])}</h3><p>{esc(tx['intro'])}</p>",
        _maps(tables, lang, rights, contours, territories, max_cv, lab, drawn),
    ]
    example = records[0]["code"] if records else ""
    options = "".join(f'<option value="{esc(r["code"])}">' for r in records)
    parts.append(
        f'<div class="nr-finder"><h3 id="nr-finder-title">{esc(tx["finder"])}</h3>'
        f'<label for="nr-find">{esc(tx["finder_label"])}</label> '
        f'<input type="search" id="nr-find" list="nr-codes" autocomplete="off" '
        f'aria-describedby="nr-find-hint"><datalist id="nr-codes">{options}</datalist>'
        f'<p id="nr-find-hint" class="note">{esc(tx["finder_hint"].format(example=example))}</p>'
        f'<div id="nr-card" class="nr-card" aria-live="polite" hidden></div></div>'
    )
    has = {c: c in long.columns for c in ("eblup", "direct", "admin")}
    head = [tx["territory"], tx["departement"], tx["type"]]
    for r in rights:
        head += [f"{lab.right(r)} {tx[k]}" for k in ("sae", "direct", "admin") if has[{"sae": "eblup"}.get(k, k)]]
    wide_rows = []
    groups: dict[Any, dict] = {}
    for row in long.to_dict("records"):  # rows grouped in one pass: a territory's rows by right
        groups.setdefault(row["territory"], {}).setdefault(row["right"], row)
    for t in sorted(k for k in groups if not is_missing(k)):
        g = groups[t]
        first = next(iter(g.values()))
        cells = [
            f'<th scope="row">{esc(t)}</th>',
            f"<td>{esc('–' if is_missing(first.get('departement')) else first.get('departement'))}</td>",
            f"<td>{esc(first.get('type', '–'))}</td>",
        ]
        for r in rights:
            rec = g.get(r)
            for _k, col in (("sae", "eblup"), ("direct", "direct"), ("admin", "admin")):
                if not has[col]:
                    continue
                v = np.nan if rec is None else rec.get(col, np.nan)
                mark = _MARK.get(str(rec.get("flag")), "") if (rec is not None and col == "direct") else ""
                cells.append(f'<td class="num" data-v="{sort_value(v)}">{esc(pct(v, lang) + mark)}</td>')
        wide_rows.append(f'<tr data-search="{esc(t)} {esc(first.get("departement", ""))}">{"".join(cells)}</tr>')
    ths = "".join(f'<th scope="col">{esc(h)}</th>' for h in head)
    parts.append(
        f'<h3>{esc(tx["table"])}</h3><div class="nr-scroll">'
        '<table id="nr-territories" class="wide" data-explore>'
        f"<caption>{esc(tx['table_caption'])}</caption><thead><tr>{ths}</tr></thead>"
        f"<tbody>{''.join(wide_rows)}</tbody></table></div>"
    )
    data = {"territories": records, "caption": tx["card_caption"], "header": tx["card_header"].split("|")}
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="nr-territory-data">{payload}</script>')
    return "".join(parts)


def script(lang: str) -> str:
    """The page's script with its strings in ``lang`` (see :mod:`nonrecours.report.explore`)."""
    from .explore import MIN_ROWS, SCRIPT

    tx = _text(lang)
    strings = json.dumps({"search": tx["search"], "shown": tx["shown"], "sort": tx["sort"]}, ensure_ascii=False)
    return SCRIPT % {"min_rows": MIN_ROWS, "text": strings}
