"""Choropleth maps of territory values over the QPV contours (static images, no network).

A map shows, for one right, a value per territory — the small-area estimate
(``sae.csv``), the direct estimate, the administrative rate
(``admin_rates.csv``) or the change between two years
(``follow_up_territories.csv``) — in two panels: the value on a colour-blind
safe sequential scale (cividis; a diverging purple–orange scale centred on 0
for a change), and the width of its confidence interval (greys: darker is
less precise). Territories whose value is unreliable are hatched ``///``,
suppressed ones are grey and cross-hatched.

Geometry comes from the QPV contours as GeoJSON (the layout of
``nonrecours.admin``: a FeatureCollection of Polygon/MultiPolygon features
with properties ``code_qp`` and ``departement``; coordinates in WGS84 as RFC
7946 says, or in the CRS named by a legacy ``crs`` member, e.g. Lambert-93).
A feature with a ``territory`` property is drawn for that territory as it is.
The rest of a QPV's urban area (a non-QPV territory with the same
``urban_area`` in the territories table) has no contour of its own: it is
drawn as a schematic ring around its QPV (out to two QPV radii).

The territories are drawn over the outlines of the départements (the
shipped base map of :mod:`nonrecours.geography.basemap`, or outlines given by the
caller). Mainland France is drawn in Lambert-93 (EPSG:2154), with Paris and
the petite couronne (75, 92, 93, 94) enlarged in an inset at its top left; the
overseas départements 971–976 in their own metric projections, in insets
stacked on the left as on INSEE and IGN maps, each at its own scale. A map of
one département frames it with its neighbours, named.

Display only: values are read from the result tables; the one derived
quantity is the display state of a small-area estimate (hatched when it has
no direct estimate behind it or its coefficient of variation, rmse /
estimate, exceeds ``max_cv``).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, OptionError, message
from ..geography.basemap import PARIS_INSET
from ..options import MapFormat, MapKind, check_option
from . import format as numfmt
from .labels import RIGHTS

__all__ = [
    "Shapes",
    "read_contours",
    "read_outlines",
    "territory_shapes",
    "departement_shapes",
    "map_values",
    "choropleth",
    "choropleths",
    "OVERSEAS",
    "METRO_CRS",
    "TEXT",
    "VALUE_FILES",
    "map_summary",
]

METRO_CRS = "EPSG:2154"
#: Overseas départements: name and metric projection, in the order of the insets (top to bottom).
OVERSEAS = {
    "971": ("Guadeloupe", "EPSG:5490"),
    "972": ("Martinique", "EPSG:5490"),
    "973": ("Guyane", "EPSG:2972"),
    "974": ("La Réunion", "EPSG:2975"),
    "976": ("Mayotte", "EPSG:4471"),
}
#: Result file of each kind of map in a run's results folder.
VALUE_FILES = {
    "sae": "sae.csv",
    "direct": "estimates_territory.csv",
    "admin": "admin_rates.csv",
    "change": "follow_up_territories.csv",
}

TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "sae": "Small-area estimate of take-up",
        "direct": "Direct estimate of take-up",
        "admin": "Administrative take-up rate",
        "change": "Change of take-up (points)",
        "width": "Width of the confidence interval (points)",
        "unreliable": {
            "sae": "hatched: no direct estimate or CV > {cv}",
            "direct": "hatched: unreliable",
            "admin": "hatched: unreliable",
            "change": "hatched: interval contains 0",
        },
        "suppressed": "grey, crossed: suppressed or not estimated",
        "france": "Mainland France",
        "departement": "Département {d}",
        "empty": "no territory",
        "paris": "Paris and petite couronne",
        "alt": "Map of the {what} for {right} by territory ({where}): {n} territories with a value, from {lo} to "
        "{hi}; {u} hatched ({ulabel}); {s} suppressed or not estimated. A second panel shows the width of "
        "each interval.",
        "all": "France with the overseas départements",
        "alt_dep": "Map of the {what} for {right} by département: {n} départements with a value, from {lo} to {hi}; "
        "{s} suppressed or without a value.",
    },
    "fr": {
        "sae": "Estimation sur petits domaines du taux de recours",
        "direct": "Estimation directe du taux de recours",
        "admin": "Taux de recours administratif",
        "change": "Évolution du recours (points)",
        "width": "Largeur de l’intervalle de confiance (points)",
        "unreliable": {
            "sae": "hachuré : sans estimation directe ou CV > {cv}",
            "direct": "hachuré : peu fiable",
            "admin": "hachuré : peu fiable",
            "change": "hachuré : l’intervalle contient 0",
        },
        "suppressed": "gris croisé : masqué ou non estimé",
        "france": "France métropolitaine",
        "departement": "Département {d}",
        "empty": "aucun territoire",
        "paris": "Paris et petite couronne",
        "alt": "Carte de l’{what} de {right} par territoire ({where}) : {n} territoires avec une valeur, de {lo} à "
        "{hi} ; {u} hachurés ({ulabel}) ; {s} masqués ou non estimés. Un second panneau montre la largeur "
        "de chaque intervalle.",
        "all": "France avec les départements d’outre-mer",
        "alt_dep": "Carte du {what} de {right} par département : {n} départements avec une valeur, de {lo} à {hi} ; "
        "{s} masqués ou sans valeur.",
    },
}


@dataclass(frozen=True)
class Shapes:
    """Polygons of the territories, each in the metric projection of its frame.

    Attributes
    ----------
    table : DataFrame
        ``territory``, ``departement``, ``frame`` (``metro`` or an overseas
        département code) and ``geometry`` (shapely polygons, metres).
    """

    table: pd.DataFrame


def _lang(lang: str) -> dict:
    if lang not in TEXT:
        raise OptionError(
            message("unknown report language", where="lang", expected=" or ".join(TEXT), found=repr(lang))
        )
    return TEXT[lang]


def read_contours(source: str | os.PathLike, *, code_field: str = "code_qp") -> tuple[pd.DataFrame, str]:
    """Read QPV contours (GeoJSON file or text): a table ``territory``, ``departement``, ``geometry`` and its CRS.

    The CRS is WGS84 (RFC 7946) unless the file names another in a legacy
    ``crs`` member (``{"type": "name", "properties": {"name": "EPSG:2154"}}``).
    """
    import shapely

    text = (
        source
        if isinstance(source, str) and source.lstrip().startswith("{")
        else Path(source).read_text(encoding="utf-8")
    )
    try:
        data = json.loads(text)
        feats = data["features"]
        props = [f.get("properties") or {} for f in feats]
        codes = [str(p["territory"] if "territory" in p else p[code_field]) for p in props]
        deps = [str(p.get("departement", "")) for p in props]
        geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in feats]) if feats else np.array([])
        crs = str(((data.get("crs") or {}).get("properties") or {}).get("name", "EPSG:4326"))
    except (ValueError, KeyError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
        raise InputError(
            message(
                "cannot read the QPV contours",
                where=f"contours {str(source)!r}",
                expected=f"a GeoJSON FeatureCollection whose features have a {code_field!r} (or 'territory') property",
                found=type(exc).__name__,
            )
        ) from None
    crs = crs.replace("urn:ogc:def:crs:EPSG::", "EPSG:").replace("urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4326")
    return pd.DataFrame({"territory": codes, "departement": deps, "geometry": list(geoms)}), crs


def read_outlines(source: str | os.PathLike, *, code_field: str = "code") -> pd.DataFrame:
    """Département outlines from a user file (GeoJSON), laid out as
    :func:`~nonrecours.geography.basemap.departements` returns them.

    Each feature's ``code_field`` property is a département code (``93``,
    ``2A``, ``971``; e.g. ``code`` or ``INSEE_DEP`` of IGN's ADMIN EXPRESS).
    Overseas départements are projected into their inset's projection, the
    others into Lambert-93; names are those of INSEE's COG (the code itself
    for a code outside the list).
    """
    from ..geography.basemap import departement_names

    table, crs = read_contours(source, code_field=code_field)
    code = table["territory"].astype(str)
    frame = np.where(code.isin(list(OVERSEAS)), code, "metro")
    geoms = np.empty(len(table), dtype=object)
    for f in pd.unique(frame):  # at most six projections
        m = frame == f
        geoms[m] = _project(
            np.asarray(list(table.loc[m, "geometry"]), dtype=object),
            crs,
            METRO_CRS if f == "metro" else OVERSEAS[str(f)][1],
        )
    names = departement_names().reindex(code).to_numpy()
    return pd.DataFrame(
        {
            "code": code.to_numpy(),
            "name": np.where(pd.isna(names), code.to_numpy(), names),
            "frame": frame,
            "crs": [METRO_CRS if f == "metro" else OVERSEAS[f][1] for f in frame],
            "geometry": list(geoms),
        }
    )


def _project(geoms: np.ndarray, source: str, target: str) -> np.ndarray:
    import shapely
    from pyproj import Transformer

    if source == target or len(geoms) == 0:
        return geoms
    t = Transformer.from_crs(str(source), str(target), always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def territory_shapes(
    contours: str | os.PathLike | tuple[pd.DataFrame, str], territories: pd.DataFrame | None = None
) -> Shapes:
    """Polygons of every territory drawn on a map.

    Parameters
    ----------
    contours : path, GeoJSON text, or the result of :func:`read_contours`
    territories : DataFrame, optional
        ``territory``, ``urban_area``, ``is_qpv`` (the territories file of a
        population): the rest of each QPV's urban area is drawn as a ring
        around the QPV. Without it only the contours are drawn.
    """
    import shapely

    table, crs = contours if isinstance(contours, tuple) else read_contours(contours)
    table = table.copy()
    table["frame"] = np.where(table["departement"].isin(list(OVERSEAS)), table["departement"], "metro")
    geoms = np.empty(len(table), dtype=object)
    for frame in pd.unique(table["frame"]):  # at most six projections
        m = (table["frame"] == frame).to_numpy()
        target = METRO_CRS if frame == "metro" else OVERSEAS[str(frame)][1]
        geoms[m] = _project(np.asarray(list(table.loc[m, "geometry"]), dtype=object), crs, target)
    table["geometry"] = list(geoms)
    if territories is not None and {"territory", "urban_area", "is_qpv"} <= set(territories.columns):
        t = territories[["territory", "urban_area", "is_qpv"]].astype({"territory": str, "urban_area": str})
        qpv = pd.to_numeric(t["is_qpv"], errors="coerce") == 1
        ua = pd.Series(t.loc[qpv, "urban_area"].to_numpy(), index=t.loc[qpv, "territory"].to_numpy())
        rest = t.loc[~qpv].drop_duplicates("urban_area").set_index("urban_area")["territory"]
        have = table[table["territory"].isin(ua.index)]
        rest_code = rest.reindex(ua.reindex(have["territory"]).to_numpy()).to_numpy()
        keep = pd.notna(rest_code) & ~pd.Series(rest_code).isin(table["territory"]).to_numpy()
        if keep.any():
            poly = np.asarray(list(have["geometry"]), dtype=object)[keep]
            radius = np.sqrt(shapely.area(poly) / np.pi)
            ring = shapely.difference(shapely.buffer(poly, radius, quad_segs=8), poly)
            table = pd.concat(
                [
                    pd.DataFrame(
                        {
                            "territory": rest_code[keep].astype(str),
                            "departement": have["departement"].to_numpy()[keep],
                            "frame": have["frame"].to_numpy()[keep],
                            "geometry": list(ring),
                        }
                    ),
                    table,
                ],
                ignore_index=True,
            )  # rings first: QPVs drawn over them
    return Shapes(table=table.reset_index(drop=True))


def departement_shapes(outlines: pd.DataFrame | None = None) -> Shapes:
    """The départements as the territories of a map (a département-level choropleth).

    ``territory`` and ``departement`` are the département's code; Paris and
    the petite couronne take the finer drawing of the inset when the outlines
    have one (frame ``paris``). ``outlines``: by default the shipped base map.
    """
    if outlines is None:
        from ..geography.basemap import departements

        outlines = departements()
    fine = outlines[outlines["frame"] == "paris"]
    keep = outlines[(outlines["frame"] != "paris") & ~outlines["code"].isin(fine["code"])]
    table = pd.concat([keep, fine.assign(frame="metro")], ignore_index=True)
    return Shapes(
        table=pd.DataFrame(
            {
                "territory": table["code"].astype(str),
                "departement": table["code"].astype(str),
                "frame": table["frame"].astype(str),
                "geometry": list(table["geometry"]),
            }
        )
    )


def map_values(
    table: pd.DataFrame, kind: str, right: str, *, max_cv: float = 0.3, territory: str = "territory"
) -> pd.DataFrame:
    """Value, interval and display state per territory for one right.

    Returns
    -------
    DataFrame
        ``territory``, ``value``, ``low``, ``high``, ``state`` (``ok``,
        ``unreliable`` or ``suppressed``).
    """
    kind = check_option("kind", kind, MapKind)
    cols = {
        "sae": ("eblup", "ci_low", "ci_high"),
        "direct": ("estimate", "ci_low", "ci_high"),
        "admin": ("rate", "ci_low", "ci_high"),
        "change": ("change", "ci_low", "ci_high"),
    }[kind]
    if kind == "admin" and "rate_adjusted" in table.columns:
        cols = ("rate_adjusted", *cols[1:])
    need = [territory, "right", cols[0]]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(
            message(
                f"the {kind} table lacks columns",
                where="RESULTS",
                expected=", ".join(need),
                found="missing " + ", ".join(missing),
                hint=f"give {VALUE_FILES[kind]} of a run",
            )
        )
    sub = table[table["right"].astype(str) == right]
    if sub.empty:
        raise InputError(
            message(
                "no row for this right",
                where="parameter right",
                expected="one of " + ", ".join(sorted(pd.unique(table["right"].astype(str)))),
                found=repr(right),
            )
        )

    def numeric_column(c: str) -> np.ndarray:  # NaN where the column is absent
        return pd.to_numeric(sub[c], errors="coerce").to_numpy(float) if c in sub.columns else np.full(len(sub), np.nan)

    value, low, high = numeric_column(cols[0]), numeric_column(cols[1]), numeric_column(cols[2])
    state = np.where(np.isfinite(value), "ok", "suppressed").astype(object)
    if kind == "sae":
        no_direct = ~np.isfinite(numeric_column("direct")) if "direct" in sub.columns else np.zeros(len(sub), bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = numeric_column("rmse") / value
        state[(state == "ok") & (no_direct | (cv > max_cv))] = "unreliable"
    elif kind in ("direct", "admin"):
        col = "flag" if "flag" in sub.columns else "status" if "status" in sub.columns else None
        if col is not None:
            f = sub[col].astype(str).to_numpy()
            state[(f == "unreliable") & (state == "ok")] = "unreliable"
            state[~np.isin(f, ["ok", "published", "unreliable"])] = "suppressed"
    else:
        state[(state == "ok") & (low <= 0) & (high >= 0)] = "unreliable"
    value = np.where(state == "suppressed", np.nan, value)
    return pd.DataFrame(
        {"territory": sub[territory].astype(str).to_numpy(), "value": value, "low": low, "high": high, "state": state}
    )


def map_summary(values: pd.DataFrame) -> dict:
    """Counts and range of a map's values (for its text alternative)."""
    v = values["value"].to_numpy(float)
    ok = np.isfinite(v)
    return {
        "n": int(ok.sum()),
        "lo": float(np.nanmin(v)) if ok.any() else float("nan"),
        "hi": float(np.nanmax(v)) if ok.any() else float("nan"),
        "u": int((values["state"] == "unreliable").sum()),
        "s": int((values["state"] == "suppressed").sum()),
    }


