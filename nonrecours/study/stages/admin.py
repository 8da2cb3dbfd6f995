"""Stage ``admin``: the administrative phase beside the sample study.

Runs :func:`nonrecours.admin.pipeline.run_admin_phase` on the ``[admin]``
sources (eligibility from resources, QPV from coordinates, linkage by number
then Fellegi–Sunter, rates corrected for linkage errors) and sets the
administrative rates per right, QPV vs rest, beside the sample's estimates.
Only aggregated tables leave the stage (no link, no record). The study's
``[compute]`` section chooses the engine of its SQL and the memory limit and
threads of its engines; the settings of the engines that ran go to the
manifest (``engines`` of the state).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import ConfigError, message
from ..config import StudyConfig
from ._common import State

__all__ = ["admin_stage", "combined_stage", "compare_phases", "run_phase", "start_phase", "phase_of", "PendingPhase"]


def compare_phases(sample_qpv: pd.DataFrame, admin_qpv: pd.DataFrame, qpv_column: str) -> pd.DataFrame:
    """Sample estimates and administrative rates per right and QPV vs rest, side by side."""
    s = sample_qpv.rename(columns={qpv_column: "is_qpv"})
    s = s[["right", "is_qpv", "estimate", "ci_low", "ci_high", "n"]].rename(
        columns={"estimate": "sample_estimate", "ci_low": "sample_ci_low", "ci_high": "sample_ci_high", "n": "sample_n"}
    )
    s["is_qpv"] = pd.to_numeric(s["is_qpv"], errors="coerce")
    a = admin_qpv.rename(
        columns={
            "rate": "admin_rate",
            "rate_adjusted": "admin_rate_adjusted",
            "ci_low": "admin_ci_low",
            "ci_high": "admin_ci_high",
            "n_eligible": "admin_n_eligible",
        }
    )
    a = a[["right", "is_qpv", "admin_n_eligible", "admin_rate", "admin_rate_adjusted", "admin_ci_low", "admin_ci_high"]]
    out = s.merge(a, on=["right", "is_qpv"], how="outer")
    out["difference"] = out["sample_estimate"] - out["admin_rate_adjusted"]
    return out.sort_values(["right", "is_qpv"], ignore_index=True)


def run_phase(cfg: StudyConfig, early: Callable[[Any], None] | None = None):  # noqa: ANN201
    """The study's administrative phase (:func:`nonrecours.admin.pipeline.run_admin_phase`) on its engines.

    Started with the study (:func:`start_phase`, ``admin_phase`` of the state): the weighting stage takes its
    links when the calibration takes linked holders as margins, the admin stage the whole phase. ``early``: given
    the links and the sources' rights as soon as the linkage is done (``links_ready``), then the phase before its
    rates (``before_rates``).
    """
    from ...admin.eligibility import load_rulebook
    from ...admin.pipeline import run_admin_phase
    from ...io import read_table

    adm = cfg.admin
    if adm.sources is None or not Path(adm.sources).is_dir():
        raise ConfigError(
            message(
                "folder not found",
                where="admin.sources",
                found=str(adm.sources),
                hint="write one with 'nonrecours simulate --sources'",
            )
        )
    if adm.review_sample and adm.truth_links is None and adm.reviewed is None:
        raise ConfigError(
            message(
                "a review sample is simulated from the true links only",
                where="admin.review_sample",
                expected="admin.truth_links (simulated sources), or admin.reviewed",
                found=f"review_sample = {adm.review_sample} without either",
                hint="draw the review with 'nonrecours link --review-sample N --review-out FILE' and give "
                "the reviewer's verdicts as admin.reviewed",
            )
        )
    truth_links = read_table(adm.truth_links, option="admin.truth_links") if adm.truth_links else None
    reviewed = read_table(adm.reviewed, option="admin.reviewed") if adm.reviewed else None
    comp = cfg.compute
    # [compute]: the SQL on its engine (pandas has none: DuckDB), the linkage on DuckDB, both under its settings
    with _engine(cfg) as engine:
        ph = run_admin_phase(
            adm.sources,
            year=adm.year,
            rulebook=load_rulebook(adm.rulebook) if adm.rulebook else None,
            threshold=adm.threshold,
            min_cell=adm.min_cell,
            suppression=adm.suppression,
            level=cfg.estimation.level,
            truth_links=truth_links,
            seed=cfg.design.seed,
            memory_limit=comp.memory_limit,
            threads=comp.threads,
            review_sample=adm.review_sample,
            reviewed=reviewed,
            engine=engine,
            links_ready=early,
            before_rates=early,
        )
    return ph


class PendingPhase:
    """The administrative phase started by :func:`start_phase`: its links first, the whole phase later."""

    def __init__(self, later: Any):
        self._later = later
        self._phase: Any = None

    def links(self) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """The links and the sources' rights (``links``, ``source_rights`` of the phase), as soon as linked."""
        return self._later.early()

    def so_far(self) -> Any:
        """The phase before its rates (what :func:`run_phase`'s ``before_rates`` gives), as soon as it is there:
        an object with the phase's fields whose others (``rates``, ``by_qpv``...) wait for the whole phase when
        read; the whole phase if no such part came."""
        parts = self._later.early(1)
        return self.result() if parts is None else _PhaseSoFar(parts, self)

    def result(self):  # noqa: ANN201
        """The whole phase (:class:`~nonrecours.admin.pipeline.AdminPhase`), waiting for its end."""
        if self._phase is None:
            self._phase = self._later()
        return self._phase

    def cancel(self) -> None:
        """End the forked process if the phase will not be asked for (the study failed meanwhile)."""
        self._later.cancel()


