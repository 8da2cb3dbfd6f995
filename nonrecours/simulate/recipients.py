"""Recipients of the synthetic population: characteristics, eligibility, take-up.

Internal module of :mod:`nonrecours.simulate`. Every draw is vectorised over
recipients: categorical variables are drawn by inverse CDF from a small table
of cumulative probabilities indexed by a group code (territory, benefit...),
never by a Python loop over rows or territories.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from .params import BENEFITS, RIGHTS, CompositionParams, EligibilityParams, RightModel, TakeupParams

__all__ = ["draw_categorical", "benefit_probabilities", "draw_composition", "draw_eligibility", "draw_takeup"]


def _cumulative(probs: np.ndarray) -> np.ndarray:
    """Cumulative probabilities along the last axis, exact 1.0 where no mass is left."""
    p = np.asarray(probs, dtype=float)
    p = p / p.sum(axis=-1, keepdims=True)
    cum = np.cumsum(p, axis=-1)
    rest = np.flip(np.cumsum(np.flip(p, axis=-1), axis=-1), axis=-1)  # mass from k onwards
    left = np.concatenate([rest[..., 1:], np.zeros(p.shape[:-1] + (1,))], axis=-1)  # mass after k
    return np.where(left <= 0.0, 1.0, cum)


def draw_categorical(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Draw one category per row from the probability row of its group.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    probs : numpy.ndarray, shape (G, K)
        Category probabilities of each group (rows sum to 1).
    group : numpy.ndarray of int, shape (n,)
        Group of each row.

    Returns
    -------
    numpy.ndarray of int8, shape (n,)
        Category codes ``0 .. K-1``.

    Notes
    -----
    Inverse CDF: with ``U`` uniform on ``(0, 1]`` the code is
    ``sum_k 1{U > F_k}``, ``F`` the cumulative probabilities of the group; a
    category of probability zero is never drawn.
    """
    cum = _cumulative(probs)
    u = 1.0 - rng.random(len(group))
    code = np.zeros(len(group), dtype=np.int8)
    for k in range(cum.shape[1] - 1):
        code += u > cum[group, k]
    return code


def benefit_probabilities(
    is_qpv: np.ndarray, poverty: np.ndarray, weights: np.ndarray, params: CompositionParams, iterations: int = 100
) -> np.ndarray:
    """Benefit probabilities per territory, matching the overall shares on average.

    Parameters
    ----------
    is_qpv, poverty : numpy.ndarray, shape (T,)
        QPV indicator and poverty factor of each territory.
    weights : numpy.ndarray, shape (T,)
        Number of recipients of each territory.
    params : CompositionParams
        Overall shares and territory shifts.
    iterations : int
        Maximum number of intercept updates.

    Returns
    -------
    numpy.ndarray, shape (T, 4)

    Notes
    -----
    Multinomial logit ``P[t, b] ∝ exp(c_b + s_b (r P_t + q Q_t))`` with
    ``s_b = 1`` for RSA and ASS and 0 otherwise. The intercepts ``c`` are
    updated by ``c_b += log(target_b / achieved_b)`` (iterative proportional
    fitting of the margins) until the recipient-weighted mean of ``P`` equals
    the target shares.
    """
    target = np.asarray(params.benefit_shares, dtype=float)
    shift = params.rsa_poverty_shift * poverty + params.rsa_qpv_shift * is_qpv
    s = np.array([1.0, 0.0, 0.0, 1.0])
    w = np.asarray(weights, dtype=float)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / max(len(w), 1))
    c = np.log(np.maximum(target, 1e-300))
    for _ in range(iterations):
        eta = c[None, :] + shift[:, None] * s[None, :]
        eta -= eta.max(axis=1, keepdims=True)
        p = np.exp(eta)
        p /= p.sum(axis=1, keepdims=True)
        achieved = w @ p
        if np.max(np.abs(achieved - target)) < 1e-12:
            break
        c += np.log(np.maximum(target, 1e-300) / np.maximum(achieved, 1e-300))
    return p


def draw_composition(
    rng: np.random.Generator,
    terr: np.ndarray,
    benefit_probs: np.ndarray,
    social_share: np.ndarray,
    params: CompositionParams,
) -> dict:
    """Benefit, age band, household and housing codes of each recipient.

    Housing depends on the benefit and on the territory's share of social
    housing: the log-odds of social housing are shifted by
    ``housing_link * (logit(share_t) - logit(reference))``.

    Returns
    -------
    dict
        ``benefit``, ``age_band``, ``household``, ``housing``: int8 codes.
    """
    benefit = draw_categorical(rng, benefit_probs, terr)
    age = draw_categorical(rng, np.asarray(params.age_by_benefit), benefit)
    household = draw_categorical(rng, np.asarray(params.household_by_benefit), benefit)
    base = np.asarray(params.housing_by_benefit, dtype=float)  # (4, 3)
    odds = np.exp(params.housing_link * (logit(social_share) - logit(params.housing_reference_share)))
    table = np.broadcast_to(base, (len(social_share),) + base.shape).copy()  # (T, 4, 3)
    table[:, :, 0] *= odds[:, None]
    table /= table.sum(axis=2, keepdims=True)
    housing = draw_categorical(rng, table.reshape(-1, 3), terr.astype(np.int64) * len(BENEFITS) + benefit)
    return {"benefit": benefit, "age_band": age, "household": household, "housing": housing}