#: matplotlib Paths of the geometries already converted, by ``id`` of the geometry (kept beside it, so that the
#: id cannot be reused while the entry lives): every panel and every map of a report reuses the same projected
#: geometries, converted once.
_PATHS: dict[int, tuple[Any, Any]] = {}
_PATHS_MAX = 200_000


def _path(g):
    """The matplotlib Path of one shapely (multi)polygon, holes included (None when empty)."""
    import shapely
    from matplotlib.path import Path as MPath

    rings = [r for poly in shapely.get_parts(g) for r in (poly.exterior, *poly.interiors)]
    if not rings:
        return None
    verts = [np.asarray(r.coords) for r in rings]
    codes = np.full(sum(len(v) for v in verts), MPath.LINETO, dtype=np.uint8)
    start = np.cumsum([0] + [len(v) for v in verts[:-1]])
    codes[start] = MPath.MOVETO
    codes[start + [len(v) - 1 for v in verts]] = MPath.CLOSEPOLY
    return MPath(np.concatenate(verts), codes)


def _paths(geoms) -> list:
    """matplotlib Paths of shapely (multi)polygons, holes included; converted once per geometry object."""
    out = []
    for g in geoms:
        hit = _PATHS.get(id(g))
        if hit is None or hit[0] is not g:
            if len(_PATHS) >= _PATHS_MAX:
                _PATHS.clear()
            hit = (g, _path(g))
            _PATHS[id(g)] = hit
        out.append(hit[1])
    return out