class _PhaseSoFar:
    """The administrative phase before its rates (:meth:`PendingPhase.so_far`): the fields computed by then; the
    others (the rates) read from the whole phase, waiting for it."""

    def __init__(self, parts: dict[str, Any], pending: PendingPhase):
        self._parts, self._pending = parts, pending

    def __getattr__(self, name: str) -> Any:
        parts = self.__dict__["_parts"]
        return parts[name] if name in parts else getattr(self.__dict__["_pending"].result(), name)

    def recipient_cells(self) -> pd.DataFrame:
        """As :meth:`~nonrecours.admin.pipeline.AdminPhase.recipient_cells`."""
        from ...admin.pipeline import _recipient_cells

        return _recipient_cells(self.eligibility["rec_id"], self.territories)


def start_phase(cfg: StudyConfig, fork: bool | None = None) -> PendingPhase:
    """The study's administrative phase (:func:`run_phase`) started on a forked process, beside the stages.

    Only the sources are read, so it may start with the study: the calibration to linked holders waits only for
    the links (:meth:`PendingPhase.links`), which the phase sends as soon as they are made, and the territories,
    review and rates go on beside the weighting and estimation; the admin stage takes the whole phase
    (:meth:`PendingPhase.result`). ``fork``: ``False`` runs the phase here when its links are first asked for,
    as before; otherwise it forks where the platform can, but never beside a Spark engine (whose session lives
    in a JVM the fork would not carry). The phase is the same either way: the same code on the same files, its
    result received whole (if the forked process fails, the phase runs again here and raises its error there).
    """
    from ... import _background as background

    spark = cfg.compute.engine == "spark"
    return PendingPhase(background.later(run_phase, cfg, fork=fork is not False and not spark, early=True))


def phase_of(value: Any):  # noqa: ANN201
    """The :class:`~nonrecours.admin.pipeline.AdminPhase` of a state's ``admin_phase`` (pending or done)."""
    return value.result() if isinstance(value, PendingPhase) else value


def _engine(cfg: StudyConfig):  # noqa: ANN202
    """The engine of the study's ``[compute]`` section (pandas has no SQL engine: DuckDB)."""
    from ...engines import open_engine

    comp = cfg.compute
    return open_engine(
        "duckdb" if comp.engine == "pandas" else comp.engine,
        memory_limit=comp.memory_limit,
        threads=comp.threads,
        spark_master=comp.spark_master,
    )


