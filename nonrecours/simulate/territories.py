"""Territories of the synthetic population: QPVs paired with the rest of their urban area.

Internal module of :mod:`nonrecours.simulate`: draws codes, populations,
latent factors and covariates, vectorised over territories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from ..errors import OptionError, message
from .params import CovariateParams, TerritoryParams

__all__ = ["TerritoryDraw", "draw_territories"]


@dataclass(frozen=True)
class TerritoryDraw:
    """Territories in pair order (QPV, then the rest of its urban area), 2 N rows.

    Attributes
    ----------
    code, departement, urban_area : numpy.ndarray of str
        Territory code (``QP075001``/``HQ075001``), département (``75``), urban
        area (``UA075001``).
    is_qpv : numpy.ndarray of int8
        1 for a QPV, 0 for the rest of the urban area.
    population : numpy.ndarray of int64
        Inhabitants.
    n_recipients : numpy.ndarray of int64
        Recipients of the four benefits.
    poverty, access : numpy.ndarray of float
        Latent standard-normal factors (poverty drives density and the
        socio-economic covariates, access drives the take-up random effect).
    covariates : dict of str to numpy.ndarray
        Covariates drawn at territory level (the RSA share is added later from
        the recipients).
    """

    code: np.ndarray
    departement: np.ndarray
    urban_area: np.ndarray
    is_qpv: np.ndarray
    population: np.ndarray
    n_recipients: np.ndarray
    poverty: np.ndarray
    access: np.ndarray
    covariates: dict


def _codes(n: int, rng: np.random.Generator, params: TerritoryParams) -> tuple[np.ndarray, np.ndarray]:
    """Draw the département of each QPV and number QPVs within département.

    Serials have 3 digits (``QP059001``), or as many as the largest
    département needs beyond 999 QPVs (``QP0591000``; national-scale
    simulations), the same width for every code.
    """
    deps = np.array([d for d, _ in params.departement_weights])
    w = np.array([w for _, w in params.departement_weights], dtype=float)
    counts = rng.multinomial(n, w / w.sum())
    width = max(3, len(str(int(counts.max()))))
    dep = np.repeat(deps, counts)
    serial = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    dep3 = np.char.zfill(dep.astype("U3"), 3)
    tail = np.char.add(dep3, np.char.zfill(serial.astype(f"U{width}"), width))
    return dep, tail


def _factor_pairs(n: int, rng: np.random.Generator, corr: float) -> np.ndarray:
    """Standard-normal factor for (QPV, rest) pairs, correlated ``corr`` within a pair."""
    z = rng.standard_normal((n, 2))
    z[:, 1] = corr * z[:, 0] + np.sqrt(1.0 - corr**2) * z[:, 1]
    return z.ravel()


def _covariates(
    is_qpv: np.ndarray, poverty: np.ndarray, access: np.ndarray, rng: np.random.Generator, p: CovariateParams
) -> dict:
    """Socio-economic covariates from the poverty factor, service densities from access."""
    m = len(is_qpv)
    pick = lambda pair: np.where(is_qpv == 1, pair[0], pair[1])  # noqa: E731
    out = {}
    for name in ("poverty_rate", "unemployment_rate", "social_housing_share"):
        eta = logit(pick(getattr(p, name))) + p.poverty_slope * poverty + p.poverty_noise * rng.standard_normal(m)
        out[name] = np.round(expit(eta), 4)
    income = pick(p.median_income) * np.exp(p.income_slope * poverty + p.income_noise * rng.standard_normal(m))
    out["median_income"] = np.round(income, -1).astype(np.int64)
    for name in ("gp_density", "service_density"):
        out[name] = np.round(
            pick(getattr(p, name)) * np.exp(p.access_slope * access + p.access_noise * rng.standard_normal(m)), 2
        )
    return out


def draw_territories(
    n: int, rng: np.random.Generator, params: TerritoryParams, covariates: CovariateParams
) -> TerritoryDraw:
    """Draw ``n`` QPVs and the rest of their urban areas (``2 n`` territories).

    Parameters
    ----------
    n : int
        Number of QPVs (and of urban areas).
    rng : numpy.random.Generator
        Random generator (consumed in a fixed order).
    params : TerritoryParams
        Sizes and densities.
    covariates : CovariateParams
        Covariate model.

    Returns
    -------
    TerritoryDraw

    Notes
    -----
    QPV population: ``min + exp(mu + sigma Z)`` (see
    :meth:`TerritoryParams.qpv_lognormal`); rest of the urban area: QPV
    population times ``outside_scale * exp(log(ratio_median) + ratio_sigma Z')``.
    Recipients: Poisson with mean ``population * density * exp(s P - s^2/2)``,
    ``P`` the poverty factor, ``s = density_sigma``.
    """
    if n > params.max_territories:
        raise OptionError(
            message(
                "too many territories",
                where="n_territories",
                expected=f"at most {params.max_territories}",
                found=str(n),
            )
        )
    dep, tail = _codes(n, rng, params)
    mu, sigma = params.qpv_lognormal()
    pop_q = params.qpv_pop_min + np.exp(mu + sigma * rng.standard_normal(n))
    ratio = params.outside_scale * np.exp(
        np.log(params.outside_ratio_median) + params.outside_ratio_sigma * rng.standard_normal(n)
    )
    population = np.rint(np.column_stack([pop_q, pop_q * ratio]).ravel()).astype(np.int64)
    is_qpv = np.tile(np.array([1, 0], dtype=np.int8), n)
    poverty = _factor_pairs(n, rng, params.urban_area_corr)
    access = _factor_pairs(n, rng, params.urban_area_corr)
    s = params.density_sigma
    density = np.where(is_qpv == 1, params.qpv_density, params.outside_density) * np.exp(s * poverty - s * s / 2)
    n_recipients = rng.poisson(population * density).astype(np.int64)
    code = np.column_stack([np.char.add("QP", tail), np.char.add("HQ", tail)]).ravel()
    return TerritoryDraw(
        code=code,
        departement=np.repeat(dep, 2),
        urban_area=np.repeat(np.char.add("UA", tail), 2),
        is_qpv=is_qpv,
        population=population,
        n_recipients=n_recipients,
        poverty=poverty,
        access=access,
        covariates=_covariates(is_qpv, poverty, access, rng, covariates),
    )


def territory_frame(t: TerritoryDraw, extra: dict) -> pd.DataFrame:
    """Assemble the ``territories`` table (one row per territory, pair order)."""
    data = {
        "territory": t.code,
        "departement": t.departement,
        "is_qpv": t.is_qpv,
        "urban_area": t.urban_area,
        "population": t.population,
        "n_recipients": t.n_recipients,
    }
    data.update(t.covariates)
    data.update(extra)
    df = pd.DataFrame(data)
    for c in ("territory", "departement", "urban_area"):
        df[c] = df[c].astype("str")
    return df