def _draw(ax, states: np.ndarray, geometry: np.ndarray, values: np.ndarray, cmap, norm) -> list:
    """Territories on ``ax`` (their display states, geometries and values, aligned), one collection per
    display state; returns the collections."""
    from matplotlib.collections import PathCollection
    from matplotlib.path import Path as MPath

    added = []

    styles = {"ok": ("", None), "unreliable": ("////", None), "suppressed": ("xxx", "#d9d9d9")}
    for state, (hatch, face) in styles.items():
        m = states == state
        if not m.any():
            continue
        paths = _paths(geometry[m])
        keep = np.array([p is not None for p in paths], dtype=bool)
        drawn = [p for p in paths if p is not None]
        pc = PathCollection(drawn, edgecolor="#4d4d4d", linewidth=0.3)
        if face is None:
            pc.set_array(values[m][keep])
            pc.set_cmap(cmap)
            pc.set_norm(norm)
        else:
            pc.set_facecolor(face)
        ax.add_collection(pc, autolim=False)  # the axes are framed already
        added.append(pc)
        if hatch and drawn:
            hc = PathCollection(
                [MPath.make_compound_path(*drawn)], facecolor="none", edgecolor="#4d4d4d", linewidth=0.0, hatch=hatch
            )
            ax.add_collection(hc, autolim=False)
            added.append(hc)
    return added


