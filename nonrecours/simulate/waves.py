"""Waves of the synthetic population: one frame and one truth per year.

The first year is :func:`~nonrecours.simulate.simulate_population`; each later
year evolves the previous one: recipients leave (exits), new recipients enter
(with the characteristics of a random recipient of the same territory and new
identifiers), some move to another territory, and take-up follows a trend per
right and territory type, with persistence of each recipient's status and a
policy effect in a chosen set of QPVs. Same seed, same files.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from ..errors import OptionError, OutputError, message
from ..io import write_json, write_table
from .effects import draw_territory_effects, territory_neighbours
from .params import RIGHTS, SimulationParams, TerritoryEffectParams
from .population import Population, _truth, check_outputs, simulate_population

__all__ = ["WaveParams", "Waves", "simulate_waves", "parse_years"]


@dataclass(frozen=True)
class WaveParams:
    """How the population evolves from one year to the next.

    Parameters
    ----------
    exit_rate : float
        Share of recipients leaving the benefits each year (0.10).
    entry_rate : float
        Entrants each year, as a share of the previous year's recipients (0.10).
    move_rate : float
        Share of staying recipients who move to another territory of their
        département (0.03).
    persistence : float
        Probability that an eligible recipient keeps last year's take-up status;
        otherwise the status is redrawn from the year's probability (0.7).
    trend : tuple of float
        Yearly change of take-up on the logit scale per right (order of
        :data:`~nonrecours.simulate.params.RIGHTS`): CMU-C +0.05, ACS +0.10,
        TPN -0.05, TSS 0.
    qpv_trend : float
        Extra yearly logit change in QPVs (+0.02).
    policy_share : float
        Share of QPVs receiving the policy (0.2), drawn once.
    policy_effect : float
        Logit shift of take-up in the policy QPVs from ``policy_start`` on (0.6).
    policy_start : int
        Index of the first year with the policy (1: the second year).
    effects : TerritoryEffectParams
        Territory effects of the years after the first: persistent (AR(1)), shared by the rights, spatially
        smooth over the territories' neighbours (:class:`~nonrecours.simulate.params.TerritoryEffectParams`).
    """

    exit_rate: float = 0.10
    entry_rate: float = 0.10
    move_rate: float = 0.03
    persistence: float = 0.7
    trend: tuple[float, float, float, float] = (0.05, 0.10, -0.05, 0.0)
    qpv_trend: float = 0.02
    policy_share: float = 0.2
    policy_effect: float = 0.6
    policy_start: int = 1
    effects: TerritoryEffectParams = field(default_factory=TerritoryEffectParams)

    def __post_init__(self) -> None:
        for name in ("exit_rate", "entry_rate", "move_rate", "persistence", "policy_share"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise OptionError(
                    message(
                        "parameter out of range", where=f"parameter {name}", expected="a value in [0, 1]", found=repr(v)
                    )
                )
        if len(self.trend) != len(RIGHTS):
            raise OptionError(
                message(
                    "one trend per right",
                    where="parameter trend",
                    expected=f"{len(RIGHTS)} values",
                    found=repr(self.trend),
                )
            )


@dataclass(frozen=True, eq=False)
class Waves:
    """Yearly populations: ``populations[k]`` is year ``years[k]``; ``policy`` the policy territories.

    ``neighbours`` (``territory_a``, ``territory_b``, both orders) is the adjacency over which the territory
    effects are spatially smooth; ``effects`` the effects themselves (``year``, ``territory``, ``right``,
    ``effect`` on the logit scale, 0 in the first year).
    """

    years: tuple[int, ...]
    populations: tuple[Population, ...]
    policy: tuple[str, ...]
    params: WaveParams = field(repr=False)
    seed: int
    neighbours: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["territory_a", "territory_b"]))
    effects: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["year", "territory", "right", "effect"]), repr=False
    )

    def truth(self) -> pd.DataFrame:
        """True take-up per year, territory and right (``year`` first)."""
        return pd.concat(
            [p.truth.assign(year=y)[["year", *p.truth.columns]] for y, p in zip(self.years, self.populations)],
            ignore_index=True,
        )

    def write(self, directory: str | os.PathLike, format: str = "csv", *, overwrite: bool = False) -> dict:
        """Write ``DIR/<year>/{recipients,territories,truth}``, ``DIR/neighbours.csv`` (the adjacency of the
        spatially smooth effects, the format of ``territorial neighbours``) and ``DIR/waves.json``.

        Everything is checked before the first file is written.
        """
        d = Path(directory)
        for y in self.years:
            check_outputs(d / str(y), format, overwrite=overwrite)
        meta = d / "waves.json"
        nb = d / "neighbours.csv"
        for f in (meta, nb):
            if f.exists() and not overwrite:
                raise OutputError(
                    message(
                        "output files already exist",
                        where=f"parameter directory {str(d)!r}",
                        found=str(f),
                        hint="choose another folder or set parameter overwrite",
                    )
                )
        paths = {}
        for y, p in zip(self.years, self.populations):
            paths[y] = p.write(d / str(y), format, overwrite=overwrite)
        write_table(self.neighbours, nb)
        write_json(
            {
                "years": list(self.years),
                "seed": self.seed,
                "policy_territories": list(self.policy),
                "params": asdict(self.params),
            },
            meta,
        )
        return paths


def parse_years(text: str) -> tuple[int, ...]:
    """``"2014-2018"`` -> (2014, ..., 2018); ``"2014,2016"`` -> (2014, 2016)."""
    t = str(text).strip()
    try:
        if "-" in t:
            a, b = (int(v) for v in t.split("-", 1))
            years = tuple(range(a, b + 1))
        else:
            years = tuple(int(v) for v in t.split(",") if v.strip())
    except ValueError:
        years = ()
    if len(years) < 1 or list(years) != sorted(set(years)):
        raise OptionError(
            message(
                "malformed years", where="parameter years", expected="FIRST-LAST such as 2014-2018", found=repr(text)
            )
        )
    return years


def _ids(start: int, n: int) -> np.ndarray:
    """Identifiers ``R<number>`` (7 digits at least) for numbers start+1 .. start+n."""
    k = np.arange(start + 1, start + n + 1)
    return np.char.add("R", np.char.zfill(k.astype(str), 7)).astype(object)


def _evolve(
    prev: pd.DataFrame,
    t_index: int,
    base_logit: np.ndarray,
    territories: pd.DataFrame,
    policy_mask: np.ndarray,
    p: WaveParams,
    rng: np.random.Generator,
    next_id: int,
    effect: np.ndarray,
) -> tuple[pd.DataFrame, int]:
    """One year of exits, entries, moves and take-up."""
    codes = territories["territory"].to_numpy().astype(str)
    deps = territories["departement"].to_numpy().astype(str)
    is_qpv = territories["is_qpv"].to_numpy().astype(np.int64)
    terr_prev = pd.Categorical(prev["territory"].astype(str), categories=codes).codes.astype(np.int64)
    n = len(prev)
    stay = rng.random(n) >= p.exit_rate
    keep = prev.loc[stay].reset_index(drop=True)
    terr = terr_prev[stay]
    # moves within the département (vectorised: a random territory of the same département)
    dep_codes, dep_of_terr = np.unique(deps, return_inverse=True)
    order = np.argsort(dep_of_terr, kind="stable")
    first = np.searchsorted(dep_of_terr[order], np.arange(dep_codes.size))
    count = np.bincount(dep_of_terr, minlength=dep_codes.size)
    move = rng.random(len(terr)) < p.move_rate
    dep = dep_of_terr[terr[move]]
    terr[move] = order[first[dep] + (rng.random(move.sum()) * count[dep]).astype(np.int64)]
    # entries: characteristics (and eligibility) of a random current recipient, new ids
    n_new = int(rng.binomial(n, p.entry_rate))
    donors = rng.integers(0, n, n_new)
    new = prev.iloc[donors].reset_index(drop=True)
    new["id"] = _ids(next_id, n_new)
    for r in RIGHTS:
        new[r] = np.where(np.isnan(new[r].to_numpy(dtype=float)), np.nan, -1.0)  # eligible, status to draw
    out = pd.concat([keep, new], ignore_index=True)
    terr = np.concatenate([terr, terr_prev[donors]])
    out["territory"] = pd.Categorical.from_codes(terr, categories=pd.Index(codes, dtype="str"))
    out["departement"] = pd.Categorical(deps[terr], categories=pd.Index(np.unique(deps), dtype="str"))
    out["is_qpv"] = is_qpv[terr]
    # take-up: persistence, else a draw from the year's probability
    t = t_index
    for j, r in enumerate(RIGHTS):
        y = out[r].to_numpy(dtype=float).copy()
        elig = ~np.isnan(y)
        shift = p.trend[j] * t + p.qpv_trend * t * is_qpv + p.policy_effect * (policy_mask & (t >= p.policy_start))
        prob = expit(base_logit[:, j] + shift + effect[:, j])[terr]
        redraw = elig & ((y < 0) | (rng.random(len(y)) >= p.persistence))
        y[redraw] = (rng.random(int(redraw.sum())) < prob[redraw]).astype(float)
        out[r] = y
    return out, n_new


def simulate_waves(
    n_territories: int = 1500,
    years: tuple[int, ...] = (2014, 2015, 2016),
    *,
    seed: int,
    params: SimulationParams | None = None,
    waves: WaveParams | None = None,
) -> Waves:
    """Simulate the population of each year.

    Parameters
    ----------
    n_territories : int
        Number of QPVs (each with the rest of its urban area).
    years : tuple of int
        Consecutive or not, increasing; the trend counts years from the first.
    seed : int
        Seed: the first year uses it for :func:`simulate_population`; year *k*
        draws from ``default_rng([seed, k])``.
    params, waves : SimulationParams, WaveParams, optional

    Returns
    -------
    Waves

    Notes
    -----
    The take-up probability of recipient *i* of territory *t* in year *k* is
    ``expit(b[t, r] + trend_r k + qpv_trend k Q_t + effect P_t 1{k >= start} + a[t, r, k])``
    with ``b`` the logit of the first year's true rate of the territory (empirical
    logit, clipped), ``Q_t`` the QPV indicator, ``P_t`` the policy indicator and
    ``a`` the territory effect of the year (:class:`~nonrecours.simulate.params.TerritoryEffectParams`:
    AR(1) over the years, shared by the rights, SAR over :attr:`Waves.neighbours`; drawn from
    ``default_rng([seed, 0, 1])``, so that the other draws are those of earlier versions).
    An eligible recipient keeps last year's status with probability
    ``persistence`` (this correlation between years is what makes a panel
    estimate changes more precisely than independent samples).

    Examples
    --------
    >>> w = simulate_waves(5, (2014, 2015), seed=1)
    >>> [len(p.truth) for p in w.populations]
    [40, 40]
    """
    p = WaveParams() if waves is None else waves
    years = tuple(int(y) for y in years)
    first = simulate_population(n_territories, seed=seed, params=params)
    territories = first.territories
    codes = territories["territory"].to_numpy().astype(str)
    truth = first.truth
    n_e = truth["n_eligible"].to_numpy(dtype=float).reshape(len(codes), len(RIGHTS))
    n_t = truth["n_takers"].to_numpy(dtype=float).reshape(len(codes), len(RIGHTS))
    base = logit(np.clip((n_t + 0.5) / (n_e + 1.0), 0.02, 0.98))
    rng0 = np.random.default_rng([int(seed), 0])
    qpv = np.flatnonzero(territories["is_qpv"].to_numpy() == 1)
    n_policy = int(round(p.policy_share * qpv.size))
    chosen = np.sort(rng0.choice(qpv, size=n_policy, replace=False)) if n_policy else np.zeros(0, np.int64)
    policy_mask = np.zeros(len(codes), dtype=bool)
    policy_mask[chosen] = True
    neighbours = territory_neighbours(territories, p.effects.k_neighbours)
    effects = draw_territory_effects(
        codes, neighbours, years, len(RIGHTS), p.effects, np.random.default_rng([int(seed), 0, 1])
    )
    pops = [first]
    recipients = first.recipients
    next_id = len(recipients)
    for k in range(1, len(years)):
        rng = np.random.default_rng([int(seed), years[k] - years[0]])
        rec, n_new = _evolve(
            recipients, years[k] - years[0], base, territories, policy_mask, p, rng, next_id, effects[:, :, k]
        )
        next_id += n_new
        terr = rec["territory"].cat.codes.to_numpy().astype(np.int64)
        tr = _truth(codes, terr, {r: rec[r].to_numpy(dtype=float) for r in RIGHTS})
        counts = np.bincount(terr, minlength=len(codes))
        rsa = np.bincount(terr, weights=(rec["benefit"] == "RSA").to_numpy(), minlength=len(codes))
        with np.errstate(invalid="ignore", divide="ignore"):
            terrs = territories.assign(
                n_recipients=counts, rsa_share=np.round(rsa / np.where(counts > 0, counts, np.nan), 4)
            )
        pops.append(
            Population(
                recipients=rec,
                territories=terrs,
                truth=tr,
                seed=int(seed),
                params=first.params,
                intercepts=first.intercepts,
            )
        )
        recipients = rec
    m, R, K = effects.shape
    effect_table = pd.DataFrame(
        {
            "year": np.repeat(np.asarray(years), m * R),
            "territory": np.tile(np.repeat(codes, R), K),
            "right": np.tile(np.asarray(RIGHTS), m * K),
            "effect": effects.transpose(2, 0, 1).ravel(),
        }
    )
    return Waves(
        years=years,
        populations=tuple(pops),
        policy=tuple(codes[chosen]),
        params=p,
        seed=int(seed),
        neighbours=neighbours,
        effects=effect_table,
    )
