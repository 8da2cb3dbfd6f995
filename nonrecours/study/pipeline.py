"""Run a whole study: frame -> design -> weights -> estimates -> territories -> report.

:func:`run_study` validates everything it can before any work (the study
file, the output folder, the columns the study names), runs the stages of
:mod:`nonrecours.study.stages` in memory, then writes every table atomically,
renders the report from the written tables, and ends with ``manifest.json``.
A run writes nothing until all stages have succeeded, never overwrites an
input, and refuses a non-empty output folder unless ``overwrite=True``.
Re-running the same study gives byte-identical files; only the timings in
the manifest differ.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import NonrecoursWarning, OutputError, message
from ..io import read_table, write_bytes, write_json, write_table, write_text
from ..report import render_report
from ..report.i18n import check_lang
from ..report.publication import publication_workbook
from . import stages
from .config import StudyConfig, load_study
from .manifest import build_manifest, file_record, package_versions

__all__ = ["run_study", "StudyResult", "OUTPUT_TABLES", "OUTPUT_FILES", "PUBLICATION_WORKBOOK", "config_record",
           "ADMIN_TABLES"]

#: Tables of the administrative phase (written when the study has an ``[admin]`` section).
ADMIN_TABLES = ("linkage_quality", "admin_rates", "admin_departements", "admin_comparison", "admin_accuracy")
#: Tables written by a run, in order (file ``<name>.csv``); absent when their stage did not run.
OUTPUT_TABLES = ("allocation", "sample", "weights", "estimates_national", "estimates_qpv", "gap_qpv",
                 "estimates_benefit", "estimates_territory", "analysis_nontakers", "analysis_tests", "analysis_gaps",
                 "analysis_model", "analysis_model_tests", "analysis_predicted", "sae", "comparison",
                 "comparison_summary", *ADMIN_TABLES)
#: The publication workbook (one sheet per table, French or English number formats and marks, a notes sheet).
PUBLICATION_WORKBOOK = "publication/tables.xlsx"
#: Every file a run may write.
OUTPUT_FILES = tuple(f"{t}.csv" for t in OUTPUT_TABLES) + ("report.html", PUBLICATION_WORKBOOK, "manifest.json")


@dataclass(frozen=True)
class StudyResult:
    """What a study run produced.

    Attributes
    ----------
    config : StudyConfig
        The validated study.
    folder : Path
        The output folder.
    files : dict of str to Path
        Output files by name (``manifest.json`` included).
    tables : dict of str to DataFrame
        The tables as written (read back from the files).
    manifest : dict
        The content of ``manifest.json``.
    """

    config: StudyConfig
    folder: Path
    files: dict[str, Path]
    tables: dict[str, pd.DataFrame] = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per stage."""
        return dict(self.manifest["timings_seconds"])


#: Keys of the stages' outputs that accumulate across stages (dicts merged), the others are replaced.
_MERGED = ("tables", "methods", "seeds", "counts", "weight_summary")


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Merge ``new`` into ``into``; dict values one level down are merged too (methods of a stage)."""
    for k, v in new.items():
        if isinstance(v, Mapping) and isinstance(into.get(k), dict):
            into[k].update(v)
        else:
            into[k] = v


class _Timer:
    """Times stages and reports each on ``progress`` as one line."""

    def __init__(self, progress: Callable[[str], None] | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.timings: dict[str, float] = {}
        self.start = time.perf_counter()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        dt = time.perf_counter() - t0
        self.timings[name] = dt
        if self.progress is not None:
            self.progress(f"[{len(self.timings)}/{self.total}] {name:<12} {dt:7.2f} s"
                          f"   (total {time.perf_counter() - self.start:6.2f} s)")


def _check_folder(folder: Path, inputs: Mapping[str, Path], overwrite: bool) -> None:
    """Refuse a non-empty output folder (unless overwrite) and one that would replace an input."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(message("the output folder is a file", where=f"output.folder {str(folder)!r}",
                                  hint="choose a folder name"))
    resolved = {name: p.resolve() for name, p in inputs.items()}
    for key, p in resolved.items():
        if p.parent == folder.resolve() and p.name in OUTPUT_FILES:
            raise OutputError(message("an output would overwrite an input file", where=key,
                                      found=repr(str(p)), hint="choose another output.folder"))
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise OutputError(message("the output folder is not empty", where=f"output.folder {str(folder)!r}",
                                  hint="choose a new folder, or pass --overwrite (overwrite=True) to replace "
                                       "the files of a previous run"))


