"""Build ``nonrecours/geography/data/departements.geojson`` from pygal-maps-fr's ``fr.departments.svg``.

Source: the PyPI package ``pygal-maps-fr`` 1.1.0 (Kozea, LGPLv3+), file
``pygal_maps_fr/fr.departments.svg``: one SVG path per département code (2A/2B),
a Paris–petite-couronne inset (75, 92, 93, 94) and the overseas départements
(975, Saint-Pierre-et-Miquelon, is a collectivity and is left out).

The SVG is a drawing in page units. This script

1. parses its paths (the file uses only the M/m, l, c and z commands; a cubic
   segment is sampled at t = 1/3, 2/3 and 1);
2. places the mainland and Corsica in Lambert-93 (EPSG:2154) by the affine map
   fitted by least squares on nine extreme points of the territory whose
   longitude and latitude are known (``CONTROL``; the residuals are printed);
3. places the detailed Paris inset in Lambert-93 by the affine map taking its
   four départements onto their mainland drawing (least squares on the
   vertices of their bounding boxes);
4. places each overseas département in its own metric projection (those of
   :data:`nonrecours.report.maps.OVERSEAS`) by mapping its bounding box onto
   the département's known extent;
5. simplifies the outlines as one coverage (shared borders stay shared), rounds
   the coordinates to the metre and writes one GeoJSON with properties
   ``code``, ``frame`` (``metro``, ``paris`` or the overseas code) and ``crs``.

The result is a base map for display: positions are good to a few kilometres
on the mainland (see the printed residuals), not a reference geography.

Run (the package installed, or the SVG given)::

    pip install pygal-maps-fr==1.1.0 --no-deps
    python scripts/make_departements.py [--svg path/to/fr.departments.svg]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

OUT = Path(__file__).resolve().parents[1] / "nonrecours" / "geography" / "data" / "departements.geojson"
OVERSEAS = {"971": "EPSG:5490", "972": "EPSG:5490", "973": "EPSG:2972", "974": "EPSG:2975", "976": "EPSG:4471"}
#: Extreme points of the mainland and Corsica: (département, side of its outline, longitude, latitude).
CONTROL = [("59", "north", 2.5455, 51.0889),   # Bray-Dunes
           ("66", "south", 2.5314, 42.3330),   # Puig de Coma Negra
           ("29", "west", -5.1410, 48.4590),   # Ouessant (drawn)
           ("67", "east", 8.2303, 48.9670),    # Lauterbourg
           ("08", "north", 4.8516, 50.1686),   # pointe de Givet
           ("64", "west", -1.7885, 43.3733),   # Hendaye
           ("2B", "north", 9.4178, 43.0097),   # Cap Corse
           ("2A", "south", 9.2195, 41.3662),   # Capo Pertusato
           ("2A", "west", 8.5359, 42.2386)]    # Capo Rosso
#: Extent (lon min, lat min, lon max, lat max) of each overseas département.
EXTENT = {"971": (-61.809, 15.832, -61.000, 16.514), "972": (-61.229, 14.388, -60.810, 14.878),
          "973": (-54.603, 2.112, -51.614, 5.750), "974": (55.216, -21.389, 55.837, -20.872),
          "976": (45.018, -13.000, 45.300, -12.637)}
TOL = {"metro": 2000.0, "paris": 150.0, "971": 300.0, "972": 300.0, "973": 1500.0, "974": 300.0, "976": 150.0}
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[A-Za-z]")


def parse_path(d: str) -> list[np.ndarray]:
    """Rings (page units) of an SVG path using M/m, L/l, C/c and Z/z."""
    toks = _NUM.findall(d)
    rings, cur, pos, start, cmd, i = [], [], np.zeros(2), np.zeros(2), "", 0
    while i < len(toks):
        if toks[i].isalpha():
            cmd = toks[i]
            i += 1
            if cmd in "zZ":
                if len(cur) > 2:
                    rings.append(np.array(cur))
                cur, pos = [], start.copy()
                continue
        nums = np.array(toks[i:i + (6 if cmd in "cC" else 2)], dtype=float)
        i += len(nums)
        rel = cmd.islower()
        if cmd in "mM":
            if len(cur) > 2:
                rings.append(np.array(cur))
            pos = pos + nums if rel else nums
            start, cur = pos.copy(), [pos.copy()]
            cmd = "l" if rel else "L"  # implicit line-to after a move-to
        elif cmd in "lL":
            pos = pos + nums if rel else nums
            cur.append(pos.copy())
        elif cmd in "cC":
            p = nums.reshape(3, 2) + (pos if rel else 0)
            for t in (1 / 3, 2 / 3, 1.0):
                cur.append((1 - t) ** 3 * pos + 3 * (1 - t) ** 2 * t * p[0] + 3 * (1 - t) * t ** 2 * p[1]
                           + t ** 3 * p[2])
            pos = p[2]
        else:
            raise ValueError(f"SVG path command {cmd!r} is not handled")
    if len(cur) > 2:
        rings.append(np.array(cur))
    return rings


def read_svg(path: Path) -> dict[tuple[str, str], shapely.Geometry]:
    """(group, code) -> polygon in page units (y down), group translations applied."""
    text = path.read_text(encoding="utf-8")
    out = {}
    for gid, body in re.findall(r'<g id="([^"]+)"(.*?)\n  </g>', text, flags=re.DOTALL):
        m = re.search(r'^\s*transform="translate\(([-\d.]+),([-\d.]+)\)"', body)
        shift = np.array([float(m.group(1)), float(m.group(2))]) if m else np.zeros(2)
        for code, d in re.findall(r'class="z(\w+) departement[^"]*">\s*<path d="([^"]+)"', body):
            polys = [shapely.make_valid(shapely.Polygon(r + shift)) for r in parse_path(d)]
            # even-odd rings: a ring inside another is a hole (none of these files' rings overlap otherwise)
            geom = shapely.GeometryCollection(polys)
            out[(gid, code)] = shapely.make_valid(shapely.symmetric_difference_all(polys)) if polys else geom
    return out


def _extreme(g, side: str) -> np.ndarray:
    xy = shapely.get_coordinates(g)
    j = {"north": np.argmin(xy[:, 1]), "south": np.argmax(xy[:, 1]), "west": np.argmin(xy[:, 0]),
         "east": np.argmax(xy[:, 0])}[side]  # page y points down
    return xy[j]


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    a = np.column_stack([src, np.ones(len(src))])
    coef, *_ = np.linalg.lstsq(a, dst, rcond=None)
    return coef  # 3 x 2


def _apply(g, coef):
    return shapely.transform(g, lambda xy: np.column_stack([xy, np.ones(len(xy))]) @ coef)


def _polygons(g):
    """The polygonal part of a geometry, as a (Multi)Polygon."""
    parts, polys = [shapely.make_valid(g)], []
    while parts:  # collections may nest: flatten them
        p = parts.pop()
        if p.geom_type in ("GeometryCollection", "MultiPolygon"):
            parts.extend(shapely.get_parts(p))
        elif p.geom_type == "Polygon":
            polys.append(p)
    return shapely.union_all(polys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--svg", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    svg = args.svg
    if svg is None:
        from importlib.resources import files
        svg = Path(str(files("pygal_maps_fr") / "fr.departments.svg"))
    shapes = read_svg(svg)
    main_ = {c: g for (gid, c), g in shapes.items() if gid == "departements"}
    paris = {c: g for (gid, c), g in shapes.items() if gid == "paris-petite-couronne"}
    dom = {c: g for (gid, c), g in shapes.items() if gid == "dom-com" and c in OVERSEAS}
    to93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    src = np.array([_extreme(main_[c], s) for c, s, _, _ in CONTROL])
    dst = np.column_stack(to93.transform([p[2] for p in CONTROL], [p[3] for p in CONTROL]))
    coef = _affine(src, dst)
    res = np.hypot(*(np.column_stack([src, np.ones(len(src))]) @ coef - dst).T)
    print("mainland fit residuals (km):",
          " ".join(f"{c}{s[0]}={r / 1000:.1f}" for (c, s, _, _), r in zip(CONTROL, res)))
    feats = {("metro", c): _apply(g, coef) for c, g in main_.items()}
    box = lambda gs: np.array(shapely.total_bounds(list(gs)))
    b_in, b_main = box(paris.values()), box(feats[("metro", c)] for c in paris)
    src = np.array([[b_in[0], b_in[1]], [b_in[2], b_in[1]], [b_in[0], b_in[3]], [b_in[2], b_in[3]]])
    tgt = np.array([[b_main[0], b_main[3]], [b_main[2], b_main[3]], [b_main[0], b_main[1]], [b_main[2], b_main[1]]])
    pcoef = _affine(src, tgt)  # page y down: the inset's top is the map's north
    feats.update({("paris", c): _apply(g, pcoef) for c, g in paris.items()})
    for c, g in dom.items():
        lo, la = np.array(EXTENT[c]).reshape(2, 2).T
        x, y = Transformer.from_crs("EPSG:4326", OVERSEAS[c], always_xy=True).transform(lo, la)
        b = box([g])
        src = np.array([[b[0], b[3]], [b[2], b[1]], [b[0], b[1]]])
        tgt = np.array([[x[0], y[0]], [x[1], y[1]], [x[0], y[1]]])
        feats[(c, c)] = _apply(g, _affine(src, tgt))
    features = []
    for frame in ["metro", "paris", *OVERSEAS]:
        keys = sorted(k for k in feats if k[0] == frame)
        geoms = shapely.coverage_simplify(np.array([_polygons(feats[k]) for k in keys], dtype=object), TOL[frame])
        for (fr, code), g in zip(keys, geoms):
            g = _polygons(shapely.set_precision(g, 1.0))
            polys = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > (TOL[fr] * 2) ** 2]
            geom = shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]
            gj = json.loads(shapely.to_geojson(geom))
            features.append({"type": "Feature", "properties": {"code": code, "frame": fr,
                                                               "crs": "EPSG:2154" if fr in ("metro", "paris")
                                                               else OVERSEAS[fr]},
                             "geometry": gj})
    doc = {"type": "FeatureCollection",
           "source": "pygal-maps-fr 1.1.0 (Kozea, LGPLv3+), fr.departments.svg; georeferenced and simplified by "
                     "scripts/make_departements.py", "features": features}
    text = json.dumps(doc, separators=(",", ":"))
    text = re.sub(r"(\d)\.0(?=[,\]])", r"\1", text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"{args.out}: {len(features)} features, {len(text) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