def _draw_base(ax, outlines: pd.DataFrame, highlight: str | None = None, edgecolor: str = "#8c8c8c") -> None:
    """Département outlines, light grey, under the territories (``highlight``: a thicker border)."""
    from matplotlib.collections import PathCollection

    if outlines.empty:
        return
    paths = [p for p in _paths(outlines["geometry"]) if p is not None]
    ax.add_collection(PathCollection(paths, facecolor="#f2f2f2", edgecolor=edgecolor, linewidth=0.35, zorder=0))
    if highlight is not None:
        sel = outlines[outlines["code"] == highlight]
        paths = [p for p in _paths(sel["geometry"]) if p is not None]
        ax.add_collection(PathCollection(paths, facecolor="none", edgecolor="#262626", linewidth=0.9, zorder=3))


def _label_base(ax, outlines: pd.DataFrame, box) -> None:
    """Names of the départements whose label point falls inside ``box`` (x0, y0, x1, y1)."""
    import shapely

    if outlines.empty:
        return
    pts = shapely.point_on_surface(np.asarray(list(outlines["geometry"]), dtype=object))
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    inside = (x > box[0]) & (x < box[2]) & (y > box[1]) & (y < box[3])
    for xi, yi, code, name in zip(
        x[inside], y[inside], outlines["code"].to_numpy()[inside], outlines["name"].to_numpy()[inside]
    ):
        ax.text(
            xi,
            yi,
            f"{name} ({code})",
            fontsize=5,
            ha="center",
            va="center",
            color="#404040",
            zorder=4,
            clip_on=True,
            bbox={"facecolor": "white", "alpha": 0.6, "edgecolor": "none", "pad": 0.5},
        )