def run_study(config: StudyConfig | str | os.PathLike, *, overwrite: bool = False,
              progress: Callable[[str], None] | None = None, lang: str | None = None) -> StudyResult:
    """Run a study end to end and write its outputs.

    Parameters
    ----------
    config : StudyConfig or path
        A validated study, or the path of a study file (read with
        :func:`~nonrecours.study.config.load_study`).
    overwrite : bool
        Allow a non-empty output folder; files of a previous run are replaced
        (inputs never are).
    progress : callable, optional
        Called with one line of text after each stage (name and elapsed
        time); the CLI prints it on stderr.
    lang : {"fr", "en"}, optional
        Language of the report and of the publication workbook (default: the
        study file's ``[report] lang``).

    Returns
    -------
    StudyResult

    Raises
    ------
    ConfigError
        The study file is invalid or names columns the inputs lack (raised
        before anything is written).
    OutputError
        The output folder is not empty and ``overwrite`` is false, or an
        output would replace an input.

    Notes
    -----
    Outputs: ``allocation.csv``, ``sample.csv``, ``weights.csv``,
    ``estimates_national.csv``, ``estimates_qpv.csv``, ``gap_qpv.csv``,
    ``estimates_benefit.csv``, ``estimates_territory.csv``, ``analysis_*.csv`` (who does not
    take up: non-takers, tests, pairwise gaps, model, term tests, predicted take-up), ``sae.csv``
    (territorial phase), ``comparison.csv`` and ``comparison_summary.csv``
    (when true rates are given), ``report.html``, ``publication/tables.xlsx``
    and ``manifest.json``.
    Warnings raised by a stage are shown and listed in the report. Tables are written atomically (temporary name, then
    rename); the report is rendered from the tables read back from disk.

    Examples
    --------
    >>> result = run_study("examples/study.toml", overwrite=True)   # doctest: +SKIP
    >>> result.tables["estimates_national"][["right", "estimate"]]  # doctest: +SKIP
    """
    cfg = config if isinstance(config, StudyConfig) else load_study(config)
    lang = check_lang(cfg.report.lang if lang is None else lang, "--lang")
    folder = cfg.output.folder
    inputs = cfg.input_files()
    _check_folder(folder, inputs, overwrite)
    from .stages.follow_up import check_runs

    state: dict[str, Any] = {key: {} for key in _MERGED}
    state["runs"] = check_runs(cfg)  # earlier runs of a follow-up, their manifests checked, before any work
    active = [(n, f) for n, f in stages.STAGES if n != "follow_up" or state["runs"]]
    timer = _Timer(progress, total=len(active) + 2)
    notes: list[str] = []
    for name, func in active:
        with timer(name), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            updates = func(cfg, state)
        for w in caught:  # recorded for the report, then shown as usual
            if issubclass(w.category, NonrecoursWarning):
                notes.append(f"{name}: {' '.join(str(w.message).split())}")
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        for key, value in updates.items():
            if key in _MERGED:
                _merge(state[key], value)
            else:
                state[key] = value

    with timer("writing"):
        folder.mkdir(parents=True, exist_ok=True)
        input_paths = list(inputs.values())
        files: dict[str, Path] = {}
        from .stages.follow_up import FOLLOW_UP_TABLES

        for name in OUTPUT_TABLES + FOLLOW_UP_TABLES:  # the follow-up tables when the study has [follow_up]
            path = folder / f"{name}.csv"
            if name in state["tables"]:
                files[path.name] = write_table(state["tables"][name], path, option="output.folder",
                                               inputs=input_paths)
            elif overwrite and path.is_file() and path.resolve() not in {p.resolve() for p in input_paths}:
                path.unlink()  # stale table of a previous run whose stage did not run this time
    with timer("report"):
        tables = {Path(p).stem: read_table(p, option="output") for p in files.values()}
        base = cfg.source.parent if cfg.source is not None else None
        provenance = _provenance(cfg, inputs, state, base)
        provenance["warnings"] = list(dict.fromkeys(notes))
        files["report.html"] = write_text(render_report(tables, provenance, lang=lang,
                                                        extra_sections=_extra_sections(tables, lang, cfg)),
                                          folder / "report.html",
                                          option="output.folder", inputs=input_paths)
        (folder / "publication").mkdir(exist_ok=True)
        files[PUBLICATION_WORKBOOK] = write_bytes(publication_workbook(tables, provenance, lang=lang),
                                                  folder / PUBLICATION_WORKBOOK, option="output.folder",
                                                  inputs=input_paths)
    manifest = build_manifest(provenance=provenance, outputs=files, timings=timer.timings, base=folder)
    manifest["timings_seconds"]["total"] = round(time.perf_counter() - timer.start, 3)
    files["manifest.json"] = write_json(manifest, folder / "manifest.json", option="output.folder",
                                        inputs=input_paths)
    return StudyResult(config=cfg, folder=folder, files=files, tables=tables, manifest=manifest)


