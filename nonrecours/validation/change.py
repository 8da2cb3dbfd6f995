"""Monte Carlo check of change estimates between two waves of the synthetic population.

:func:`validate_change` draws, ``replications`` times, a first-wave sample and a
second-wave sample coordinated by the chosen scheme (:mod:`nonrecours.design.waves`),
estimates the change of take-up per domain and right
(:func:`~nonrecours.estimation.change.estimate_change`) and compares the mean
estimated SE with the empirical SD of the change and the coverage of the
intervals with the nominal level, each with its Monte Carlo error.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..design.survey_design import SurveyDesign
from ..design.waves import coordinate
from ..errors import OptionError, message
from ..estimation.change import estimate_change
from ..options import WaveScheme, check_option

__all__ = ["ChangeValidation", "validate_change", "proportional_sizes"]


@dataclass(frozen=True, eq=False)
class ChangeValidation:
    """Per (domain, right): the true change and the Monte Carlo measures; ``settings`` the run."""

    table: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Pooled over the estimates: mean SE / SD ratio, coverage, and their spread."""
        t = self.table
        return pd.DataFrame(
            {
                "scheme": [self.settings.get("scheme")],
                "estimates": [len(t)],
                "se_sd_ratio": [float(np.sqrt((t["mean_se"] ** 2).mean() / (t["sd"] ** 2).mean()))],
                "min_ratio": [float(t["se_sd_ratio"].min())],
                "max_ratio": [float(t["se_sd_ratio"].max())],
                "coverage": [float(t["coverage"].mean())],
                "coverage_mc_se": [float(np.sqrt((t["coverage_mc_se"] ** 2).mean() / len(t)))],
                "gain_vs_independent": [float((t["mean_se"] / t["mean_se_independent"]).mean())],
            }
        )


def proportional_sizes(frame: pd.DataFrame, strata: Sequence[str], n: int, min_n: int = 2) -> pd.Series:
    """Proportional sample sizes per stratum label (at least ``min_n``, at most N_h)."""
    from ..design._strata import index_strata

    idx = index_strata(frame, list(strata))
    size = np.minimum(idx.N, np.maximum(min_n, np.round(n * idx.N / idx.N.sum()))).astype(np.int64)
    return pd.Series(size, index=idx.labels.astype(str))


@dataclass(frozen=True, eq=False)
class _Drawn:
    design: SurveyDesign
    ids: np.ndarray
    key: int
    start: dict


class _Frame:
    """A frame coded once (strata, ids, the columns estimated) for repeated coordinated draws."""

    def __init__(
        self, frame: pd.DataFrame, strata: Sequence[str], sizes: pd.Series, rights: Sequence[str], by: str
    ) -> None:
        from ..design._strata import index_strata

        self.index = index_strata(frame, list(strata))
        self.labels = self.index.labels.astype(str)
        self.n = sizes.reindex(self.labels).to_numpy(dtype=np.int64)
        self.ids = frame["id"].astype(str).to_numpy(dtype=object)
        self.values = frame[[by, *rights]].reset_index(drop=True)

    def draw(self, scheme: str, seed: int, share: float, previous: _Drawn | None) -> _Drawn:
        N = self.index.N
        start = np.array([previous.start.get(lab, 0.0) for lab in self.labels]) if previous else np.zeros(N.size)
        key = previous.key if previous is not None and scheme != "independent" else None
        rows, start, key, _ = coordinate(
            self.index.codes,
            N,
            self.n,
            self.ids,
            scheme=scheme,
            seed=seed,
            share=share,
            key=key,
            start=start,
            previous_ids=previous.ids if previous is not None else np.zeros(0, object),
            has_previous=previous is not None,
        )
        h = self.index.codes[rows]
        data = (
            self.values.take(rows)
            .reset_index(drop=True)
            .assign(id=self.ids[rows], stratum=h, fpc=N[h].astype(float), weight=(N / np.maximum(self.n, 1))[h])
        )
        design = SurveyDesign(data, weight="weight", strata="stratum", fpc="fpc")
        return _Drawn(design=design, ids=self.ids[rows], key=key, start=dict(zip(self.labels, start)))


