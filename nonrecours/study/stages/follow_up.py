"""Stage ``follow_up``: this run as one year of a series of runs.

With a ``[follow_up]`` section, :func:`check_runs` reads every earlier run's
``manifest.json`` and checks each output it lists against its SHA-256 (before
any work); the selection stage draws this year's sample coordinated with the
last run's (:func:`previous_sample`); and :func:`follow_up_stage` stacks the
weighted samples of all runs by recipient id to estimate the yearly take-up,
the changes (with the covariance of overlapping samples), the trend, the net
change of the QPV − rest gap and the territories that moved most.

The series uses each run's weighted design: earlier runs' rebuilt from their
``weights.csv`` and its design sidecar (:mod:`nonrecours.study.runs`: the
calibration's residuals enter the variances), this run's from the weighting
stage; all under this study's ``[estimation] lonely_psu`` rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import ConfigError, message
from ...io import read_table
from ...publication import blank_changes, blank_did, protect_series, publishable_changes
from ..config import StudyConfig
from ..runs import read_run, run_design
from ._common import State, quality_thresholds

__all__ = ["check_runs", "previous_sample", "wave_designs", "follow_up_stage", "FOLLOW_UP_TABLES"]

#: Tables written by the stage.
FOLLOW_UP_TABLES = (
    "follow_up_yearly",
    "follow_up_changes",
    "follow_up_trend",
    "follow_up_did",
    "follow_up_territories",
    "follow_up_persistence",
)


def _folders(cfg: StudyConfig) -> list[Path]:
    base = cfg.source.parent if cfg.source is not None else Path(".")
    out = []
    assert cfg.follow_up is not None  # the stage runs with [follow_up]
    for r in cfg.follow_up.runs:
        p = Path(r).expanduser()
        out.append(p if p.is_absolute() else base / p)
    return out


def check_runs(cfg: StudyConfig) -> list[dict[str, Any]]:
    """Earlier runs of ``[follow_up]``, oldest first (:func:`read_run`), years increasing up to this run's.

    Raises
    ------
    ConfigError
        See :func:`read_run`; or years that do not increase up to this run's.
    """
    fu = cfg.follow_up
    if fu is None:
        return []
    runs = [read_run(folder, f"follow_up.runs[{i}]") for i, folder in enumerate(_folders(cfg))]
    years = [r["year"] for r in runs] + [fu.year]
    if years != sorted(set(years)):
        raise ConfigError(
            message(
                "the years of the runs must increase up to this run's",
                where="follow_up.runs",
                found=", ".join(map(str, years)),
            )
        )
    return runs


def previous_sample(cfg: StudyConfig, runs: list[dict[str, Any]]) -> pd.DataFrame | None:
    """The sample of the last earlier run (``sample.csv``), or None for the first year."""
    if not runs:
        return None
    return read_table(runs[-1]["sample"], option="follow_up.runs (sample.csv)")


def wave_designs(cfg: StudyConfig, state: State) -> list:
    """The weighted designs of the earlier runs and of this one, oldest first, under the study's lonely-PSU rule.

    Earlier runs are rebuilt from their ``weights.csv`` and its design sidecar
    (:func:`~nonrecours.study.runs.run_design`: calibration included); this
    run's is the weighting stage's design. Replicate weights are dropped: the
    series is linearised jointly over the waves.
    """
    import dataclasses

    rule = cfg.estimation.lonely_psu
    current = dataclasses.replace(state["design"], lonely_psu=rule).with_replicates(None)  # Taylor, as the earlier
    return [run_design(r, lonely_psu=rule) for r in state["runs"]] + [current]


def _published(cfg: StudyConfig, state: State, run: dict[str, Any] | None, col: str | None) -> pd.DataFrame | None:
    """The table by ``col`` published by a run (``None``: this run), if ``col`` is a domain of the estimation."""
    dom = cfg.estimation.domains
    name = {
        dom.qpv: "estimates_qpv",
        dom.benefit: "estimates_benefit",
        dom.territory: "estimates_territory",
        None: "estimates_national",
    }.get(col)
    if name is None:
        return None
    if run is None:
        return state["tables"].get(name)
    path = Path(run["folder"]) / "publication" / f"{name}.csv"
    return read_table(path, option=f"{name}.csv of the run of {run['year']}") if path.is_file() else None


def _protect(cfg: StudyConfig, state: State, runs: list[dict[str, Any]], years: list[int], series, did):  # noqa: ANN001
    """The series' tables under one suppression pattern (:func:`nonrecours.publication.protect_series`)."""
    assert cfg.follow_up is not None  # the stage runs with [follow_up]
    by = list(cfg.follow_up.by)
    min_n = cfg.estimation.thresholds.min_n
    sources = list(runs) + [None]
    nationals = {y: t for y, r in zip(years, sources) if (t := _published(cfg, state, r, None)) is not None}
    published = {y: _published(cfg, state, r, by[0]) if len(by) == 1 else None for y, r in zip(years, sources)}
    sides = None if series.n_takers is None or series.n_non_takers is None else (series.n_takers, series.n_non_takers)
    yearly, hidden = protect_series(
        series.yearly, by, min_n=min_n, nationals=nationals, published=published, sides=sides
    )

    changes, trend = blank_changes(series.changes, by, min_n=min_n, hidden=hidden, trend=series.trend)
    rights_hidden = {r for k, r in hidden} if len(by) == 1 else set()
    return yearly, changes, trend, blank_did(did, rights_hidden, by[0])