def _extra_sections(tables: Mapping[str, Any], lang: str,
                    cfg: StudyConfig | None = None) -> list[tuple[str, str, str]]:
    """The sections rendered by their own modules, for the stages that ran."""
    from ..report.html import section_parts

    sections = []
    if any(name.startswith("analysis_") for name in tables):
        from ..report import section_analysis
        sections.append(section_parts(section_analysis.render(tables, lang)))
    if "comparison_summary" in tables:  # territory estimators against the true rates (a dry run)
        from ..report import section_territorial_comparison
        sections.append(section_parts(section_territorial_comparison.render(tables["comparison_summary"], lang)))
    if "admin_comparison" in tables:
        from ..report import section_admin
        sections.append(section_parts(section_admin.render(tables, lang)))
    if "follow_up_yearly" in tables:  # a year of a series ([follow_up] with earlier runs)
        from ..report import section_followup
        scheme = cfg.follow_up.scheme if cfg is not None and cfg.follow_up is not None else "panel"
        sections.append(section_parts(section_followup.render(tables, lang, scheme=scheme)))
    return sections


def _provenance(cfg: StudyConfig, inputs: Mapping[str, Path], state: Mapping[str, Any],
                base: Path | None) -> dict[str, Any]:
    """Everything the report shows besides the tables; the manifest adds output hashes and timings."""
    study = {"path": cfg.source.name if cfg.source is not None else "", "text": cfg.text}
    if cfg.source is not None:
        study["sha256"] = file_record(cfg.source)["sha256"]
    est = cfg.estimation
    out: dict[str, Any] = {}
    if cfg.follow_up is not None:
        out["follow_up"] = {"year": cfg.follow_up.year, "scheme": cfg.follow_up.scheme, "share": cfg.follow_up.share,
                            "runs": [{"year": r["year"], "folder": os.path.relpath(r["folder"], base or Path.cwd()),
                                      "manifest_sha256": r["manifest_sha256"]} for r in state.get("runs", [])]}
    return out | {
        "title": cfg.title,
        "study_file": study,
        "versions": package_versions(),
        "inputs": {key: file_record(p, base=base) for key, p in inputs.items()},
        "seeds": {k: v for k, v in state.get("seeds", {}).items() if v is not None},
        "settings": {"rights": list(est.rights), "domains": asdict(est.domains), "level": est.level,
                     "thresholds": asdict(est.thresholds)},
        "counts": dict(state.get("counts", {})),
        "weighting": dict(state.get("weight_summary", {})),
        "methods": dict(state.get("methods", {})),
        "config": config_record(cfg),
    }


def config_record(cfg: StudyConfig) -> dict[str, Any]:
    """The study's choices as plain data (paths by file name), for the report's methods text."""
    def plain(v: Any) -> Any:
        if isinstance(v, Path):
            return v.name
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return {k: plain(v) for k, v in asdict(cfg).items()
            if k in ("design", "responses", "weighting", "estimation", "territorial")}