def _true_rates(frame: pd.DataFrame, rights: Sequence[str], by: str) -> pd.DataFrame:
    rows = []
    for r in rights:  # loop over rights only
        e = frame[r].notna()
        g = frame.loc[e].groupby(frame.loc[e, by].astype(str), observed=True)[r].mean()
        rows.append(pd.DataFrame({by: g.index, "right": r, "rate": g.to_numpy()}))
    return pd.concat(rows, ignore_index=True)


def validate_change(
    frame1: pd.DataFrame,
    frame2: pd.DataFrame,
    *,
    scheme: str,
    n: int,
    replications: int,
    seed: int,
    share: float = 0.0,
    rights: Sequence[str] = ("cmuc", "acs"),
    by: str = "is_qpv",
    strata: Sequence[str] = ("is_qpv", "benefit"),
    level: float = 0.95,
) -> ChangeValidation:
    """Repeated samples of two waves: SE of the change vs its empirical SD, and CI coverage.

    Parameters
    ----------
    frame1, frame2 : DataFrame
        The populations of the two years (``simulate_waves(...).populations[k].recipients``).
    scheme : {"independent", "panel", "rotating"}
        How the second sample relates to the first.
    n : int
        Sample size of each wave (proportional allocation over ``strata``).
    replications : int
        Number of pairs of samples.
    seed : int
        Seed of the draws: replication *k* uses PRN keys / attrition seeds derived from it.
    share : float
        Attrition (panel) or rotation (rotating) share.
    rights, by, strata, level
        What is estimated, the domain column, the stratum columns and the CI level.

    Returns
    -------
    ChangeValidation

    Notes
    -----
    The target is the change of the population rates of the two years. The
    Monte Carlo error of a coverage is :math:`\\sqrt{c(1-c)/R}`; that of the SE/SD
    ratio is about :math:`1/\\sqrt{2R}`.
    """
    check_option("scheme", scheme, WaveScheme)
    if replications < 2:
        raise OptionError(
            message("at least 2 replications are needed", where="parameter replications", found=repr(replications))
        )
    start = time.perf_counter()
    s1 = proportional_sizes(frame1, strata, n)
    s2 = proportional_sizes(frame2, strata, n)
    t1, t2 = _true_rates(frame1, rights, by), _true_rates(frame2, rights, by)
    truth = t1.merge(t2, on=[by, "right"], suffixes=("_1", "_2"))
    truth["true_change"] = truth["rate_2"] - truth["rate_1"]
    first_scheme = "rotating" if scheme == "rotating" else "panel"
    keys = np.random.SeedSequence(int(seed)).generate_state(2 * replications, dtype=np.uint32).astype(np.int64)
    waves = [_Frame(frame1, strata, s1, rights, by), _Frame(frame2, strata, s2, rights, by)]
    tables = []
    for k in range(replications):  # Monte Carlo replications
        a = waves[0].draw(first_scheme, int(keys[2 * k]), share, None)
        b = waves[1].draw(scheme, int(keys[2 * k + 1]), share, a)
        t = estimate_change(a.design, b.design, list(rights), by, scheme=scheme, level=level, lonely_psu="adjust").table
        tables.append(
            t[[by, "right", "change", "se", "se_independent", "ci_low", "ci_high", "n_both"]].assign(
                **{by: t[by].astype(str)}
            )
        )
    allr = pd.concat(tables, ignore_index=True).merge(truth[[by, "right", "true_change"]], on=[by, "right"])
    allr["covered"] = (allr["ci_low"] <= allr["true_change"]) & (allr["true_change"] <= allr["ci_high"])
    g = allr.groupby([by, "right"], sort=True)
    out = g.agg(
        true_change=("true_change", "first"),
        mean_change=("change", "mean"),
        sd=("change", "std"),
        mean_se=("se", "mean"),
        mean_se_independent=("se_independent", "mean"),
        coverage=("covered", "mean"),
        mean_overlap=("n_both", "mean"),
    ).reset_index()
    out["bias"] = out["mean_change"] - out["true_change"]
    out["se_sd_ratio"] = out["mean_se"] / out["sd"]
    out["coverage_mc_se"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / replications)
    settings = {
        "scheme": scheme,
        "share": share,
        "n": n,
        "replications": replications,
        "seed": seed,
        "rights": list(rights),
        "by": by,
        "strata": list(strata),
        "level": level,
        "recipients": [len(frame1), len(frame2)],
        "elapsed_s": time.perf_counter() - start,
    }
    return ChangeValidation(table=out, settings=settings)
