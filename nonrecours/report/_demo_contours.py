"""Schematic QPV contours for the demo's maps (a stand-in until the administrative phase's are merged).

The administrative phase (``nonrecours.simulate.contours``, issue 15) simulates
QPV contours with addresses for point-in-polygon; this module only draws
octagons so that the demo report has something to map, in the same GeoJSON
layout (WGS84, properties ``code_qp`` and ``departement``). Metropolitan
départements are cells of a grid over mainland France's Lambert-93 extent,
their QPVs clustered inside; overseas QPVs cluster around a point of their
island or territory, in its own projection. Once issue 15 is merged the demo
can write its contours instead.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .maps import METRO_CRS, OVERSEAS

__all__ = ["schematic_contours"]

_METRO_BOX = (150_000.0, 6_200_000.0, 1_050_000.0, 7_050_000.0)
#: A point (easting, northing) inside each overseas département, in its projection.
_ORIGIN = {"971": (650_000.0, 1_800_000.0), "972": (710_000.0, 1_620_000.0), "973": (350_000.0, 540_000.0),
           "974": (340_000.0, 7_660_000.0), "976": (515_000.0, 8_580_000.0)}


def schematic_contours(territories: pd.DataFrame, *, seed: int = 1) -> str:
    """GeoJSON (WGS84) of one octagon per QPV of a simulated ``territories`` table."""
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    q = territories[pd.to_numeric(territories["is_qpv"], errors="coerce") == 1]
    codes = q["territory"].astype(str).to_numpy()
    deps = q["departement"].astype(str).to_numpy()
    rank = pd.Series(deps).groupby(deps).cumcount().to_numpy()  # position of a QPV within its département
    cx, cy, size = np.zeros(len(q)), np.zeros(len(q)), np.zeros(len(q))
    metro_deps = sorted(set(deps) - set(OVERSEAS))
    x0, y0, x1, y1 = _METRO_BOX
    ncol = max(int(np.ceil(np.sqrt(len(metro_deps) * (x1 - x0) / (y1 - y0)))), 1)
    cell = (x1 - x0) / ncol
    index = {d: i for i, d in enumerate(metro_deps)}
    for k, dep in enumerate(deps):  # one point per QPV (a few hundred): the layout is not a hot path
        sub = 3.0 if dep in OVERSEAS else 1.0
        if dep in OVERSEAS:
            bx, by, step = *_ORIGIN[dep], 3_000.0
        else:
            i = index[dep]
            bx, by, step = x0 + (i % ncol + 0.5) * cell, y1 - (i // ncol + 0.5) * cell, cell / 4.0
        r, a = step * np.sqrt(rank[k]), 2.4 * rank[k]  # a sunflower spiral: neighbours stay apart
        cx[k], cy[k], size[k] = bx + r * np.cos(a), by + r * np.sin(a), step / (2.2 * sub)
    ang = 2 * np.pi * np.arange(8) / 8
    jitter = 0.85 + 0.3 * rng.random((len(q), 8))
    px = cx[:, None] + size[:, None] * jitter * np.cos(ang)
    py = cy[:, None] + size[:, None] * jitter * np.sin(ang)
    lon, lat = np.zeros_like(px), np.zeros_like(py)
    crs = np.array([OVERSEAS[d][1] if d in OVERSEAS else METRO_CRS for d in deps])
    for c in pd.unique(crs):  # six projections at most
        m = crs == c
        lon[m], lat[m] = Transformer.from_crs(str(c), "EPSG:4326", always_xy=True).transform(px[m], py[m])
    feats = []
    for k in range(len(q)):
        ring = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon[k], lat[k])]
        feats.append({"type": "Feature", "properties": {"code_qp": codes[k], "departement": deps[k]},
                      "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]}})
    return json.dumps({"type": "FeatureCollection", "features": feats})