def admin_stage(cfg: StudyConfig, state: State) -> State:
    """Administrative rates from the sources, and their comparison with the sample's QPV estimates."""
    from ...admin.pipeline import compare_with_truth
    from ...io import read_table

    adm = cfg.admin
    if adm.sources is None:
        return {"methods": {"admin": "not run (no [admin] sources)"}}
    held = state["admin_phase"] if "admin_phase" in state else run_phase(cfg)
    combined: State = {}
    if adm.frame_ids is not None and "design" in state:
        # the corrected rates start from the phase before its rates, which they read last (their status)
        so_far = held.so_far() if isinstance(held, PendingPhase) else held
        with _engine(cfg) as engine:
            combined = _combined(cfg, state, so_far, engine)
    ph = phase_of(held)
    tables = {"linkage_quality": ph.quality, "admin_rates": ph.rates.table, "admin_departements": ph.rates.departements}
    tables.update(combined.get("tables", {}))
    if "estimates_qpv" in state.get("tables", {}):
        tables["admin_comparison"] = compare_phases(
            state["tables"]["estimates_qpv"], ph.by_qpv, cfg.estimation.domains.qpv
        )
    if adm.truth is not None:
        tables["admin_accuracy"] = pd.DataFrame(
            [compare_with_truth(ph.rates.table, read_table(adm.truth, option="admin.truth"))]
        )
    q = ph.quality
    methods = {
        "eligibility": f"rulebook year {adm.year}: CMU-C ceiling by household size (metropolitan/overseas), "
        "ACS band up to +35 %, TPN/TSS under the tariff ceiling with a contract",
        "QPV": "point-in-polygon against the QPV contours ("
        + ", ".join(f"{k} {v}" for k, v in ph.location_counts.items())
        + ")",
        "linkage": f"by certified hashed number, then Fellegi–Sunter (Splink, EM m/u, term frequencies, "
        f"Jaro–Winkler names); threshold {adm.threshold}; share linked by number "
        + ", ".join(f"{s} {v:.1%}" for s, v in zip(q["source"], q["share_number"].fillna(0))),
        "rates": "takers corrected by the expected false and missed links ("
        + (
            "match probabilities calibrated by a clerical review of "
            + ", ".join(f"{s} {int(n)}" for s, n in ph.calibration.groupby("source")["n"].sum().items())
            + " recipients"
            if ph.calibration is not None
            else "the model's match probabilities"
        )
        + f"); cells under {adm.min_cell} suppressed",
        "interval": "linkage errors (with the uncertainty of the review's calibration), recipients undetermined "
        "for a missing resource (imputed at the cell's eligible share) and addresses on a QPV contour; not "
        "recipients undetermined for a fact the files lack (fiscal income); it covers take-up among the recipients "
        "the files' facts make eligible, not the true rate when the files miss resources (the corrected rates')",
    }
    methods.update(combined.get("methods", {}))
    return {
        "tables": tables,
        "methods": {"admin": methods},
        "engines": ph.engines,
        "counts": {"admin recipients": int(len(ph.eligibility)), "admin links": int(len(ph.links))},
    }


def _combined(cfg: StudyConfig, state: State, ph, engine) -> State:
    """``[admin] frame_ids``: the sample measures the files' misclassification; corrected and combined rates."""
    from ...admin.misclassification import survey_corrected_rates, taker_arrays
    from ...admin.pipeline import read_recipients
    from ...admin.rates import taker_table
    from ...io import read_table
    from ...publication import blank_rows

    adm = cfg.admin
    assert adm.sources is not None and adm.frame_ids is not None  # the caller checks them
    rights = list(cfg.estimation.rights)
    by = tuple(adm.misclassification_by)
    terr = ph.territories
    file_by = [c for c in by if c != "is_qpv"]
    left = read_recipients(adm.sources, columns=["rec_id", *file_by])  # the strata's columns only
    missing = [c for c in file_by if c not in left.columns]
    if missing:
        raise ConfigError(
            message(
                "stratum columns not in the organisms' files",
                where="admin.misclassification_by",
                expected="is_qpv or columns of the files",
                found=", ".join(missing),
            )
        )
    # the columns' own arrays (Arrow text stays Arrow: no Python object per recipient)
    rec_id = ph.eligibility["rec_id"].astype(str).array
    strata = pd.DataFrame({"rec_id": rec_id, **{c: left[c].array for c in file_by}})
    if "is_qpv" in by:
        strata["is_qpv"] = terr["is_qpv"].to_numpy()
    rec = ph.recipient_cells()
    # the health source's rights per record, as the phase read them (not read again)
    rights_of = {k: v for k, v in ph.source_rights.items() if k == "health"}
    # the taker table's rows as integer arrays (the taker table itself when the ids are not unique)
    takers = taker_arrays(rec, ph.eligibility, ph.links, ph.near_misses, rights_of)
    if takers is None:
        takers = taker_table(rec, ph.eligibility, ph.links, ph.near_misses, rights_of, engine=engine)
    frame_ids = read_table(adm.frame_ids, option="admin.frame_ids")
    flags = terr.dropna(subset=["territory"]).drop_duplicates("territory")
    # the takers and their linkage variance as the administrative rates have them (the review's calibration)
    res = survey_corrected_rates(
        state["design"],
        ph.eligibility,
        strata,
        takers,
        frame_ids,
        rights,
        id_column=cfg.frame.id,
        by=by,
        level=cfg.estimation.level,
        calibration=ph.calibration,
        qpv=pd.Series(flags["is_qpv"].to_numpy(), index=flags["territory"].astype(str).to_numpy()),
        engine=engine,
    )
    # published where the administrative cell is (disclosure control of the rates)
    status = ph.rates.table[["territory", "right", "status"]].astype({"territory": str})
    corrected = res.table.merge(status, on=["territory", "right"], how="left")
    corrected["status"] = corrected["status"].fillna("suppressed")
    corrected = blank_rows(corrected, (corrected["status"] != "published").to_numpy(), keep=("territory", "right"))
    tables = {
        "admin_misclassification": _protected(res.misclassification.to_frame(), by, cfg.estimation.thresholds.min_n),
        "admin_corrected": corrected,
    }
    methods = {
        "misclassification": f"{res.n_linked} respondents found in the files by their frame record id; "
        "P(file eligible | eligible) and P(file eligible | not eligible) per stratum ("
        + ", ".join(by)
        + "), Hájek ratios with design-based covariance",
        "corrected rates": "eligibles corrected stratum by stratum (Rogan–Gladen), takers among every recipient ("
        + ("calibrated by the clerical review" if ph.calibration is not None else "the model's match probabilities")
        + "); interval with the survey's sampling error (delta method, each rate's variance at least its Jeffreys "
        "posterior's), the linkage error (with the uncertainty of the review's calibration), addresses on a QPV "
        "contour and the files' noise: it covers the true take-up rate",
    }
    return {"tables": tables, "methods": methods}


