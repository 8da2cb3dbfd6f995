"""Stage ``follow_up``: this run as one year of a series of runs.

With a ``[follow_up]`` section, :func:`check_runs` reads every earlier run's
``manifest.json`` and checks each output it lists against its SHA-256 (before
any work); the selection stage draws this year's sample coordinated with the
last run's (:func:`previous_sample`); and :func:`follow_up_stage` stacks the
weighted samples of all runs by recipient id to estimate the yearly take-up,
the changes (with the covariance of overlapping samples), the trend, the net
change of the QPV − rest gap and the territories that moved most.

The series uses each run's final weights (``weights.csv``) with its strata and
FPC; the calibration residuals of earlier runs are not stored, so the
variances of the series are those of the uncalibrated estimators
(conservative when calibration helps).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...publication import blank_changes, blank_rows, code_key, protect_series
from ...errors import ConfigError, message
from ...io import read_table
from ..config import StudyConfig
from ..manifest import sha256_file, verify_manifest
from ._common import RESPONDED, State

__all__ = ["read_run", "check_runs", "run_design", "previous_sample", "follow_up_stage", "FOLLOW_UP_TABLES"]

#: Tables written by the stage.
FOLLOW_UP_TABLES = ("follow_up_yearly", "follow_up_changes", "follow_up_trend", "follow_up_did",
                    "follow_up_territories")


def _folders(cfg: StudyConfig) -> list[Path]:
    base = cfg.source.parent if cfg.source is not None else Path(".")
    out = []
    assert cfg.follow_up is not None  # the stage runs with [follow_up]
    for r in cfg.follow_up.runs:
        p = Path(r).expanduser()
        out.append(p if p.is_absolute() else base / p)
    return out


def read_run(folder: Path, key: str) -> dict[str, Any]:
    """An earlier run: its year, folder and manifest hash, every output checked against its SHA-256.

    Raises
    ------
    ConfigError
        No readable manifest, an output changed since it was written, no year, no weighted sample.
    """
    folder = Path(folder)
    # a run writes publication/manifest.json and microdata/{sample,weights}.csv; earlier versions wrote them flat
    layouts = (("publication/manifest.json", "microdata/weights.csv", "microdata/sample.csv"),
               ("manifest.json", "weights.csv", "sample.csv"))
    found = [lay for lay in layouts if (folder / lay[0]).is_file()]
    if not found:
        raise ConfigError(message("no publication/manifest.json in the earlier run's folder", where=key,
                                  found=repr(str(folder)), hint="give the output folder of a finished run"))
    rel_manifest, rel_weights, rel_sample = found[0]
    mpath = folder / rel_manifest
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(message("cannot read the manifest", where=key, found=str(exc))) from None
    changed = verify_manifest(manifest, folder)
    if changed:
        raise ConfigError(message("outputs of an earlier run differ from its manifest (SHA-256)", where=key,
                                  found=", ".join(changed), hint="re-run that year, or restore its files"))
    year = (manifest.get("follow_up") or {}).get("year")
    if not isinstance(year, int):
        raise ConfigError(message("the earlier run records no year", where=key,
                                  hint="runs of a series need [follow_up] year = ..."))
    if rel_weights not in manifest.get("outputs", {}):
        raise ConfigError(message("the earlier run has no weighted sample", where=key, expected=rel_weights))
    scheme = (manifest.get("follow_up") or {}).get("scheme")
    return {"year": year, "folder": folder, "manifest_sha256": sha256_file(mpath), "scheme": scheme,
            "weights": folder / rel_weights, "sample": folder / rel_sample}


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
        raise ConfigError(message("the years of the runs must increase up to this run's", where="follow_up.runs",
                                  found=", ".join(map(str, years))))
    return runs


def run_design(run: dict[str, Any]):
    """The weighted design of a run from its ``weights.csv`` (respondents' final weights, strata, PSU, FPC)."""
    return _design(read_table(run["weights"], option="weights.csv of a run"))


def previous_sample(cfg: StudyConfig, runs: list[dict[str, Any]]) -> pd.DataFrame | None:
    """The sample of the last earlier run (``sample.csv``), or None for the first year."""
    if not runs:
        return None
    return read_table(runs[-1]["sample"], option="follow_up.runs (sample.csv)")


def _design(table: pd.DataFrame):
    from ...design.survey_design import SurveyDesign

    cols = set(table.columns)
    data = table if RESPONDED not in cols else table.assign(weight=table["weight"].where(table[RESPONDED] == 1, 0.0))
    return SurveyDesign(data.reset_index(drop=True), weight="weight", strata="stratum" if "stratum" in cols else None,
                        psu="psu" if "psu" in cols else None, fpc="fpc" if "fpc" in cols else None,
                        lonely_psu="adjust", _allow_zero=True)


def _published(cfg: StudyConfig, state: State, run: dict[str, Any] | None, col: str | None) -> pd.DataFrame | None:
    """The table by ``col`` published by a run (``None``: this run), if ``col`` is a domain of the estimation."""
    dom = cfg.estimation.domains
    name = {dom.qpv: "estimates_qpv", dom.benefit: "estimates_benefit", dom.territory: "estimates_territory",
            None: "estimates_national"}.get(col)
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
    yearly, hidden = protect_series(series.yearly, by, min_n=min_n, nationals=nationals, published=published)

    changes, trend = blank_changes(series.changes, by, min_n=min_n, hidden=hidden, trend=series.trend)
    gap_col = by[0]
    rights_hidden = {r for k, r in hidden} if len(by) == 1 else set()
    did = blank_rows(did, did["right"].astype(str).isin(rights_hidden).to_numpy(),
                     keep=("gap", "level_a", "level_b", "right", "year_from", "year_to", gap_col))
    return yearly, changes, trend, did


def follow_up_stage(cfg: StudyConfig, state: State) -> State:
    """Series over the earlier runs and this one; changes of the last year; DiD of the gap; territories."""
    fu = cfg.follow_up
    if fu is None or not state.get("runs"):
        return {}
    from ...estimation.change import estimate_change
    from ...estimation.series import estimate_series

    runs = state["runs"]
    designs = [run_design(r) for r in runs] + [_design(state["tables"]["weights"])]
    years = [r["year"] for r in runs] + [fu.year]
    rights = list(cfg.estimation.rights)
    by = list(fu.by)
    ids = cfg.frame.id
    series = estimate_series(designs, years, rights, by, scheme=fu.scheme, id_col=ids, level=cfg.estimation.level)
    last = estimate_change(designs[-2], designs[-1], rights, by, scheme=fu.scheme, id_col=ids,
                           level=cfg.estimation.level, df="inf", lonely_psu="adjust")
    gap_col = by[0]
    did = last.did(gap_col).assign(year_from=years[-2], year_to=years[-1])
    terr = estimate_change(designs[-2], designs[-1], rights, [fu.territory], scheme=fu.scheme, id_col=ids,
                           level=cfg.estimation.level, df="inf", lonely_psu="adjust").table
    th = cfg.estimation.thresholds
    # disclosure: one pattern over the years, consistent with each run's published tables
    yearly, changes, trend, did = _protect(cfg, state, runs, years, series, did)
    published_terr = [_published(cfg, state, r, fu.territory) for r in (runs[-1], None)]
    shown = np.ones(len(terr), dtype=bool)
    for k, pub in enumerate(published_terr):  # a territory hidden in either year's estimates_territory stays hidden
        if pub is not None:
            ok = pub[pub["flag"].astype(str) != "suppressed"]
            keys = set(zip(code_key(ok[fu.territory]), ok["right"].astype(str)))
            shown &= np.fromiter(((t, r) in keys for t, r in zip(code_key(terr[fu.territory]),
                                                                terr["right"].astype(str))), dtype=bool,
                                 count=len(terr))
    # n_both, the respondents of both years in a territory, is mostly below min_n and would sum to the
    # domains' n_both: not published per territory
    terr = terr[shown & (terr["n_1"] >= th.min_n).to_numpy() & (terr["n_2"] >= th.min_n).to_numpy()].drop(
        columns="n_both").assign(year_from=years[-2], year_to=years[-1])
    terr = terr.assign(abs_change=terr["change"].abs()).sort_values(["abs_change", fu.territory, "right"],
                                                                    ascending=[False, True, True], kind="stable")
    terr = terr.drop(columns="abs_change").head(fu.top * len(rights)).reset_index(drop=True)
    methods = {"series": f"{len(years)} runs ({years[0]}-{years[-1]}), samples {fu.scheme}"
                         + (f" (share {fu.share:g})" if fu.scheme != "independent" else "")
                         + "; yearly rates with each run's SEs; changes with the covariance of the overlap "
                           "(joint linearisation over the union of the samples, linked by recipient id); "
                           "trend by generalised least squares with the joint covariance",
               "earlier runs": "; ".join(f"{r['year']}: manifest SHA-256 {r['manifest_sha256'][:12]}…, outputs "
                                         "checked" for r in runs)}
    methods["publication"] = (f"cells with fewer than {th.min_n} eligible respondents in a year, or suppressed in a "
                              "year's published tables, are suppressed in every year with their changes and trends "
                              "(secondary suppression against each year's national counts); respondents of both "
                              f"years (n_both) shown from {th.min_n}, not per territory")
    return {"tables": {"follow_up_yearly": yearly, "follow_up_changes": changes,
                       "follow_up_trend": trend, "follow_up_did": did, "follow_up_territories": terr},
            "methods": {"follow-up": methods}}