def _frame_axes(ax, data: pd.DataFrame, title: str | None, empty: str, extent=None) -> tuple | None:
    """Axes without ticks, framed on ``extent`` (x0, y0, x1, y1) or the data; returns the limits set."""
    import shapely

    ax.set_aspect("equal")
    ax.xaxis.set_visible(False)  # no ticks, no labels: nothing to lay out at each drawing
    ax.yaxis.set_visible(False)  # no grid: the maps' rc context has none (asking for none would create every tick)
    for s in ax.spines.values():
        s.set_visible(True)
        s.set_linewidth(0.5)
    limits = None
    if extent is not None or len(data):
        x0, y0, x1, y1 = (
            extent if extent is not None else shapely.total_bounds(np.asarray(list(data["geometry"]), dtype=object))
        )
        pad = 0.06 * max(x1 - x0, y1 - y0, 1.0)
        limits = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        ax.set_xlim(limits[0], limits[2])
        ax.set_ylim(limits[1], limits[3])
    if not len(data):
        ax.text(0.5, 0.5, empty, ha="center", va="center", fontsize=6, color="#666", transform=ax.transAxes)
    if title:
        ax.set_title(title, fontsize=7, pad=2)
    return limits


def _extent(*tables: pd.DataFrame):
    """Bounds (x0, y0, x1, y1) of the geometries of the tables, or None when they are all empty."""
    import shapely

    geoms = [g for t in tables for g in t["geometry"]]
    return tuple(shapely.total_bounds(np.asarray(geoms, dtype=object))) if geoms else None


def _zoom(outlines: pd.DataFrame, data: pd.DataFrame, code: str):
    """Frame of a département map: the département's outline and its territories, with a margin for its
    neighbours (0.4 times the larger side each way, at least 5 km)."""
    box = _extent(outlines[outlines["code"] == code], data)
    if box is None:
        return None
    m = max(0.4 * max(box[2] - box[0], box[3] - box[1]), 5_000.0)
    return (box[0] - m, box[1] - m, box[2] + m, box[3] + m)