def combined_stage(cfg: StudyConfig, state: State) -> State:
    """The corrected administrative rates combined with the small-area estimates, and the territorial comparison
    with the administrative estimators: the admin stage's part that reads the territorial stage's tables (``sae``,
    ``comparison``), so that the admin stage itself may run beside the analysis and territorial stages."""
    from ...admin.misclassification import combine_estimates

    tables = state.get("tables", {})
    corrected, sae = tables.get("admin_corrected"), tables.get("sae")
    if corrected is None or sae is None or "eblup" not in sae:
        return {}
    comb = combine_estimates(corrected, sae, level=cfg.estimation.level)
    out = {"combined": comb}
    method = "composite of the corrected administrative rate and the small-area estimate, "
    method += "weights inverse to their estimated MSEs"
    comparison = tables.get("comparison")
    if cfg.territorial.truth is not None and comparison is not None:
        out.update(_comparison(cfg, comparison, sae, tables["admin_rates"], corrected, comb))
    return {"tables": out, "methods": {"admin": {"combined": method}}}


def _comparison(cfg: StudyConfig, comparison, sae, admin, corrected, combined) -> dict:
    """The territorial comparison with the estimators ``admin``, ``admin_corrected`` and ``combined`` added."""
    from ...io import read_table
    from ...territorial.compare import compare_estimators

    assert cfg.territorial.truth is not None  # the caller checks it
    cols = ["territory", "right", "estimator", "subset", "estimate", "ci_low", "ci_high"]
    sampled = sae.assign(territory=sae["territory"].astype(str))
    sampled = sampled.loc[sampled["direct"].notna(), ["territory", "right"]].assign(subset="sampled")

    def rows(t: pd.DataFrame, estimator: str, value: str) -> pd.DataFrame:
        t = t.assign(territory=t["territory"].astype(str))
        t = t.merge(sampled, on=["territory", "right"], how="left").fillna({"subset": "unsampled"})
        return t.assign(estimator=estimator, estimate=t[value])[cols]

    pub = admin[admin["status"] == "published"]
    long = pd.concat(
        [
            comparison[cols],
            rows(pub, "admin", "rate_adjusted"),
            rows(corrected, "admin_corrected", "rate_corrected"),
            rows(combined, "combined", "combined"),
        ],
        ignore_index=True,
    )
    truth = read_table(cfg.territorial.truth, option="territorial.truth", read=cfg.input.read_options())
    cmp_ = compare_estimators(long.dropna(subset=["estimate"]), truth, level=cfg.estimation.level)
    return {"comparison": cmp_.detail, "comparison_summary": cmp_.summary}


def _protected(table: pd.DataFrame, by: tuple, min_n: int) -> pd.DataFrame:
    """The misclassification rates as published: a stratum × right whose sensitivity or false-positive rate rests
    on fewer than ``min_n`` respondents (but some) is emptied, both rates (one would give the other's count away
    from the stratum's respondents)."""
    from ...publication import blank_rows

    n = table["n"].to_numpy()
    small = (n > 0) & (n < min_n)
    key = table[list(by)].astype(str).agg("|".join, axis=1) + "|" + table["right"].astype(str)
    hide = key.isin(set(key[small])).to_numpy() | (n == 0)
    return blank_rows(table, hide, keep=(*by, "right", "kind"))
