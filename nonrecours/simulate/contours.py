"""Simulated QPV contours and addresses, consistent with the simulator's territories.

Each urban area of the synthetic population (a QPV and the rest of its urban
area) is laid out around a centre inside its département's outline (the base
map of :mod:`nonrecours.geography.basemap`): the QPV is a jittered octagon at the
centre, the rest of the urban area the ring around it, split into communes
(Paris and the petite couronne use the finer drawing of the maps' inset).
Mainland centres are in Lambert-93 (EPSG:2154); overseas départements are laid
out in their own metric projection (UTM zones of the RGAF09, RGFG95, RGR92 and
RGM04 frames). A département without an outline (a code outside the official
list) falls back to a grid over mainland France or around the overseas origin. Contours are
written as GeoJSON in WGS84 (RFC 7946), as the official QPV contours are
distributed.

This is the one generator of QPV contours: the organisms' sources
(:func:`nonrecours.simulate.sources.simulate_sources`) place their addresses
in them, and the demo's maps draw them (:func:`qpv_contours`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Layout",
    "layout_urban_areas",
    "draw_addresses",
    "contours_geojson",
    "qpv_contours",
    "OVERSEAS_CRS",
    "METRO_CRS",
    "WGS84",
]

METRO_CRS = "EPSG:2154"
WGS84 = "EPSG:4326"
#: Metric projection and origin (easting, northing) of each overseas département.
OVERSEAS_CRS = {
    "971": ("EPSG:5490", 640_000.0, 1_790_000.0),  # Guadeloupe, RGAF09 UTM 20N
    "972": ("EPSG:5490", 705_000.0, 1_615_000.0),  # Martinique
    "973": ("EPSG:2972", 330_000.0, 520_000.0),  # Guyane, RGFG95 UTM 22N
    "974": ("EPSG:2975", 330_000.0, 7_650_000.0),  # La Réunion, RGR92 UTM 40S
    "976": ("EPSG:4471", 510_000.0, 8_575_000.0),
}  # Mayotte, RGM04 UTM 38S
_METRO_BOX = (120_000.0, 6_150_000.0, 1_080_000.0, 7_050_000.0)
_VERTICES = 8


@dataclass(frozen=True, eq=False)
class Layout:
    """Grid cells of the urban areas: centre, cell size, QPV radius, CRS, communes.

    Attributes
    ----------
    urban_area, departement, qpv : numpy.ndarray of str
        One entry per urban area (pair order of the simulator); ``qpv`` is its QPV code.
    cx, cy : numpy.ndarray
        Centre of each cell in its projection.
    cell : numpy.ndarray
        Cell size (metres).
    radius : numpy.ndarray
        QPV circumradius (metres): ``0.15 * cell``.
    crs : numpy.ndarray of str
    n_communes : numpy.ndarray of int
        Communes of each urban area (the first one holds the QPV).
    commune_offset : numpy.ndarray of int
        Index of the urban area's first commune in :attr:`communes`.
    communes : DataFrame
        ``commune``, ``departement``, ``urban_area``, ``territory`` (the rest of
        the urban area, ``HQ...``), ``qpv`` (the QPV code for the first commune,
        else empty).
    jitter : numpy.ndarray (urban areas x 8)
        Factor of each vertex's radius (the octagons are irregular).
    """

    urban_area: np.ndarray
    departement: np.ndarray
    qpv: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    cell: np.ndarray
    radius: np.ndarray
    crs: np.ndarray
    n_communes: np.ndarray
    commune_offset: np.ndarray
    communes: pd.DataFrame
    jitter: np.ndarray


def layout_urban_areas(territories: pd.DataFrame, rng: np.random.Generator) -> Layout:
    """Grid layout of the urban areas of a simulated ``territories`` table (pair order)."""
    q = territories[territories["is_qpv"] == 1]
    ua = q["urban_area"].to_numpy().astype(str)
    dep = q["departement"].to_numpy().astype(str)
    qpv = q["territory"].to_numpy().astype(str)
    n = len(ua)
    cx, cy, cell = np.zeros(n), np.zeros(n), np.zeros(n)
    crs = np.full(n, METRO_CRS, dtype=object)
    metro = ~np.isin(dep, list(OVERSEAS_CRS))
    k = int(metro.sum())
    if k:
        x0, y0, x1, y1 = _METRO_BOX
        size = np.sqrt((x1 - x0) * (y1 - y0) / k)
        ncol = max(int((x1 - x0) // size), 1)
        i = np.arange(k)
        cx[metro] = x0 + (i % ncol + 0.5) * size
        cy[metro] = y0 + (i // ncol + 0.5) * size
        cell[metro] = size
    for d, (code, ox, oy) in OVERSEAS_CRS.items():
        crs[dep == d] = code
        m = np.flatnonzero(dep == d)
        if m.size:
            size = 4_000.0
            ncol = int(np.ceil(np.sqrt(m.size)))
            i = np.arange(m.size)
            cx[m] = ox + (i % ncol - ncol / 2 + 0.5) * size
            cy[m] = oy + (i // ncol - ncol / 2 + 0.5) * size
            cell[m] = size
    placed = _place_in_departements(ua, dep, crs)
    cx[placed.index], cy[placed.index], cell[placed.index] = placed["x"], placed["y"], placed["radius"] / 0.15
    n_communes = rng.integers(2, 5, n)
    offset = np.concatenate([[0], np.cumsum(n_communes)[:-1]])
    ua_of = np.repeat(np.arange(n), n_communes)
    dep_of = dep[ua_of]
    # commune code: département + serial within the département (3 digits)
    serial = pd.Series(dep_of).groupby(dep_of).cumcount().to_numpy() + 1
    commune = np.char.add(dep_of.astype("U3"), np.char.zfill(serial.astype("U3"), 3))
    first = np.zeros(len(ua_of), dtype=bool)
    first[offset] = True
    communes = pd.DataFrame(
        {
            "commune": commune,
            "departement": dep_of,
            "urban_area": ua[ua_of],
            "territory": np.char.replace(qpv[ua_of], "QP", "HQ", count=1),
            "qpv": np.where(first, qpv[ua_of], ""),
        }
    )
    return Layout(
        urban_area=ua,
        departement=dep,
        qpv=qpv,
        cx=cx,
        cy=cy,
        cell=cell,
        radius=0.15 * cell,
        crs=crs,
        n_communes=n_communes,
        commune_offset=offset,
        communes=communes,
        jitter=0.85 + 0.3 * rng.random((n, _VERTICES)),
    )


def _place_in_departements(ua: np.ndarray, dep: np.ndarray, crs: np.ndarray, *, candidates: int = 64) -> pd.DataFrame:
    """Centre and QPV radius of each urban area inside its département's outline.

    The disc of radius ``3.2 r`` around a centre holds the QPV (radius at most
    1.15 ``r``) and its addresses (out to 3 ``r``): the discs lie inside the
    département's outline and do not overlap, so that a point-in-polygon test
    finds each address in its own QPV or in none. Centres are drawn by
    best-candidate sampling (Mitchell 1991: of ``candidates`` uniform points
    inside the outline eroded by ``3.2 r``, keep the farthest from the centres
    already placed); ``r`` is at most ``0.06 sqrt(A)`` for a département of
    area ``A`` and at most ``sqrt(0.25 A / (pi n)) / 3.2`` for ``n`` urban
    areas, then lowered so that the discs do not overlap.

    The draws come from a generator seeded by the urban areas' codes, not from
    the simulator's: the layout depends on the territories only, and every
    other draw of the simulator is unchanged.

    Returns
    -------
    DataFrame
        ``x``, ``y``, ``radius`` (metres, in the département's projection),
        indexed by position in ``ua``; départements without an outline are absent.

    References
    ----------
    Mitchell, D. P. (1991). Spectrally optimal sampling for distribution ray tracing. SIGGRAPH 91, 157-164.
    """
    import zlib

    import shapely

    from ..geography.basemap import departements

    outlines = departements()
    paris = outlines["frame"] == "paris"  # Paris and the petite couronne: the inset's finer drawing
    outlines = pd.concat(
        [outlines[~paris & ~outlines["code"].isin(outlines.loc[paris, "code"])], outlines[paris]]
    ).set_index("code")
    rng = np.random.default_rng(zlib.crc32("\x1f".join(ua.tolist()).encode("utf-8")))
    reach = 3.2
    # each département's outline and projection by code (a frame lookup per département costs more than its draws)
    outline = dict(zip(outlines.index, outlines["geometry"]))
    projection = dict(zip(outlines.index, outlines["crs"]))
    placed: list[tuple[np.ndarray, np.ndarray, float]] = []
    for d in pd.unique(dep):  # at most 101 départements: a layout step, not an estimate per domain
        if d not in outline or projection[d] != crs[dep == d][0]:
            continue
        idx = np.flatnonzero(dep == d)
        poly = outline[d]
        area = float(shapely.area(poly))
        r = min(0.06 * np.sqrt(area), np.sqrt(0.25 * area / (np.pi * idx.size)) / reach)
        inner = shapely.buffer(poly, -reach * r)
        while shapely.area(inner) < (reach * r) ** 2 and r > 50.0:  # a thin département: smaller urban areas
            r /= 2
            inner = shapely.buffer(poly, -reach * r)
        if shapely.is_empty(inner):
            continue
        x0, y0, x1, y1 = shapely.bounds(inner)
        pts = np.empty((idx.size, 2))
        for k in range(idx.size):
            cand = np.empty((0, 2))
            while len(cand) < candidates:
                c = np.column_stack([rng.uniform(x0, x1, 4 * candidates), rng.uniform(y0, y1, 4 * candidates)])
                cand = np.vstack([cand, c[shapely.contains_xy(inner, c[:, 0], c[:, 1])]])
            cand = cand[:candidates]
            if k:
                dist = np.min(
                    np.hypot(cand[:, None, 0] - pts[None, :k, 0], cand[:, None, 1] - pts[None, :k, 1]), axis=1
                )
                pts[k] = cand[np.argmax(dist)]
            else:
                pts[k] = cand[0]
        if idx.size > 1:
            gap = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
            r = min(r, 0.99 * gap[~np.eye(idx.size, dtype=bool)].min() / (2 * reach))
        placed.append((idx, pts, r))
    if not placed:
        return pd.DataFrame({"x": [], "y": [], "radius": []}, index=pd.Index([], dtype=int))
    pts = np.concatenate([p for _, p, _ in placed])
    radius = np.concatenate([np.full(len(i), r) for i, _, r in placed])
    index = np.concatenate([i for i, _, _ in placed])
    return pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1], "radius": radius}, index=index)


def _polygon(layout: Layout, i: int) -> np.ndarray:
    ang = 2 * np.pi * np.arange(_VERTICES) / _VERTICES
    r = layout.radius[i] * layout.jitter[i]
    return np.column_stack([layout.cx[i] + r * np.cos(ang), layout.cy[i] + r * np.sin(ang)])


def _inradius(layout: Layout) -> np.ndarray:
    """Radius of a circle inside every jittered octagon (0.85 r cos(pi/8), with margin)."""
    return 0.85 * layout.radius * np.cos(np.pi / _VERTICES) * 0.95


def draw_addresses(
    rng: np.random.Generator, layout: Layout, ua_index: np.ndarray, in_qpv: np.ndarray, boundary_rate: float
) -> dict:
    """Address coordinates (in each cell's projection) and commune index of each recipient.

    QPV residents are uniform in a disc inside the QPV polygon, except a share
    ``boundary_rate`` placed exactly on a vertex of the contour (shared
    boundary cases); the others are uniform in the ring between 1.3 and 3
    QPV radii, in one of their urban area's communes.

    Returns
    -------
    dict
        ``x``, ``y`` (float, metres), ``commune`` (index into ``layout.communes``),
        ``on_boundary`` (bool).
    """
    n = len(ua_index)
    u = rng.random(n)
    theta = 2 * np.pi * rng.random(n)
    r_in = _inradius(layout)[ua_index] * np.sqrt(u)
    r_out = layout.radius[ua_index] * np.sqrt(1.3**2 + (3.0**2 - 1.3**2) * u)
    r = np.where(in_qpv, r_in, r_out)
    x = layout.cx[ua_index] + r * np.cos(theta)
    y = layout.cy[ua_index] + r * np.sin(theta)
    on_b = in_qpv & (rng.random(n) < boundary_rate)
    if on_b.any():
        v = rng.integers(0, _VERTICES, int(on_b.sum()))
        ui = ua_index[on_b]
        ang = 2 * np.pi * v / _VERTICES
        rv = layout.radius[ui] * layout.jitter[ui, v]
        x[on_b] = layout.cx[ui] + rv * np.cos(ang)
        y[on_b] = layout.cy[ui] + rv * np.sin(ang)
    other = (rng.random(n) * (layout.n_communes[ua_index] - 1)).astype(np.int64) + 1
    commune = layout.commune_offset[ua_index] + np.where(in_qpv, 0, other)
    return {"x": x, "y": y, "commune": commune, "on_boundary": on_b}


def to_wgs84(x: np.ndarray, y: np.ndarray, crs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of points given in per-row projections (one transform per CRS)."""
    from pyproj import Transformer

    lon, lat = np.full(len(x), np.nan), np.full(len(x), np.nan)
    for code in pd.unique(crs):  # a handful of projections
        m = crs == code
        t = Transformer.from_crs(code, WGS84, always_xy=True)
        lon[m], lat[m] = t.transform(x[m], y[m])
    return lon, lat


def contours_geojson(layout: Layout) -> str:
    """The QPV contours as a GeoJSON FeatureCollection in WGS84 (properties ``code_qp``, ``departement``)."""
    polys = (
        np.stack([_polygon(layout, i) for i in range(len(layout.qpv))])
        if len(layout.qpv)
        else np.zeros((0, _VERTICES, 2))
    )
    flat_x = polys[:, :, 0].ravel()
    flat_y = polys[:, :, 1].ravel()
    lon, lat = to_wgs84(flat_x, flat_y, np.repeat(layout.crs, _VERTICES))
    lon = lon.reshape(-1, _VERTICES)
    lat = lat.reshape(-1, _VERTICES)
    features = []
    for i in range(len(layout.qpv)):
        ring = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon[i], lat[i])]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "properties": {"code_qp": layout.qpv[i], "departement": layout.departement[i]},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features})


def qpv_contours(territories: pd.DataFrame, *, seed: int | np.random.Generator) -> str:
    """The QPV contours (GeoJSON, WGS84) of a simulated ``territories`` table, without the sources.

    The layout is the first draw of
    :func:`~nonrecours.simulate.sources.simulate_sources`, so that with the same
    ``seed`` these are the contours its ``qpv.geojson`` holds, the ones its
    addresses were placed in: the demo maps what its administrative phase
    assigns, with or without that phase.

    Parameters
    ----------
    territories : DataFrame
        ``territory``, ``urban_area``, ``departement``, ``is_qpv`` (pair order of
        :func:`nonrecours.simulate.simulate_population`).
    seed : int or numpy.random.Generator
        The seed given to ``simulate_sources``.

    Examples
    --------
    >>> import json
    >>> from nonrecours.simulate import simulate_population
    >>> pop = simulate_population(3, seed=1)
    >>> feats = json.loads(qpv_contours(pop.territories, seed=2))["features"]
    >>> len(feats), sorted(feats[0]["properties"])
    (3, ['code_qp', 'departement'])
    """
    from .._checks import check_random_state

    return contours_geojson(layout_urban_areas(territories, check_random_state(seed)))
