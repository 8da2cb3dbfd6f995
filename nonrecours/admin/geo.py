"""QPV membership from address coordinates: point-in-polygon against the QPV contours.

Addresses come in Lambert-93 (EPSG:2154, mainland France) or WGS84
(EPSG:4326, longitude/latitude, as overseas addresses are given); both are
transformed once with pyproj to WGS84, the CRS of the contours (GeoJSON,
RFC 7946). A shapely ``STRtree`` over the contours finds, for all points at
once, the polygons within ``tolerance`` of each point:

* a point inside a contour lies in that QPV;
* a point within ``tolerance`` of a contour's boundary is counted as on the
  boundary and assigned to that QPV (a contour includes its boundary, as
  the official QPV geolocation service does); with two candidates the
  lowest QPV code wins;
* any other point lies outside every QPV: it is assigned to the rest of its
  urban area from its commune (the ``communes`` table).

Counts of each case, and of overseas points, are returned.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._text import text_of
from ..errors import InputError, message

__all__ = ["Contours", "read_contours", "locate", "Location"]


@dataclass(frozen=True)
class Contours:
    """QPV polygons (WGS84) and their codes and départements, sorted by code."""

    codes: np.ndarray
    departements: np.ndarray
    polygons: np.ndarray  # shapely geometries


def read_contours(source: str | os.PathLike, *, code_field: str = "code_qp") -> Contours:
    """Read QPV contours from a GeoJSON file or text (Polygon or MultiPolygon features)."""
    import shapely

    text = source if isinstance(source, str) and source.lstrip().startswith("{") else Path(source).read_text("utf-8")
    try:
        data = json.loads(text)
        feats = data["features"]
        codes = np.array([f["properties"][code_field] for f in feats], dtype=str)
        deps = np.array([str(f["properties"].get("departement", "")) for f in feats], dtype=str)
        geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in feats]) if feats else np.array([])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            message(
                "cannot read the QPV contours",
                where=f"contours {str(source)!r}",
                expected=f"a GeoJSON FeatureCollection with a {code_field!r} property",
                found=type(exc).__name__,
            )
        ) from None
    order = np.argsort(codes, kind="stable")
    return Contours(codes=codes[order], departements=deps[order], polygons=np.asarray(geoms)[order])


#: Points located at once (:func:`locate`): their GEOS geometries take about 200 bytes each.
POINTS_BLOCK = 500_000


@dataclass(frozen=True)
class Location:
    """Result of :func:`locate`: per point ``qpv`` (code or empty) and ``where``, plus counts."""

    table: pd.DataFrame
    counts: dict


#: Where a point is, in the order of :func:`locate`'s codes.
WHERE = ("unlocated", "outside", "inside", "boundary")


def locate(points: pd.DataFrame, contours: Contours, *, tolerance_m: float = 0.5) -> Location:
    """QPV of each point: inside, on the boundary, or outside every QPV.

    Parameters
    ----------
    points : DataFrame
        ``x``/``y`` (Lambert-93 metres) and/or ``lon``/``lat`` (WGS84 degrees);
        a row uses ``x``/``y`` when both are present, else ``lon``/``lat``.
    contours : Contours
    tolerance_m : float
        Distance to a contour under which a point is on its boundary (0.5 m).

    Returns
    -------
    Location
        ``table``: ``qpv`` (code, or empty outside every QPV), ``where``
        (``inside``, ``boundary``, ``outside``, ``unlocated``); ``counts``: number of
        points by ``where``, ``lambert93`` and ``wgs84`` inputs, and ``overseas``
        (points south of latitude 40° N or west of 10° W: the overseas départements).
    """
    import shapely
    from pyproj import Transformer

    n = len(points)
    x = points["x"].to_numpy(dtype=float) if "x" in points else np.full(n, np.nan)
    y = points["y"].to_numpy(dtype=float) if "y" in points else np.full(n, np.nan)
    lon = points["lon"].to_numpy(dtype=float) if "lon" in points else np.full(n, np.nan)
    lat = points["lat"].to_numpy(dtype=float) if "lat" in points else np.full(n, np.nan)
    l93 = ~np.isnan(x) & ~np.isnan(y)
    if l93.any():
        t = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
        lon = lon.copy()
        lat = lat.copy()
        lon[l93], lat[l93] = t.transform(x[l93], y[l93])
    located = ~np.isnan(lon) & ~np.isnan(lat)
    # by codes: WHERE's position for ``where``, the contour's position for ``qpv`` (``len(codes)``: none)
    where = np.zeros(n, dtype=np.intp)
    qpv = np.full(n, len(contours.codes), dtype=np.intp)
    idx = np.flatnonzero(located)
    where[idx] = WHERE.index("outside")
    if len(contours.codes) and idx.size:
        # inside (or on) a contour: one exact point-in-polygon query; near a boundary: a query of the
        # boundaries within a generous distance in degrees, then the distance in metres for those only.
        # The points by blocks of POINTS_BLOCK (a GEOS point per address: at 5 million addresses 1 GiB at once)
        tree = shapely.STRtree(contours.polygons)
        bnd = shapely.boundary(contours.polygons)
        btree = shapely.STRtree(bnd)
        tol_deg = tolerance_m / 111_000.0 * 2
        inside, boundary = [], []
        for start in range(0, idx.size, POINTS_BLOCK):
            block = idx[start : start + POINTS_BLOCK]
            pts = shapely.points(lon[block], lat[block])
            pi, gi = tree.query(pts, predicate="intersects")
            bi, bg = btree.query(pts, predicate="dwithin", distance=tol_deg)
            near = (
                shapely.get_coordinates(shapely.shortest_line(pts[bi], bnd[bg])).reshape(-1, 2, 2)
                if len(bi)
                else np.zeros((0, 2, 2))
            )
            del pts
            dlon = 111_320.0 * np.cos(np.radians(lat[block][bi]))
            dist = np.hypot((near[:, 1, 0] - near[:, 0, 0]) * dlon, (near[:, 1, 1] - near[:, 0, 1]) * 110_574.0)
            close = dist < tolerance_m
            inside.append((pi + start, gi))
            boundary.append((bi[close] + start, bg[close]))
        pi = np.concatenate([p for p, _ in inside] + [p for p, _ in boundary]).astype(np.intp)
        gi = np.concatenate([g for _, g in inside] + [g for _, g in boundary]).astype(np.intp)
        n_in = sum(len(p) for p, _ in inside)
        on_b = np.concatenate([np.zeros(n_in, bool), np.ones(len(pi) - n_in, bool)])
        # lowest code first (contours are sorted by code), a boundary flag first for the same pair
        order = np.lexsort((~on_b, gi, pi))
        pi, gi, on_b = pi[order], gi[order], on_b[order]
        first = np.concatenate([[True], pi[1:] != pi[:-1]]) if len(pi) else np.zeros(0, bool)
        pi, gi, on_b = pi[first], gi[first], on_b[first]
        qpv[idx[pi]] = gi
        where[idx[pi]] = np.where(on_b, WHERE.index("boundary"), WHERE.index("inside"))
    vc = np.bincount(where, minlength=len(WHERE))
    counts = {k: int(vc[WHERE.index(k)]) for k in ("inside", "boundary", "outside", "unlocated")}
    counts.update(
        lambert93=int(l93.sum()),
        wgs84=int((located & ~l93).sum()),
        overseas=int((located & ((lat < 40.0) | (lon < -10.0))).sum()),
    )
    # the labels taken by code (no Python string per point)
    codes = [*np.asarray(contours.codes).astype(str), ""]
    table = pd.DataFrame({"qpv": text_of(qpv, codes), "where": text_of(where, WHERE)})
    return Location(table=table, counts=counts)


def assign_territories(
    points: pd.DataFrame, contours: Contours, communes: pd.DataFrame, *, tolerance_m: float = 0.5
) -> tuple[pd.DataFrame, dict]:
    """Territory of each point: its QPV, or the rest of its urban area from its ``commune``.

    ``communes`` maps ``commune`` to ``territory`` (the rest of the urban area)
    and ``departement``. Returns ``territory``, ``departement``, ``is_qpv``,
    ``where`` per point and the counts of :func:`locate` plus ``no_territory``
    (outside every QPV in a commune missing from ``communes``).
    """
    loc = locate(points, contours, tolerance_m=tolerance_m)
    cm = communes.drop_duplicates("commune")
    if all(cm[c].dtype == "str" for c in ("commune", "territory", "departement")):
        out = _territories_by_position(points, contours, cm, loc)
        return out, dict(loc.counts, no_territory=int(out["territory"].isna().sum()))
    cm = cm.set_index("commune")
    commune = points["commune"].astype(str)
    rest = cm["territory"].reindex(commune).to_numpy(dtype=object)
    dep_c = cm["departement"].reindex(commune).to_numpy(dtype=object)
    dep_q = pd.Series(contours.departements, index=contours.codes)
    is_q = loc.table["qpv"].to_numpy() != ""
    terr = np.where(is_q, loc.table["qpv"].to_numpy(dtype=object), rest)
    dep = np.where(is_q, dep_q.reindex(loc.table["qpv"]).to_numpy(dtype=object), dep_c)
    out = pd.DataFrame(
        {"territory": terr, "departement": dep, "is_qpv": is_q.astype(np.int8), "where": loc.table["where"].to_numpy()}
    )
    counts = dict(loc.counts, no_territory=int(pd.isna(terr).sum()))
    return out, counts


def _territories_by_position(points: pd.DataFrame, contours: Contours, cm: pd.DataFrame, loc: Location) -> pd.DataFrame:
    """:func:`assign_territories`' table with text communes: each point's commune and QPV found by Arrow's
    ``index_in`` and their territory and département taken by position (no Python object per point)."""
    from .._text import index_text

    def take(values: pd.Series, at: np.ndarray) -> pd.Series:  # a missing value where ``at`` is -1
        return pd.Series(values.astype("str").array.take(at, allow_fill=True))

    at_c = index_text(points["commune"].astype(str), cm["commune"])
    is_q = (loc.table["qpv"] != "").to_numpy(dtype=bool)
    at_q = np.where(is_q, index_text(loc.table["qpv"], pd.Series(contours.codes).astype(str)), -1)
    dep_q = pd.Series(np.asarray(contours.departements, dtype=object))
    return pd.DataFrame(
        {
            "territory": take(cm["territory"], at_c).where(~is_q, loc.table["qpv"]),
            "departement": take(cm["departement"], at_c).where(~is_q, take(dep_q, at_q)),
            "is_qpv": is_q.astype(np.int8),
            "where": loc.table["where"],
        }
    )
