"""Territory effects of the follow-up years: the neighbours of the simulated territories and the yearly draws.

Internal module of :mod:`nonrecours.simulate` (used by :func:`~nonrecours.simulate.waves.simulate_waves`): the
adjacency of the territories comes from the layout of the simulated contours
(:func:`~nonrecours.simulate.contours.layout_urban_areas`, the one the maps and the administrative phase use);
the effects are persistent over years (AR(1)), shared by the rights and spatially smooth (SAR), as
:class:`~nonrecours.simulate.params.TerritoryEffectParams` states.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .contours import layout_urban_areas
from .params import TerritoryEffectParams

__all__ = ["territory_neighbours", "draw_territory_effects"]


def territory_neighbours(territories: pd.DataFrame, k: int = 4) -> pd.DataFrame:
    """Pairs of neighbouring territories of a simulated ``territories`` table (pair order), both orders.

    Parameters
    ----------
    territories : DataFrame
        ``territory``, ``urban_area``, ``departement``, ``is_qpv`` (as :func:`~nonrecours.simulate.simulate_population`
        writes them).
    k : int
        Each urban area is adjacent to its ``k`` nearest urban areas (centres of the contours' layout, within
        the same projection: mainland France or one overseas département), the relation made symmetric.

    Returns
    -------
    DataFrame
        ``territory_a``, ``territory_b``, sorted, each pair in both orders (the format of
        ``nonrecours territorial neighbours``).

    Notes
    -----
    A QPV neighbours the rest of its own urban area; for adjacent urban areas, their QPVs neighbour each other
    and so do their non-QPV parts. The simulated QPV contours do not touch (each sits inside its urban area), so
    a shared-boundary rule would leave them isolated: the nearest urban areas stand for ``territorial
    neighbours --distance``. One k-d tree query per projection, no loop over territories.

    Examples
    --------
    >>> from nonrecours.simulate import simulate_population
    >>> nb = territory_neighbours(simulate_population(6, seed=1).territories, k=2)
    >>> list(nb.columns), bool((nb["territory_a"] != nb["territory_b"]).all())
    (['territory_a', 'territory_b'], True)
    """
    from scipy.spatial import cKDTree

    layout = layout_urban_areas(territories, np.random.default_rng(0))  # centres do not depend on the generator
    pairs = [np.zeros((0, 2), dtype=np.int64)]
    for crs in pd.unique(layout.crs):  # a handful of projections
        idx = np.flatnonzero(layout.crs == crs)
        kk = min(int(k), idx.size - 1)
        if kk < 1:
            continue
        pts = np.column_stack([layout.cx[idx], layout.cy[idx]])
        _, nn = cKDTree(pts).query(pts, k=kk + 1)
        a = np.repeat(idx, kk)
        b = idx[nn[:, 1:].ravel()]
        pairs.append(np.column_stack([a, b]))
    ua = np.concatenate(pairs)
    ua = np.unique(np.sort(ua, axis=1), axis=0)  # each adjacent pair of urban areas once
    codes = territories["territory"].to_numpy().astype(str)
    pos = pd.Series(np.arange(len(codes)), index=codes)
    qpv = pos[layout.qpv].to_numpy()
    rest = pos[np.char.replace(layout.qpv.astype(str), "QP", "HQ", count=1)].to_numpy()
    a = np.concatenate([qpv, qpv[ua[:, 0]], rest[ua[:, 0]]])
    b = np.concatenate([rest, qpv[ua[:, 1]], rest[ua[:, 1]]])
    out = pd.DataFrame({"territory_a": codes[np.r_[a, b]], "territory_b": codes[np.r_[b, a]]})
    return out.drop_duplicates().sort_values(["territory_a", "territory_b"]).reset_index(drop=True)


def _sar_solver(neighbours: pd.DataFrame, codes: np.ndarray, rho: float):
    """LU factors of :math:`I - \\rho W` (``W`` the row-standardised adjacency of ``codes``)."""
    m = len(codes)
    pos = pd.Series(np.arange(m), index=pd.Index(codes, dtype=str))
    a = pos[neighbours["territory_a"].astype(str)].to_numpy()
    b = pos[neighbours["territory_b"].astype(str)].to_numpy()
    A = sp.csr_matrix((np.ones(len(a)), (a, b)), shape=(m, m))
    A.data[:] = 1.0  # a pair listed twice counts once
    deg = np.asarray(A.sum(axis=1)).ravel()
    W = sp.diags(np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)) @ A
    return splu((sp.identity(m, format="csc") - rho * W).tocsc())


def _unit_sd(z: np.ndarray) -> np.ndarray:
    """Columns scaled to unit SD over the territories (a column without spread is left as it is)."""
    sd = z.std(axis=0)
    return z / np.where(sd > 0, sd, 1.0)


def draw_territory_effects(
    codes: np.ndarray,
    neighbours: pd.DataFrame,
    years: tuple[int, ...],
    n_rights: int,
    params: TerritoryEffectParams,
    rng: np.random.Generator,
) -> np.ndarray:
    """The component :math:`a_{t,r,k}` of :class:`~nonrecours.simulate.params.TerritoryEffectParams`.

    Parameters
    ----------
    codes : numpy.ndarray of str
        Territories, in the order of the rows returned.
    neighbours : DataFrame
        ``territory_a``, ``territory_b`` (:func:`territory_neighbours`).
    years : tuple of int
        Increasing years; the AR step over a gap of ``g`` years is applied ``g`` times.
    n_rights : int
    params : TerritoryEffectParams
    rng : numpy.random.Generator
        Consumed in a fixed order: for each year after the first, the common field then one field per right.

    Returns
    -------
    numpy.ndarray, shape (territories, rights, years)
        Logit-scale component, 0 in the first year.
    """
    m, K = len(codes), len(years)
    out = np.zeros((m, n_rights, K))
    if K < 2 or params.innovation_sd == 0 or m == 0:
        return out
    lu = _sar_solver(neighbours, codes, params.spatial_rho)
    phi, lam = params.ar, params.right_share
    for k in range(1, K):
        g = int(years[k] - years[k - 1])
        eps = rng.standard_normal((m, 1 + n_rights))
        field = _unit_sd(lu.solve(eps))
        scale = params.innovation_sd * np.sqrt(np.sum(phi ** (2 * np.arange(g))))
        innov = np.sqrt(lam) * field[:, :1] + np.sqrt(1.0 - lam) * field[:, 1:]
        out[:, :, k] = phi**g * out[:, :, k - 1] + scale * innov
    return out