def _persistence(cfg: StudyConfig, designs: list, rights: list[str], by: list[str], years: list[int]) -> pd.DataFrame:
    """Persistent and transient non-take-up between the last two runs, overall and by the first ``by`` column.

    :func:`nonrecours.estimation.persistence.estimate_persistence`; a row under ``min_n`` eligible
    respondents of both years is suppressed by the estimator's flag (its estimate and SE empty), and no
    count is published (a national count minus a domain's would give a suppressed one back).
    """
    from ...estimation.persistence import estimate_persistence

    opts = {
        "id_col": cfg.frame.id,
        "level": cfg.estimation.level,
        "thresholds": quality_thresholds(cfg.estimation),
    }
    parts = [estimate_persistence(designs[-2], designs[-1], rights, **opts).table]
    if by:
        parts.append(estimate_persistence(designs[-2], designs[-1], rights, by[0], **opts).table)
    table = pd.concat(parts, ignore_index=True)
    cols = [*([by[0]] if by else []), "right", "indicator", "estimate", "se", "ci_low", "ci_high", "flag"]
    return table[cols].assign(year_from=years[-2], year_to=years[-1])


def follow_up_stage(cfg: StudyConfig, state: State) -> State:
    """Series over the earlier runs and this one; changes of the last year; DiD of the gap; territories."""
    fu = cfg.follow_up
    if fu is None or not state.get("runs"):
        return {}
    from ...estimation.change import estimate_change
    from ...estimation.series import estimate_series

    runs = state["runs"]
    designs = wave_designs(cfg, state)
    years = [r["year"] for r in runs] + [fu.year]
    rights = list(cfg.estimation.rights)
    by = list(fu.by)
    ids = cfg.frame.id
    rule = cfg.estimation.lonely_psu
    series = estimate_series(
        designs, years, rights, by, scheme=fu.scheme, id_col=ids, level=cfg.estimation.level, lonely_psu=rule
    )
    last = estimate_change(
        designs[-2],
        designs[-1],
        rights,
        by,
        scheme=fu.scheme,
        id_col=ids,
        level=cfg.estimation.level,
        df="inf",
        lonely_psu=rule,
    )
    gap_col = by[0]
    did = last.did(gap_col).assign(year_from=years[-2], year_to=years[-1])
    terr_change = estimate_change(
        designs[-2],
        designs[-1],
        rights,
        [fu.territory],
        scheme=fu.scheme,
        id_col=ids,
        level=cfg.estimation.level,
        df="inf",
        lonely_psu=rule,
    )
    terr = terr_change.table
    th = cfg.estimation.thresholds
    persistence = _persistence(cfg, designs, rights, by, years)
    # disclosure: one pattern over the years, consistent with each run's published tables
    yearly, changes, trend, did = _protect(cfg, state, runs, years, series, did)
    # a territory hidden in either year's estimates_territory stays hidden; n_both not published per territory
    published_terr = [_published(cfg, state, r, fu.territory) for r in (runs[-1], None)]
    terr = publishable_changes(
        terr, published_terr, fu.territory, min_n=th.min_n, small=terr_change.small_cells(th.min_n)
    ).assign(year_from=years[-2], year_to=years[-1])
    terr = terr.assign(abs_change=terr["change"].abs()).sort_values(
        ["abs_change", fu.territory, "right"], ascending=[False, True, True], kind="stable"
    )
    terr = terr.drop(columns="abs_change").head(fu.top * len(rights)).reset_index(drop=True)
    methods = {
        "series": f"{len(years)} runs ({years[0]}-{years[-1]}), samples {fu.scheme}"
        + (f" (share {fu.share:g})" if fu.scheme != "independent" else "")
        + "; yearly rates with each run's SEs; changes with the covariance of the overlap "
        "(joint linearisation over the union of the samples, linked by recipient id); "
        "trend by generalised least squares with the joint covariance; Taylor variances with "
        f"each run's calibration residuals (its design sidecar), lonely PSU rule {rule}",
        "earlier runs": "; ".join(
            f"{r['year']}: manifest SHA-256 {r['manifest_sha256'][:12]}…, outputs checked" for r in runs
        ),
    }
    methods["persistence"] = (
        f"persistent and transient non-take-up {years[-2]}-{years[-1]} among the recipients of both samples "
        "eligible in both years: ratio estimators on the later run's design (weights, calibration), "
        "Taylor SEs from one joint linearisation of every indicator, domain and right"
    )
    methods["publication"] = (
        f"cells with fewer than {th.min_n} eligible respondents, {th.min_n} takers or {th.min_n} non-takers "
        "in a year, or suppressed in a "
        "year's published tables, are suppressed in every year with their changes and trends "
        "(secondary suppression against each year's national counts); respondents of both "
        f"years (n_both) shown from {th.min_n}, not per territory"
    )
    return {
        "tables": {
            "follow_up_yearly": yearly,
            "follow_up_changes": changes,
            "follow_up_trend": trend,
            "follow_up_did": did,
            "follow_up_territories": terr,
            "follow_up_persistence": persistence,
        },
        "methods": {"follow-up": methods},
    }
