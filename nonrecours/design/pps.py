"""Unequal-probability selection kernels: inclusion probabilities, systematic, Poisson, Sampford.

The kernels work on integer stratum codes and draw every stratum at once
(no loop over strata); :mod:`nonrecours.design.selection` builds the sample
table around them.
"""

from __future__ import annotations

import numpy as np

from ..errors import DesignError, InputError, message

__all__ = ["inclusion_probabilities", "systematic_draw", "poisson_draw", "sampford_draw", "sampford_joint_inclusion"]


def inclusion_probabilities(size: np.ndarray, n: np.ndarray | int, codes: np.ndarray | None = None) -> np.ndarray:
    """Inclusion probabilities proportional to size, capped at 1, within strata.

    Parameters
    ----------
    size : ndarray (N,)
        Positive size measures.
    n : int or ndarray (H,)
        Sample size of every stratum.
    codes : ndarray of int (N,), optional
        Stratum of every unit (one stratum when omitted).

    Returns
    -------
    ndarray (N,)
        :math:`\\pi_i`, summing to :math:`n_h` in every stratum.

    Notes
    -----
    :math:`\\pi_i = n_h x_i / \\sum_{j \\in U_h} x_j`; units with
    :math:`\\pi_i \\ge 1` are set to 1 and the others recomputed with
    :math:`n_h - \\#\\{\\pi = 1\\}`, until no new unit reaches 1 (Tillé 2006,
    §2.10; the algorithm of R ``sampling::inclusionprobabilities``). A stratum
    with :math:`n_h = N_h` is taken whole.

    Examples
    --------
    >>> inclusion_probabilities(np.array([1., 2., 3., 10.]), 2)
    array([0.16666667, 0.33333333, 0.5       , 1.        ])
    """
    size = np.asarray(size, float)
    codes = np.zeros(size.size, np.int64) if codes is None else np.asarray(codes)
    H = int(codes.max()) + 1 if codes.size else 0
    n = np.broadcast_to(np.asarray(n, float), (H,))
    if not (np.isfinite(size) & (size > 0)).all():
        raise InputError(
            message(
                "size measures must be positive",
                where="size column",
                expected="> 0 on every row",
                found=f"{int((~(size > 0)).sum())} rows missing or <= 0",
                hint="drop units of size 0 from the frame, or give them a small positive size",
            )
        )
    Nh = np.bincount(codes, minlength=H)
    whole = n >= Nh
    cert = whole[codes].copy()
    while True:
        rest = n - np.bincount(codes, weights=cert, minlength=H)
        tot = np.bincount(codes, weights=np.where(cert, 0.0, size), minlength=H)
        with np.errstate(divide="ignore", invalid="ignore"):
            pi = np.where(cert, 1.0, rest[codes] * size / tot[codes])
        new = ~cert & (pi >= 1)
        if not new.any():
            return pi
        cert |= new