def choropleth(
    values: pd.DataFrame,
    shapes: Shapes,
    *,
    kind: str,
    right: str,
    departement: str | None = None,
    lang: str = "en",
    fmt: str = "png",
    max_cv: float = 0.3,
    outlines: pd.DataFrame | None = None,
    width: bool = True,
) -> bytes:
    """Draw the map of one right's territory values; returns PNG or SVG bytes.

    Parameters
    ----------
    values : DataFrame
        :func:`map_values` output.
    shapes : Shapes
        :func:`territory_shapes` output.
    kind : {'sae', 'direct', 'admin', 'change'}
    right : str
        Shown in the title.
    departement : str, optional
        Frame one département with its neighbours, named; by default the
        whole country, with the Paris inset and the overseas départements in
        insets on the left.
    lang : {'en', 'fr'}
    fmt : {'png', 'svg'}
    outlines : DataFrame, optional
        Département outlines drawn under the territories: ``code``, ``name``,
        ``frame`` (``metro``, ``paris`` for the inset's own drawing, or an
        overseas code) and ``geometry`` in the frame's projection; by default
        the shipped base map (:func:`nonrecours.geography.basemap.departements`).
        An empty table draws none.
    width : bool
        Draw the second panel, the width of each interval (``False`` for
        values without an interval, e.g. administrative counts by département).

    Notes
    -----
    The figure's frame (axes, outlines, names, titles) is kept for the next
    maps of the same ``shapes`` and ``outlines`` objects (the last four
    frames), which only add their territories' colours: tables are taken as
    the values they are (a ``shapes`` or ``outlines`` changed in place is not
    seen; pass a new object). A map drawn on a kept frame has the bytes of the
    same map drawn on a new one. A PNG map draws only its territories and what lies over them on the
    frame's pixels, drawn once (see :func:`_underlay`).
    """
    from matplotlib import colors, rc_context
    from matplotlib.patches import Patch

    from .plots import STYLE

    kind = check_option("kind", kind, MapKind)
    fmt = check_option("format", fmt, MapFormat)
    tx = _lang(lang)
    given = outlines  # the skeletons of the figures are cached by the objects given (None: the shipped base map)
    if outlines is None:
        from ..geography.basemap import departements

        outlines = departements()
    missing = [c for c in ("code", "frame", "geometry") if c not in outlines.columns]
    if missing:
        raise InputError(
            message(
                "the département outlines lack columns",
                where="parameter outlines",
                expected="code, frame, geometry (and name)",
                found="missing " + ", ".join(missing),
            )
        )
    if "name" not in outlines.columns:
        outlines = outlines.assign(name=outlines["code"])
    outlines = outlines.astype({"code": str, "frame": str})
    geo = shapes.table.merge(values, on="territory", how="left")
    geo["state"] = geo["state"].fillna("suppressed")
    dframe = None
    if departement is not None:
        departement = str(departement)
        geo = geo[geo["departement"] == departement]
        known = outlines[(outlines["code"] == departement) & (outlines["frame"] != "paris")]
        if geo.empty and known.empty:
            raise InputError(
                message(
                    "no territory of this département in the contours, nor an outline",
                    where="parameter departement",
                    hint="give a département code present in the contours' 'departement' property",
                )
            )
        dframe = str(geo["frame"].iloc[0]) if len(geo) else str(known["frame"].iloc[0])
    geo = geo.assign(width=100.0 * (geo["high"] - geo["low"]))
    v = geo["value"].to_numpy(float)
    finite = v[np.isfinite(v)]
    norm: colors.Normalize
    if kind == "change":
        m = float(np.max(np.abs(finite))) if finite.size else 0.1
        m = max(np.ceil(100 * m / 5) * 5 / 100, 0.05)
        norm, cmap = colors.TwoSlopeNorm(0.0, -m, m), "PuOr"
    else:
        lo = np.floor(20 * finite.min()) / 20 if finite.size else 0.0
        hi = np.ceil(20 * finite.max()) / 20 if finite.size else 1.0
        norm, cmap = colors.Normalize(lo, max(hi, lo + 0.05)), "cividis"
    w = geo["width"].to_numpy(float)
    wnorm = colors.Normalize(0.0, float(np.ceil(np.nanmax(w) / 5) * 5) if np.isfinite(w).any() else 10.0)
    panels = [("value", cmap, norm, tx[kind])] + ([("width", "Greys", wnorm, tx["width"])] if width else [])
    key = (id(shapes), id(given), departement, width, lang)
    with _SKELETONS_LOCK, rc_context({**STYLE, "axes.grid": False}):
        hit = _SKELETONS.pop(key, None)
        if hit is None or hit[0] is not shapes or hit[1] is not given:
            hit = (shapes, given, _skeleton(geo, outlines, departement, width, tx, dframe))
        _SKELETONS[key] = hit  # most recent last
        while len(_SKELETONS) > _SKELETONS_MAX:
            _SKELETONS.pop(next(iter(_SKELETONS)))
        fig, axes, under = hit[2]
        added: list = []
        rows = {c: geo[c].to_numpy() for c in ("frame", "departement", "state", "geometry")}
        try:
            for p, (column, cm, nm, label) in enumerate(panels):
                x0 = 0.01 + 0.5 * p if width else 0.26
                shown = geo[column].to_numpy(float)
                for ax, pick in axes[p]:
                    m = pick(rows)
                    added += _draw(ax, rows["state"][m], rows["geometry"][m], shown[m], cm, nm)
                cax = fig.add_axes((x0 + 0.06, 0.14, 0.36, 0.025))
                added.append(cax)
                sm = __import__("matplotlib.cm", fromlist=["ScalarMappable"]).ScalarMappable(norm=nm, cmap=cm)
                cb = fig.colorbar(sm, cax=cax, orientation="horizontal")
                cb.set_label(label, fontsize=7)
                cb.ax.tick_params(labelsize=6)
                if column == "value" and kind != "change":
                    cb.ax.xaxis.set_major_formatter(lambda x, _pos: numfmt.decimal(100 * x, lang, 0))
                elif column == "value":
                    cb.ax.xaxis.set_major_formatter(lambda x, _pos: numfmt.decimal(100 * x, lang, 0, signed=True))
            fig.suptitle(f"{tx[kind]} — {RIGHTS.get(right, right.upper())}", fontsize=10, y=0.985)
            added.append(
                fig.legend(
                    handles=[
                        Patch(
                            facecolor="white",
                            edgecolor="#4d4d4d",
                            hatch="////",
                            label=tx["unreliable"][kind].format(cv=numfmt.pct(max_cv, lang, 0)),
                        ),
                        Patch(facecolor="#d9d9d9", edgecolor="#4d4d4d", hatch="xxx", label=tx["suppressed"]),
                    ],
                    loc="lower center",
                    ncol=2,
                    fontsize=6.5,
                    frameon=False,
                    bbox_to_anchor=(0.5, 0.0),
                )
            )
            if fmt == "svg":
                buf = io.BytesIO()
                fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
                return buf.getvalue()
            # the pixels, quantised straight from the canvas: no intermediate PNG
            return _palette_png(_compose(fig, under))
        finally:  # back to the skeleton: what this map added goes
            for artist in reversed(added):
                artist.remove()


