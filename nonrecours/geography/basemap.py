"""Base map of France: département outlines and names (shipped data, no network).

The outlines (``data/departements.geojson``) are pre-projected: mainland
France and Corsica in Lambert-93 (EPSG:2154), each overseas département in the
metric projection of :data:`nonrecours.report.maps.OVERSEAS`, and a detailed
drawing of Paris and the petite couronne (75, 92, 93, 94, frame ``paris``,
Lambert-93 too) for the Île-de-France inset. They come from the package
``pygal-maps-fr`` 1.1.0 (LGPLv3+), georeferenced and simplified by
``scripts/make_departements.py`` (see ``data/README.md``); the codes and names
are INSEE's *Code officiel géographique* (``data/departements.csv``).

Examples
--------
>>> deps = departements()
>>> int((deps["frame"] != "paris").sum()), deps.loc[deps["code"] == "93", "name"].iloc[0]
(101, 'Seine-Saint-Denis')
>>> neighbours("93")
['75', '77', '92', '94', '95']
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

__all__ = ["departements", "departement_names", "neighbours", "PARIS_INSET"]

#: Départements of the Paris inset.
PARIS_INSET = ("75", "92", "93", "94")


@lru_cache(maxsize=1)
def departement_names() -> pd.Series:
    """Name of each of the 101 départements, indexed by code (INSEE COG)."""
    table = pd.read_csv(
        files("nonrecours.geography").joinpath("data/departements.csv"), dtype=str, keep_default_na=False
    )
    return pd.Series(table["name"].to_numpy(), index=pd.Index(table["code"].to_numpy(), name="code"), name="name")


@lru_cache(maxsize=1)
def _outlines() -> pd.DataFrame:
    import shapely

    data = json.loads(files("nonrecours.geography").joinpath("data/departements.geojson").read_text(encoding="utf-8"))
    feats = data["features"]
    props = pd.DataFrame([f["properties"] for f in feats])
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in feats])
    names = departement_names()
    return pd.DataFrame(
        {
            "code": props["code"].to_numpy(),
            "name": names.reindex(props["code"]).to_numpy(),
            "frame": props["frame"].to_numpy(),
            "crs": props["crs"].to_numpy(),
            "geometry": list(geoms),
        }
    )


def departements() -> pd.DataFrame:
    """Outlines of the départements, one row per (frame, département).

    Returns
    -------
    DataFrame
        ``code``, ``name``, ``frame`` (``metro``, ``paris`` for the detailed
        drawing of the Paris inset, or the overseas code), ``crs`` and
        ``geometry`` (shapely polygons, metres in ``crs``).
    """
    return _outlines().copy()


def neighbours(code: str, *, within: float = 1_000.0) -> list[str]:
    """Codes of the départements that share a border with ``code`` (within ``within`` metres), sorted.

    Borders are compared on the simplified outlines, hence the tolerance.
    """
    import shapely

    deps = _outlines()
    deps = deps[deps["frame"] != "paris"]
    this = deps[deps["code"] == str(code)]
    if this.empty:
        return []
    frame = this["frame"].iloc[0]
    same = deps[(deps["frame"] == frame) & (deps["code"] != str(code))]
    near = shapely.dwithin(np.asarray(list(same["geometry"]), dtype=object), this["geometry"].iloc[0], within)
    return sorted(same.loc[near, "code"].tolist())