def _stratum_cumsum(values: np.ndarray, codes_sorted: np.ndarray, H: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sums within consecutive strata: (sum up to and including i, sum before i)."""
    c = np.cumsum(values)
    starts = np.searchsorted(codes_sorted, np.arange(H))
    offset = np.concatenate([[0.0], c])[starts]
    cum = c - offset[codes_sorted]
    before = np.concatenate([[0.0], cum[:-1]])
    first = np.zeros(values.size, bool)
    first[starts[starts < values.size]] = True
    before[first] = 0.0
    return cum, before


def systematic_draw(
    pi: np.ndarray, order: np.ndarray, codes: np.ndarray, n: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Systematic selection with probabilities ``pi`` along ``order``, within strata.

    Parameters
    ----------
    pi : ndarray (N,)
        Inclusion probabilities summing to the integer ``n_h`` in every stratum.
    order : ndarray (N,)
        Row order of the list (grouped by stratum, in the sort order wanted).
    codes : ndarray (N,)
        Stratum of every row.
    n : ndarray (H,)
        Sample size per stratum.
    rng : numpy Generator

    Returns
    -------
    ndarray of bool (N,): selected rows.

    Notes
    -----
    With cumulated probabilities :math:`C_i` along the list and one start
    :math:`u_h \\sim U[0, 1)` per stratum, unit i is selected when an integer
    lies in :math:`(C_{i-1} - u_h, C_i - u_h]` (Madow 1949; Tillé 2006,
    §7.2). Equal probabilities :math:`n_h/N_h` give fractional-interval
    systematic sampling. Exactly :math:`n_h` units are drawn: the last
    cumulated value of a stratum is set to :math:`n_h`.
    """
    H = n.size
    cs = codes[order]
    cum, before = _stratum_cumsum(pi[order], cs, H)
    ends = np.searchsorted(cs, np.arange(H), side="right") - 1
    has = np.bincount(cs, minlength=H) > 0
    cum[ends[has]] = n[has]
    u = rng.random(H)[cs]
    sel_sorted = np.floor(cum - u) > np.floor(before - u)
    out = np.zeros(pi.size, bool)
    out[order] = sel_sorted
    return out


def poisson_draw(pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson sampling: each unit independently with probability ``pi`` (Hájek 1964)."""
    return rng.random(pi.size) < pi


def sampford_draw(
    pi: np.ndarray, codes: np.ndarray, rng: np.random.Generator, *, max_rounds: int = 100_000
) -> np.ndarray:
    """Sampford sampling within strata, all strata at once.

    Parameters
    ----------
    pi : ndarray (N,)
        Target inclusion probabilities, summing to an integer in every stratum.
    codes : ndarray (N,)
        Stratum of every unit.
    rng : numpy Generator

    Returns
    -------
    ndarray of bool (N,): selected units.

    Notes
    -----
    Sampford's design is :math:`p(s) \\propto \\sum_{i \\in s}(1-\\pi_i)
    \\prod_{j \\in s} \\pi_j/(1-\\pi_j)` for :math:`|s| = n`, whose first-order
    inclusion probabilities are exactly :math:`\\pi_i` (Sampford 1967). It is
    drawn as: a Poisson sample with probabilities :math:`\\pi_i`, kept if its
    size is n (conditional Poisson with the :math:`\\pi_i` as working
    probabilities), then accepted with probability
    :math:`\\sum_{i \\in s}(1-\\pi_i)/n` (Bondesson, Traat & Lundqvist 2006).
    Each round redraws every stratum not yet accepted. Units with
    :math:`\\pi = 1` are always selected.
    """
    H = int(codes.max()) + 1 if codes.size else 0
    sel = pi >= 1
    free = (pi > 0) & ~sel
    target = np.rint(np.bincount(codes, weights=np.where(free, pi, 0.0), minlength=H)).astype(np.int64)
    pending = target > 0
    units = np.flatnonzero(free)
    for _ in range(max_rounds):
        if not pending.any():
            return sel
        units = units[pending[codes[units]]]
        cu = codes[units]
        draw = rng.random(units.size) < pi[units]
        size = np.bincount(cu[draw], minlength=H)
        slack = np.bincount(cu[draw], weights=1 - pi[units[draw]], minlength=H)
        accept = pending & (size == target) & (rng.random(H) * np.maximum(target, 1) < slack)
        take = draw & accept[cu]
        sel[units[take]] = True
        pending &= ~accept
    raise DesignError(
        message(
            "Sampford sampling did not accept a sample",
            where="sampford",
            found=f"{int(pending.sum())} strata after {max_rounds} rounds",
            hint="probabilities very close to 1: use the method pps-systematic or take those units whole",
        )
    )


def sampford_joint_inclusion(pi: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
    """Joint inclusion probabilities :math:`\\pi_{ij}` of Sampford's design (one stratum).

    Parameters
    ----------
    pi : ndarray (N,)
        Inclusion probabilities in (0, 1) summing to an integer n >= 2.
    among : ndarray of int (m,), optional
        Only the pairs of these units (e.g. the sampled ones): an m x m result
        in O(N n + m^2 n) instead of N x N.

    Returns
    -------
    ndarray (N, N) or (m, m)
        :math:`\\pi_{ij}`, with :math:`\\pi_{ii} = \\pi_i` on the diagonal.

    Notes
    -----
    With :math:`p_i = \\pi_i/n`, :math:`\\lambda_i = p_i/(1 - n p_i)`,
    :math:`L_m` the elementary symmetric functions of the :math:`\\lambda` and
    :math:`L_m(\\bar{ij})` those without i and j (Sampford 1967, eq. 6.4):

    .. math:: \\pi_{ij} = K_n \\lambda_i \\lambda_j \\sum_{t=2}^{n}
              \\frac{t - n(p_i + p_j)}{n^{t-2}} L_{n-t}(\\bar{ij}),\\qquad
              K_n = \\Big(\\sum_{t=1}^{n} t L_{n-t} / n^t\\Big)^{-1}.

    Computed as R ``sampling::UPsampfordpi2`` does, vectorised over pairs; the
    :math:`L_m` by the product recursion (stable) rather than Newton's
    identities. Units with :math:`\\pi = 1` have :math:`\\pi_{ij} = \\pi_j`
    (handle them before calling: they are not allowed here).

    Reference: Sampford, M. R. (1967) On sampling without replacement with
    unequal probabilities of selection. *Biometrika* 54, 499-513.
    """
    pi = np.asarray(pi, float)
    n_float = pi.sum()
    n = int(round(n_float))
    if abs(n_float - n) > 1e-6 or n < 2 or not ((pi > 0) & (pi < 1)).all():
        raise DesignError(
            message(
                "Sampford joint probabilities need 0 < pi < 1 summing to an integer >= 2",
                where="sampford_joint_inclusion",
                found=f"sum {n_float:.6g}, range [{pi.min():.3g}, {pi.max():.3g}]",
            )
        )
    p = pi / n
    lam = p / (1 - n * p)
    L = np.zeros(n)
    L[0] = 1.0
    for lk in lam:  # elementary symmetric functions e_0..e_{n-1}
        L[1:] = L[1:] + lk * L[:-1]
    t = np.arange(1, n + 1)
    Kn = 1.0 / np.sum(t * L[n - t] / float(n) ** t)
    sub = np.arange(pi.size) if among is None else np.asarray(among, dtype=np.int64)
    li, lj = lam[sub][:, None], lam[sub][None, :]
    s, prod = li + lj, li * lj
    L2 = [np.ones_like(s), L[1] - s]
    for m in range(2, n - 1):
        L2.append(L[m] - s * L2[m - 1] - prod * L2[m - 2])
    pp = p[sub][:, None] + p[sub][None, :]
    acc = np.zeros_like(s)
    for tt in range(2, n + 1):
        acc += (tt - n * pp) * L2[n - tt] / float(n) ** (tt - 2)
    out = Kn * prod * acc
    np.fill_diagonal(out, pi[sub])
    return out