def choropleths(maps: list[dict], *, lang: str = "en", workers: int | None = None) -> list[bytes]:
    """Draw several maps, on two processes where the platform forks; the bytes of :func:`choropleth`.

    Parameters
    ----------
    maps : list of dict
        The keyword arguments of :func:`choropleth` for each map (``values``, ``shapes``, ``kind``,
        ``right``...), in the order of the result.
    lang : {'en', 'fr'}
        Language of every map.
    workers : int, optional
        Processes drawing the maps; by default two when the 1-minute load average leaves a core free (below
        the usable cores minus one half), else one. One (or a platform without ``fork``, e.g. Windows):
        drawn here, one after the other.

    Returns
    -------
    list of bytes
        Each map's PNG, as :func:`choropleth` returns it. Rendering is deterministic (Agg, no
        timestamps), so the bytes do not depend on the process that drew them nor on the number of
        processes.

    Notes
    -----
    The workers are forked: they inherit the maps' tables instead of receiving them pickled. This process
    draws the first run of maps and each worker one of the next runs (contiguous), so that the maps of the
    same shapes share one figure skeleton (see :func:`choropleth`'s notes). Agg holds the GIL while it
    draws: threads would not run in parallel. The CPU time grows a little (each worker builds its own
    skeletons); the wall time of the maps falls on an idle 2-core machine.
    """
    import gc
    import multiprocessing

    from .._background import core_free

    maps = [{**m, "lang": lang} for m in maps]
    if workers is None:  # a second process only when a core is free: on a busy machine it adds CPU and wall time
        workers = 2 if core_free() else 1
    n = min(int(workers), len(maps))
    if n < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [choropleth(**m) for m in maps]
    # this process draws the first run of maps (its skeletons are warm); forked workers draw the others
    runs = [range(len(maps) * i // n, len(maps) * (i + 1) // n) for i in range(n)]
    with _JOBS_LOCK:
        _JOBS[:] = maps
        try:
            gc.freeze()  # the workers' collections leave the inherited objects alone: their pages are not copied
            try:
                pool = multiprocessing.get_context("fork").Pool(n - 1)
            finally:
                gc.unfreeze()
            with pool:
                others = [pool.map_async(_draw_run, [run]) for run in runs[1:]]
                first = [choropleth(**maps[i]) for i in runs[0]]
                return first + [png for result in others for png in result.get()[0]]
        finally:
            _JOBS.clear()


#: The maps being drawn by :func:`choropleths`' forked workers (inherited at the fork, never pickled).
_JOBS: list[dict] = []
_JOBS_LOCK = __import__("threading").Lock()


def _draw_run(run: range) -> list[bytes]:
    return [choropleth(**_JOBS[i]) for i in run]


#: Figures with their axes framed and the départements drawn (with the axes of each panel and the figure's
#: underlay, see :func:`_skeleton`), by (shapes, outlines, département, width, language): the maps of a report
#: (one per right and kind) differ only by the territories' colours.
_SKELETONS: dict[tuple, tuple] = {}
_SKELETONS_MAX = 4
_SKELETONS_LOCK = __import__("threading").Lock()


def _pick(frame: str | None, departements: tuple | None = None):
    """The rows of a table of values drawn in one axes: those of a frame (all: ``None``), of some départements.

    The function returned takes the table's columns as numpy arrays (``frame``, ``departement``) and gives a
    boolean mask: a map picks its rows for each of its axes, and pandas' filtering cost more than the drawing.
    """

    def pick(geo: dict[str, np.ndarray]) -> np.ndarray:
        keep = np.ones(len(geo["frame"]), dtype=bool) if frame is None else geo["frame"] == frame
        if departements is not None:
            keep &= np.isin(geo["departement"], list(departements))
        return keep

    return pick


def _skeleton(geo: pd.DataFrame, outlines: pd.DataFrame, departement: str | None, width: bool, tx: dict, dframe):
    """A map's figure without its values: axes framed, outlines drawn and named, titles.

    Returns the figure; per panel, the axes with the function that picks their territories' rows from the
    table of values (whose rows are those of the shapes, whatever the values); and its :func:`_underlay`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    overseas = departement is None
    fig = Figure(figsize=(9.0, 4.6 if overseas else 4.2))
    FigureCanvasAgg(fig)
    axes: list[list] = []
    for p in range(2 if width else 1):
        x0 = 0.01 + 0.5 * p if width else 0.26
        main = fig.add_axes((x0 + (0.09 if overseas else 0.0), 0.22, 0.40 if overseas else 0.48, 0.68))
        if overseas:
            mdata, base = geo[geo["frame"] == "metro"], outlines[outlines["frame"] == "metro"]
            _draw_base(main, base)
            _frame_axes(main, mdata, tx["france"], tx["empty"], extent=_extent(base, mdata))
            panel = [(main, _pick("metro"))]
            # Paris and the petite couronne, enlarged (top left of the mainland panel, over the Channel)
            ax = fig.add_axes((x0 + 0.09, 0.22 + 0.68 - 0.17, 0.11, 0.17))
            inset = outlines[outlines["frame"] == "paris"]
            d = mdata[mdata["departement"].isin(PARIS_INSET)]
            paris = inset if len(inset) else base[base["code"].isin(PARIS_INSET)]
            _draw_base(ax, paris)
            _frame_axes(ax, d, tx["paris"], tx["empty"], extent=_extent(paris))
            ax.set_facecolor("white")
            ax.set_gid("whole")  # drawn over the mainland's panel: drawn whole on every map (see _underlay)
            panel.append((ax, _pick("metro", PARIS_INSET)))
            for i, (code, (name, _)) in enumerate(OVERSEAS.items()):
                ax = fig.add_axes((x0, 0.22 + 0.136 * (4 - i), 0.08, 0.105))
                d, base = geo[geo["frame"] == code], outlines[outlines["frame"] == code]
                _draw_base(ax, base)
                _frame_axes(ax, d, name, tx["empty"], extent=_extent(base, d))
                panel.append((ax, _pick(code)))
        else:
            base = outlines[outlines["frame"] == dframe]
            detail = outlines[outlines["frame"] == "paris"]
            if departement in PARIS_INSET and dframe == "metro" and len(detail):  # the inset's finer drawing
                idf = base["code"].isin(detail["code"])
                _draw_base(main, base[idf], edgecolor="#f2f2f2")  # fills the seams with the coarser drawing
                base = pd.concat([base[~idf], detail], ignore_index=True)
            _draw_base(main, base, highlight=departement)
            name = base.loc[base["code"] == departement, "name"]
            where = tx["departement"].format(d=f"{name.iloc[0]} ({departement})" if len(name) else departement)
            limits = _frame_axes(main, geo, where, tx["empty"], extent=_zoom(base, geo, str(departement)))
            if limits is not None:
                _label_base(main, base, limits)
            panel = [(main, _pick(None))]
        axes.append(panel)
    return fig, axes, _underlay(fig)


def _over(ax) -> list:
    """The artists of a map's axes drawn over its territories (zorder 1): spines, highlighted outline, names;
    not the title (outside the axes, where no territory is drawn)."""
    skip = {ax.patch, ax.title, ax._left_title, ax._right_title}
    return sorted(
        (a for a in ax.get_children() if a.get_zorder() >= 1 and a.get_visible() and a not in skip),
        key=lambda a: a.get_zorder(),
    )


def _underlay(fig) -> tuple:
    """The pixels of a skeleton under its maps' territories, drawn once: each map restores them and draws only
    what lies over them (see :func:`_compose`).

    Returns the saved pixels and the axes drawn in layers (the others are drawn whole on each map: the
    Paris inset, which lies over the mainland's panel).
    """
    layered = [ax for ax in fig.axes if ax.get_gid() != "whole"]
    hidden = [a for ax in layered for a in _over(ax)] + [ax for ax in fig.axes if ax.get_gid() == "whole"]
    for a in hidden:
        a.set_visible(False)
    try:
        fig.canvas.draw()
        return fig.canvas.copy_from_bbox(fig.bbox), layered
    finally:
        for a in hidden:
            a.set_visible(True)


def _compose(fig, under: tuple) -> np.ndarray:
    """A map's pixels: the skeleton's underlay, then in the order of a full drawing what lies over it (the
    territories and the artists over them in each layered axes; the other axes, the colour bars, the title
    and the legend whole). The pixels of ``fig.canvas.draw()``: the artists left out of the underlay are
    drawn in the same order, after artists whose pixels they do not touch (the titles of the axes)."""
    pixels, layered = under
    canvas = fig.canvas
    renderer = canvas.get_renderer()
    canvas.restore_region(pixels)
    for artist in sorted((a for a in fig.get_children() if a is not fig.patch), key=lambda a: a.get_zorder()):
        if artist in layered:
            for a in _over(artist):
                a.draw(renderer)
        else:
            artist.draw(renderer)
    return np.asarray(renderer.buffer_rgba())


def _palette_png(rgba: np.ndarray) -> bytes:
    """The rendered pixels as a PNG of 256 colours (median cut, deterministic): a map is about 2.5 times smaller.

    zlib level 8, not 9 (``optimize``): a third of the encoding's CPU time for files under 1 % larger.
    """
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgba[..., :3]).quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
        out, format="PNG", compress_level=8
    )
    return out.getvalue()