def draw_eligibility(rng: np.random.Generator, comp: dict, params: EligibilityParams) -> dict:
    """Eligibility masks of the four rights.

    Returns
    -------
    dict of str to numpy.ndarray of bool
        ``cmuc``: income below the CMU-C ceiling; ``acs``: in the ACS band;
        ``tpn``/``tss``: CMU-C or ACS eligible with an electricity/gas contract.
    """
    pos = np.asarray(params.position_by_benefit, dtype=float)  # (4, 3)
    couple_pos = pos.copy()
    moved = params.couple_above_shift * couple_pos[:, :2]
    couple_pos[:, :2] -= moved
    couple_pos[:, 2] += moved.sum(axis=1)
    couple_pos[0] = pos[0]  # the RSA is means-tested on the household: always below the ceiling
    table = np.stack([pos, couple_pos], axis=1).reshape(-1, 3)  # group = 2 b + couple
    couple = (comp["household"] >= 2).astype(np.int8)
    position = draw_categorical(rng, table, comp["benefit"].astype(np.int64) * 2 + couple)
    health = position < 2
    n = len(position)
    electricity = rng.random(n) < np.asarray(params.electricity_by_housing)[comp["housing"]]
    gas = rng.random(n) < np.asarray(params.gas_by_housing)[comp["housing"]]
    return {"cmuc": position == 0, "acs": position == 1, "tpn": health & electricity, "tss": health & gas}


def _solve_intercept(eta: np.ndarray, target: float, tol: float = 1e-10) -> float:
    """Intercept ``a`` with ``mean(expit(a + eta)) == target`` (Newton's method)."""
    if eta.size == 0:
        return float(logit(target))
    a = float(logit(target) - eta.mean())
    for _ in range(50):
        p = expit(a + eta)
        f = p.mean() - target
        if abs(f) < tol:
            break
        a -= f / max(float(np.mean(p * (1.0 - p))), 1e-12)
    return a


def draw_takeup(
    rng: np.random.Generator,
    terr: np.ndarray,
    is_qpv: np.ndarray,
    access: np.ndarray,
    comp: dict,
    eligible: dict,
    params: TakeupParams,
) -> tuple[dict, dict, np.ndarray]:
    """Take-up of each right among its eligible recipients.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    terr : numpy.ndarray of int, shape (n,)
        Territory index of each recipient.
    is_qpv, access : numpy.ndarray, shape (T,)
        QPV indicator and access factor of each territory.
    comp, eligible : dict
        Output of :func:`draw_composition` and :func:`draw_eligibility`.
    params : TakeupParams
        Models and random effect.

    Returns
    -------
    rights : dict of str to numpy.ndarray of float64
        1 = takes up, 0 = eligible but does not, NaN = not eligible.
    intercepts : dict of str to float
        The solved intercepts.
    effects : numpy.ndarray, shape (T, 4)
        Territory random effects ``u[t, r]``.

    Notes
    -----
    ``u[t, r] = sd (sqrt(rho) A_t + sqrt(1 - rho) E_tr)`` with ``A`` the
    access factor, ``E`` independent standard normals, ``sd = territory_sd``,
    ``rho = right_corr``. CMU-C and ACS are drawn before TPN and TSS, whose
    models include a CMU-C/ACS take-up term.
    """
    sd, rho = params.territory_sd, params.right_corr
    effects = sd * (
        np.sqrt(rho) * access[:, None] + np.sqrt(1.0 - rho) * rng.standard_normal((len(access), len(RIGHTS)))
    )
    n = len(terr)
    rights: dict = {}
    intercepts: dict = {}
    took_health = np.zeros(n, dtype=bool)
    for j, right in enumerate(RIGHTS):
        m: RightModel = params.model(right)
        idx = np.flatnonzero(eligible[right])
        t = terr[idx]
        b = comp["benefit"][idx]
        eta = (
            np.asarray(m.benefit)[b]
            + np.asarray(m.household)[comp["household"][idx]]
            + np.asarray(m.housing)[comp["housing"][idx]]
            + m.qpv * is_qpv[t]
            + effects[t, j]
        )
        if m.health:
            eta += m.health * took_health[idx]
        group = eta if m.target_benefit is None else eta[b == BENEFITS.index(m.target_benefit)]
        a = _solve_intercept(group, m.target_rate)
        take = rng.random(idx.size) < expit(a + eta)
        col = np.full(n, np.nan)
        col[idx] = take
        rights[right] = col
        intercepts[right] = float(a)
        if right in ("cmuc", "acs"):
            took_health[idx[take]] = True
    return rights, intercepts, effects
