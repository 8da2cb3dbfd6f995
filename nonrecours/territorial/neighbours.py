"""Neighbouring territories from their contours: the proximity structure of the spatial Fay–Herriot model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import OptionError, message

__all__ = ["contour_neighbours"]


def contour_neighbours(contours, *, distance_m: float = 0.0, contiguity: str = "rook") -> pd.DataFrame:
    """Pairs of neighbouring territories: a shared boundary, or (optionally) within a distance.

    Parameters
    ----------
    contours : Contours
        Polygons in WGS84 and their codes (:func:`nonrecours.admin.geo.read_contours`).
    distance_m : float
        Territories that do not touch are also neighbours when their contours are less than this many metres
        apart (geodesic distance between their nearest points; 0: touching only).
    contiguity : {"rook", "queen"}
        ``rook``: a boundary shared along a line; ``queen``: a single common point is enough.

    Returns
    -------
    DataFrame
        ``territory_a``, ``territory_b`` (each pair in both orders, sorted) and ``relation`` (``boundary`` or
        ``distance``).

    Notes
    -----
    Candidate pairs come from one ``STRtree`` query over all contours (no loop over territories); a pair
    shares a boundary when the intersection of the two boundaries has a positive length (rook) or is not
    empty (queen). Distances are geodesic (WGS84 ellipsoid) between the nearest points of the two contours.

    Examples
    --------
    >>> import shapely
    >>> from nonrecours.admin.geo import Contours
    >>> sq = [shapely.box(i, 0, i + 0.01, 0.01) for i in (0, 0.01, 0.03)]
    >>> c = Contours(codes=np.array(["A", "B", "C"]), departements=np.array(["", "", ""]), polygons=np.array(sq))
    >>> contour_neighbours(c)[["territory_a", "territory_b"]].values.tolist()
    [['A', 'B'], ['B', 'A']]
    """
    import shapely
    from pyproj import Geod

    if contiguity not in ("rook", "queen"):
        raise OptionError(
            message("unknown contiguity", where="option contiguity", expected="rook or queen", found=repr(contiguity))
        )
    if not (np.isfinite(distance_m) and distance_m >= 0):
        raise OptionError(
            message(
                "the distance must be a non-negative number of metres", where="option distance", found=repr(distance_m)
            )
        )
    polys = np.asarray(contours.polygons)
    codes = np.asarray(contours.codes, dtype=str)
    tree = shapely.STRtree(polys)
    a, b = tree.query(polys, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    common = shapely.intersection(shapely.boundary(polys[a]), shapely.boundary(polys[b]))
    touch = shapely.length(common) > 0 if contiguity == "rook" else ~shapely.is_empty(common)
    pairs = [(a[touch], b[touch], "boundary")]
    if distance_m > 0:
        lat = np.abs(shapely.get_coordinates(polys)[:, 1]).max() if len(polys) else 0.0
        deg = distance_m / (111_000.0 * max(np.cos(np.radians(min(lat, 89.0))), 1e-6))  # a bound in degrees
        c, d = tree.query(polys, predicate="dwithin", distance=deg)
        keep = c < d
        c, d = c[keep], d[keep]
        n = len(polys)
        new = ~np.isin(c * n + d, a[touch] * n + b[touch])  # pairs not already sharing a boundary
        c, d = c[new], d[new]
        line = shapely.get_coordinates(shapely.shortest_line(polys[c], polys[d])).reshape(-1, 2, 2)
        _, _, dist = Geod(ellps="WGS84").inv(line[:, 0, 0], line[:, 0, 1], line[:, 1, 0], line[:, 1, 1])
        near = dist < distance_m
        pairs.append((c[near], d[near], "distance"))
    ia = np.concatenate([p[0] for p in pairs] + [p[1] for p in pairs]).astype(int)
    ib = np.concatenate([p[1] for p in pairs] + [p[0] for p in pairs]).astype(int)
    rel = np.concatenate([np.full(len(p[0]), p[2]) for p in pairs] * 2) if ia.size else np.array([], dtype=str)
    out = pd.DataFrame({"territory_a": codes[ia], "territory_b": codes[ib], "relation": rel})
    return out.sort_values(["territory_a", "territory_b"]).reset_index(drop=True)
