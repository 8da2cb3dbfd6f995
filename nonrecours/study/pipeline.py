"""Run a whole study: frame -> design -> weights -> estimates -> territories -> report.

:func:`run_study` validates everything it can before any work (the study
file, the output folder, the columns the study names), runs the stages of
:mod:`nonrecours.study.stages` in memory, then writes every table atomically,
renders the report from the written tables, and ends with ``manifest.json``.
Everything is written into a staging folder next to the output folder, which
is moved into place only when the report and manifest are written: a run
killed midway leaves no half-finished results, and the next run removes its
staging folder. The output folder has ``publication/`` (report, aggregated
tables, manifest: may be shared) and ``microdata/`` (one row per recipient:
confidential); every table of ``publication/`` goes through
:func:`nonrecours.publication.publish` with the study's
:func:`disclosure_policy` before it is written. A run writes nothing until all stages have succeeded, never
overwrites an input, and refuses a non-empty output folder unless
``overwrite=True``.
Re-running the same study gives byte-identical files; only the timings in
the manifest differ.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import _background as background
from ..errors import NonrecoursWarning, OutputError, message
from ..io import read_table, write_bytes, write_json, write_table, write_text
from ..publication import DisclosurePolicy, publish
from ..report import render_report
from ..report.i18n import check_lang
from ..report.labels import Labels, labels
from ..report.publication import publication_workbook
from ..weights.sidecar import sidecar_path
from . import stages
from .config import StudyConfig, load_study
from .manifest import build_manifest, compute_record, file_record, package_versions

__all__ = [
    "run_study",
    "StudyResult",
    "OUTPUT_TABLES",
    "OUTPUT_FILES",
    "PUBLICATION",
    "MICRODATA",
    "PUBLICATION_TABLES",
    "MICRODATA_TABLES",
    "PUBLICATION_WORKBOOK",
    "config_record",
    "ADMIN_TABLES",
    "disclosure_policy",
]

#: Tables of the administrative phase (written when the study has an ``[admin]`` section; aggregated).
ADMIN_TABLES = (
    "linkage_quality",
    "admin_rates",
    "admin_departements",
    "admin_comparison",
    "admin_accuracy",
    "admin_misclassification",
    "admin_corrected",
    "combined",
)
#: Folders of a run's output: what may be shared, and what must stay with the producer.
PUBLICATION = "publication"
MICRODATA = "microdata"
#: Aggregated tables, publishable (``publication/<name>.csv``); absent when their stage did not run.
PUBLICATION_TABLES = (
    "allocation",
    "estimates_national",
    "estimates_qpv",
    "gap_qpv",
    "calibration_gain",
    "estimates_benefit",
    "estimates_territory",
    "analysis_nontakers",
    "analysis_tests",
    "analysis_gaps",
    "analysis_model",
    "analysis_model_tests",
    "analysis_predicted",
    "analysis_models",
    "sae",
    "sae_series",
    "comparison_summary",
    *ADMIN_TABLES,
)
#: Confidential tables (``microdata/<name>.csv``): one row per recipient (sample, weights), or the true
#: rates per territory from the administrative counts (comparison).
MICRODATA_TABLES = ("sample", "weights", "comparison")
#: Tables written by a run, in order.
OUTPUT_TABLES = (
    "allocation",
    "sample",
    "weights",
    "estimates_national",
    "estimates_qpv",
    "gap_qpv",
    "calibration_gain",
    "estimates_benefit",
    "estimates_territory",
    "analysis_nontakers",
    "analysis_tests",
    "analysis_gaps",
    "analysis_model",
    "analysis_model_tests",
    "analysis_predicted",
    "analysis_models",
    "sae",
    "sae_series",
    "comparison",
    "comparison_summary",
    *ADMIN_TABLES,
)
#: The publication workbook (one sheet per publishable table, French or English number formats and marks,
#: a notes sheet).
PUBLICATION_WORKBOOK = f"{PUBLICATION}/tables.xlsx"
#: Every file a run may write, relative to its output folder.
OUTPUT_FILES = tuple(f"{MICRODATA if t in MICRODATA_TABLES else PUBLICATION}/{t}.csv" for t in OUTPUT_TABLES) + (
    f"{MICRODATA}/weights.design.json",
    f"{PUBLICATION}/report.html",
    PUBLICATION_WORKBOOK,
    f"{PUBLICATION}/manifest.json",
)


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
        Output files by path relative to ``folder`` (``publication/manifest.json`` included).
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
        self.record(name, time.perf_counter() - t0)

    def record(self, name: str, dt: float) -> None:
        """Record ``dt`` seconds for stage ``name`` and report it."""
        self.timings[name] = dt
        if self.progress is not None:
            self.progress(
                f"[{len(self.timings)}/{self.total}] {name:<12} {dt:7.2f} s"
                f"   (total {time.perf_counter() - self.start:6.2f} s)"
            )


#: A stage's outcome: its updates, the warnings it raised (message, category, file, line) and its seconds.
_Outcome = tuple[Mapping[str, Any], list[tuple[Any, type[Warning], str, int]], float]


def _run_stage(func: Callable[..., Mapping[str, Any]], cfg: StudyConfig, state: Mapping[str, Any]) -> _Outcome:
    """Run one stage, its warnings recorded (not shown), and time it."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        updates = func(cfg, state)
    return updates, [(w.message, w.category, w.filename, w.lineno) for w in caught], time.perf_counter() - t0


def _run_stage_beside(func: Callable[..., Mapping[str, Any]], cfg: StudyConfig, state: Mapping[str, Any]) -> _Outcome:
    """:func:`_run_stage` for a forked process: the warnings' messages as text (a warning's instance may not
    be rebuilt from its arguments where it is received; :func:`warnings.warn_explicit` makes one of the same
    category and text)."""
    updates, caught, seconds = _run_stage(func, cfg, state)
    return updates, [(str(m), c, f, n) for m, c, f, n in caught], seconds


def _apply(state: dict[str, Any], updates: Mapping[str, Any]) -> None:
    """Put a stage's updates into the state (``_MERGED`` keys merged, the others replaced)."""
    for key, value in updates.items():
        if key in _MERGED:
            _merge(state[key], value)
        else:
            state[key] = value


def _run_stages(
    cfg: StudyConfig,
    state: dict[str, Any],
    active: list[tuple[str, Callable[..., Mapping[str, Any]]]],
    timer: _Timer,
    notes: list[str],
    fork: bool | None,
    ready: Callable[[str, Mapping[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the stages in order; one that the next stage does not read (:data:`~nonrecours.study.stages.NEEDS`)
    runs on a forked process beside the next ones when ``fork`` (by default when a core is free), one at a time,
    and is received (its updates put into the state) before the first stage that reads it.

    Everything is received in the order of the stages, as if they had run one after the other: a stage's
    warnings are recorded (``notes``) and shown, and its time reported, once every earlier stage's have been;
    the state returned is the initial ``state`` with every stage's updates put in stage order (the same keys in
    the same order: the manifest and report list them so). A stage run beside others has its own time (wall
    seconds in its process), so the stages' times may add up to more than the run's. A stage that fails on the
    forked process runs again here and raises its error; when a later stage fails meanwhile, the earlier
    stage's error is raised first, as one after the other. ``ready(name, updates)`` is called as soon as a stage's
    updates are here (run here, or received), in the order they come: what waits only for them may start (the
    report's maps, :class:`_EarlyFigures`).
    """
    initial = {key: (dict(v) if key in _MERGED else v) for key, v in state.items()}
    outcomes: list[_Outcome | None] = []  # None: on a forked process
    committed = 0
    pending: dict[int, background.Later[_Outcome]] = {}  # the stages on forked processes, by position

    def commit(upto: int) -> None:  # the outcomes received so far, in stage order
        nonlocal committed
        while committed < upto and (done := outcomes[committed]) is not None:
            name = active[committed][0]
            _, caught, seconds = done
            timer.record(name, seconds)
            for msg, category, filename, lineno in caught:  # recorded for the report, then shown as usual
                if issubclass(category, NonrecoursWarning):
                    notes.append(f"{name}: {' '.join(str(msg).split())}")
                warnings.warn_explicit(msg, category, filename, lineno)
            committed += 1

    def told(where: int) -> None:  # a stage's updates are here
        if ready is not None and (done := outcomes[where]) is not None:
            ready(names[where], done[0])

    def receive(upto: int) -> None:  # the pending stages before position ``upto`` (waiting for them), in order
        for where in sorted(w for w in pending if w < upto):
            outcomes[where] = pending.pop(where)()
            told(where)

    names = [name for name, _ in active]
    forked = False
    try:
        for i, (name, func) in enumerate(active):
            reads = stages.NEEDS.get(name, names)  # unknown: reads all
            for where in sorted(w for w in pending if names[w] in reads):
                got = outcomes[where] = pending.pop(where)()  # a stage this one reads: received, put in the state
                _apply(state, got[0])
                told(where)
            commit(len(outcomes))
            read_next = i + 1 < len(active) and name in stages.NEEDS.get(names[i + 1], names)
            if not read_next and i + 1 < len(active) and (background.core_free() if fork is None else fork):
                # (where the platform cannot fork, it runs here when it is received: the same outcome)
                pending[i] = background.later(_run_stage_beside, func, cfg, state, fork=True)
                outcomes.append(None)
                forked = True
                continue
            try:
                outcome = _run_stage(func, cfg, state)
            except Exception:
                receive(i)  # an earlier stage's error first (as one after the other)
                raise
            outcomes.append(outcome)
            _apply(state, outcome[0])
            told(i)
            commit(len(outcomes))
        receive(len(active))
    except BaseException:
        for later in pending.values():
            later.cancel()
        raise
    commit(len(outcomes))
    if not forked:
        return state  # one after the other: the state as it ran
    final = initial
    for done in outcomes:  # every stage's updates in stage order (the keys' order as one after the other)
        assert done is not None  # every stage received
        _apply(final, done[0])
    return final


def _check_folder(folder: Path, inputs: Mapping[str, Path], overwrite: bool) -> None:
    """Refuse a non-empty output folder (unless overwrite), one holding an input, and, with overwrite, one
    holding anything a run does not write (a run replaces the whole folder)."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(
            message("the output folder is a file", where=f"output.folder {str(folder)!r}", hint="choose a folder name")
        )
    root = folder.resolve()
    for key, p in inputs.items():
        if root == p.resolve() or root in p.resolve().parents:
            raise OutputError(
                message(
                    "an output would overwrite an input file: the input lies in the output folder",
                    where=key,
                    found=repr(str(p)),
                    hint="choose another output.folder",
                )
            )
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise OutputError(
                message(
                    "the output folder is not empty",
                    where=f"output.folder {str(folder)!r}",
                    hint="choose a new folder, or set parameter overwrite to replace the files of a previous run",
                )
            )
        check_only_written(folder, run_written(folder), where=f"output.folder {str(folder)!r}")


def _listed(manifest: Path, key: str) -> set[str] | None:
    """The relative paths a manifest lists under ``key`` (its own path added), or None without a readable one."""
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
        listed = set(record[key])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {str(p) for p in listed}


def run_written(folder: Path) -> Callable[[str], bool]:
    """Whether a file of ``folder`` (its path relative to it) was written by the run whose results it holds.

    The run's ``publication/manifest.json`` lists its outputs. A folder without one (a run of an earlier version,
    of the flat layout, or killed before it moved its results into place) holds only files of the names a run
    writes (:data:`OUTPUT_FILES`, or their names at the top of the flat layout).
    """
    manifest = f"{PUBLICATION}/manifest.json"
    listed = _listed(folder / manifest, "outputs")
    if listed is not None:
        return (listed | {manifest}).__contains__
    flat = {Path(f).name for f in OUTPUT_FILES}
    return lambda rel: rel in OUTPUT_FILES or rel in flat


def check_only_written(folder: Path, written: Callable[[str], bool], *, where: str) -> None:
    """Refuse to replace ``folder`` when it holds a file the package did not write (``written(relative path)``
    false): overwriting removes only what the package wrote.

    Temporary files of an atomic write killed midway (``.name.xxx.tmp``) are the package's. The message counts
    the other files and names one (a file name, never its content).
    """
    other = []
    for p in sorted(folder.rglob("*")):
        if p.is_dir() and not p.is_symlink():
            continue
        if p.name.startswith(".") and p.name.endswith(".tmp"):  # an atomic write killed midway
            continue
        if not written(p.relative_to(folder).as_posix()):
            other.append(p)
    if other:
        raise OutputError(
            message(
                "the folder holds files the package did not write; overwrite removes only what "
                "it wrote (the previous manifest lists them)",
                where=where,
                found=f"{len(other)} other file{'s' if len(other) > 1 else ''}, such as "
                f"{other[0].relative_to(folder).as_posix()!r}",
                hint="move those files out of the folder, or choose a new folder",
            )
        )


def _staging_names(folder: Path) -> tuple[str, str]:
    return f".{folder.name}.staging-", f".{folder.name}.old-"


def _clean_strays(folder: Path) -> list[Path]:
    """Remove the staging and set-aside folders an earlier run left when it was killed."""
    parent = folder.parent
    if not parent.is_dir():
        return []
    prefixes = _staging_names(folder)
    stray = [e for e in parent.iterdir() if e.is_dir() and e.name.startswith(prefixes)]
    for e in stray:
        shutil.rmtree(e, ignore_errors=True)
    for e in folder.rglob(".*.tmp") if folder.is_dir() else ():
        e.unlink(missing_ok=True)  # temporary files of the atomic writes of earlier versions
    return stray


def _staging_dir(folder: Path) -> Path:
    """A new, empty, private (mode 0700: it holds microdata) staging folder next to ``folder`` (its parent
    created if need be); :func:`_move_into_place` gives the folder the usual permissions."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=_staging_names(folder)[0], dir=folder.parent))  # mode 0700


#: The signals that end a run and can be caught: the staging folder is removed before the run ends.
CLEANUP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


@contextmanager
def staging_folder(folder: Path) -> Iterator[Path]:
    """A private staging folder next to ``folder`` (:func:`_staging_dir`), removed if the block fails and on
    SIGTERM, SIGINT or SIGHUP.

    The strays of a run killed earlier (SIGKILL cannot be caught) are removed first (:func:`_clean_strays`).
    During the block a handler of each signal removes the staging folder, then hands the signal on: to the
    handler installed before (an outer staging folder's, Python's KeyboardInterrupt), or to the default
    action (the process ends with the signal). Handlers are installed only in the main thread. A process
    forked during the block (a pool's worker) inherits the handlers but removes nothing: the signal ends it
    by the default action.
    """
    _clean_strays(folder)
    staging = _staging_dir(folder)
    previous: dict[int, Any] = {}
    owner = os.getpid()

    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != owner:
            # a forked child (a pool's worker drawing maps) inherits this handler; the folder is not its own:
            # a pool ends its workers by SIGTERM, which must not remove the run's staging folder
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        shutil.rmtree(staging, ignore_errors=True)
        before = previous.get(signum, signal.SIG_DFL)
        if callable(before):
            before(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    import threading

    if threading.current_thread() is threading.main_thread():
        for signum in CLEANUP_SIGNALS:
            previous[signum] = signal.getsignal(signum)
            if previous[signum] is signal.SIG_IGN:  # an ignored signal stays ignored (nohup)
                del previous[signum]
                continue
            signal.signal(signum, handler)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before if before is not None else signal.SIG_DFL)


def _move_into_place(staging: Path, folder: Path) -> None:
    """Replace ``folder`` by ``staging``: set the old one aside, rename, then delete the old one. The folder
    gets the usual permissions (the staging folder's were private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=_staging_names(folder)[1], dir=folder.parent))
        os.replace(folder, old / "run")
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, folder)


def run_study(
    config: StudyConfig | str | os.PathLike,
    *,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    lang: str | None = None,
    fork: bool | None = None,
) -> StudyResult:
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
    fork : bool, optional
        Run the work that the next steps do not wait for on forked processes, beside the rest: a stage that the
        next stage does not read (:data:`nonrecours.study.stages.NEEDS`: ``admin`` beside ``analysis`` and
        ``territorial``, ``analysis`` beside ``territorial``), the report's figures as soon as their tables are
        (:class:`_EarlyFigures`: the small areas' maps and figures once the territorial stage has run, the
        administrative rates' maps once the admin stage has), the report's territories section, and the
        administrative phase (started with the study: it reads only its sources; the weighting waits for its
        links only). ``True`` forks, ``False`` runs everything in this process; by default the stages and the
        report's figures and section fork when a core is free (:func:`nonrecours._background.core_free`), the
        administrative phase whenever the platform forks (this process waits for its links anyway), never beside
        a Spark engine. The outputs are the same bytes either way.

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
    Outputs in ``publication/``: ``allocation.csv``, ``estimates_national.csv``,
    ``estimates_qpv.csv``, ``gap_qpv.csv``, ``estimates_benefit.csv``,
    ``estimates_territory.csv``, ``analysis_*.csv`` (who does not take up:
    non-takers, tests, pairwise gaps, model, term tests, predicted take-up),
    ``sae.csv`` (territorial phase), ``comparison_summary.csv`` (when true
    rates are given), ``report.html``, ``tables.xlsx`` (the publication
    workbook) and ``manifest.json``; in ``microdata/``: ``sample.csv``,
    ``weights.csv`` with its design sidecar ``weights.design.json`` (roles, calibration,
    replicates: :func:`~nonrecours.weights.sidecar.load_weighted_design` rebuilds the
    calibrated design from both) and ``comparison.csv`` (true rates per territory).
    Warnings raised by a stage are shown and listed in the report. Tables are written atomically (temporary name, then
    rename); the report is rendered from the tables read back from disk.

    Examples
    --------
    >>> result = run_study("examples/study.toml", overwrite=True)   # doctest: +SKIP
    >>> result.tables["estimates_national"][["right", "estimate"]]  # doctest: +SKIP
    >>> sorted(p.name for p in result.folder.iterdir())              # doctest: +SKIP
    ['microdata', 'publication']
    """
    cfg = config if isinstance(config, StudyConfig) else load_study(config)
    lang = check_lang(cfg.report.lang if lang is None else lang, "lang")
    folder = cfg.output.folder
    inputs = cfg.input_files()
    _check_folder(folder, inputs, overwrite)
    from .stages.follow_up import check_runs

    state: dict[str, Any] = {key: {} for key in _MERGED}
    state["runs"] = check_runs(cfg)  # earlier runs of a follow-up, their manifests checked, before any work
    active = [(n, f) for n, f in stages.STAGES if n != "follow_up" or state["runs"]]
    timer = _Timer(progress, total=len(active) + 2)
    notes: list[str] = []
    if cfg.admin.sources is not None:
        # the administrative phase reads only its sources: started at once on a forked process, beside the
        # stages (the weighting waits for its links only, the admin stage for the whole phase)
        from .stages.admin import start_phase

        state["admin_phase"] = start_phase(cfg, fork)
    early = _EarlyFigures(cfg, lang, fork)  # the report's figures, drawn as soon as their tables are
    try:
        try:
            state = _run_stages(cfg, state, active, timer, notes, fork, early.ready)
        except BaseException:
            if "admin_phase" in state:  # the phase run_study started
                state["admin_phase"].cancel()
            raise

        with staging_folder(folder) as staging:  # private, removed on failure and on a signal that can be caught
            files, tables, _, manifest = _write(cfg, state, staging, inputs, notes, timer, lang, fork, early)
            _move_into_place(staging, folder)
    finally:
        early.cancel()  # received by the report (joined here), or not needed (ended)
    files = {name: folder / name for name in files}
    return StudyResult(config=cfg, folder=folder, files=files, tables=tables, manifest=manifest)


def _write(
    cfg: StudyConfig,
    state: Mapping[str, Any],
    staging: Path,
    inputs: Mapping[str, Path],
    notes: list[str],
    timer: _Timer,
    lang: str,
    fork: bool | None = None,
    early: _EarlyFigures | None = None,
) -> tuple[dict[str, Path], dict[str, pd.DataFrame], dict, dict]:
    """Write every output of the run into ``staging`` (its ``publication/`` and ``microdata/``); ``early``: the
    figures drawn while the study ran."""
    input_paths = list(inputs.values())
    with timer("writing"):
        files: dict[str, Path] = {}
        from .stages.follow_up import FOLLOW_UP_TABLES

        for sub in (PUBLICATION, MICRODATA):
            (staging / sub).mkdir()
        # what publication/ receives is what the publication layer returns, held to the study's policy
        published = publish(
            {name: t for name, t in state["tables"].items() if name not in MICRODATA_TABLES},
            policy=disclosure_policy(cfg),
        )
        for name in OUTPUT_TABLES + FOLLOW_UP_TABLES:  # the follow-up tables when the study has [follow_up]
            if name in state["tables"]:
                confidential = name in MICRODATA_TABLES
                rel = f"{MICRODATA if confidential else PUBLICATION}/{name}.csv"
                files[rel] = write_table(
                    state["tables"][name] if confidential else published[name],
                    staging / rel,
                    option="output.folder",
                    inputs=input_paths,
                )
    with timer("report"):
        tables = {Path(p).stem: read_table(p, option="output") for p in files.values()}
        for name, record in state.get("sidecars", {}).items():  # a weighted table's design, beside it
            rel = f"{MICRODATA if name in MICRODATA_TABLES else PUBLICATION}/{name}.csv"
            if rel in files:
                side = sidecar_path(rel).as_posix()
                files[side] = write_json(record, staging / side, option="output.folder", inputs=input_paths)
        base = cfg.source.parent if cfg.source is not None else None
        provenance = _provenance(cfg, inputs, state, base)
        provenance["warnings"] = list(dict.fromkeys(notes))
        provenance["folders"] = {
            PUBLICATION: sorted(Path(f).name for f in files if f.startswith(PUBLICATION))
            + ["report.html", Path(PUBLICATION_WORKBOOK).name, "manifest.json"],
            MICRODATA: sorted(Path(f).name for f in files if f.startswith(MICRODATA)),
        }
        # the report and the workbook are published: rendered from the publishable tables (and, for the
        # report, the weights' distribution)
        shown = {k: v for k, v in tables.items() if k not in MICRODATA_TABLES or k == "weights"}
        maps = early.maps if early is not None else ()
        extra = _extra_sections(shown, lang, cfg, fork, maps)  # the maps' section: on a forked process (core free)
        try:
            published = {k: v for k, v in tables.items() if k not in MICRODATA_TABLES}
            workbook = publication_workbook(published, provenance, lang=lang)  # meanwhile
            drawn = [plot for later in early.plots for plot in later()] if early is not None else []
            report = render_report(shown, provenance, lang=lang, extra_sections=extra, drawn=drawn)
        finally:
            background.cancel(extra)  # a failure meanwhile: the child's result will not be asked for
        rel = f"{PUBLICATION}/report.html"
        files[rel] = write_text(report, staging / rel, option="output.folder", inputs=input_paths)
        files[PUBLICATION_WORKBOOK] = write_bytes(
            workbook, staging / PUBLICATION_WORKBOOK, option="output.folder", inputs=input_paths
        )
    manifest = build_manifest(
        provenance=provenance,
        outputs=files,
        timings=timer.timings,
        base=staging,
        compute=compute_record(cfg.compute, state.get("engines")),
    )
    manifest["publication"] = {
        PUBLICATION: "report, aggregated tables, the publication workbook and this manifest: may be shared",
        MICRODATA: "one row per recipient (sample, weights) or true rates per territory (comparison): "
        "confidential, not to be shared",
    }
    manifest["timings_seconds"]["total"] = round(time.perf_counter() - timer.start, 3)
    rel = f"{PUBLICATION}/manifest.json"
    files[rel] = write_json(manifest, staging / rel, option="output.folder", inputs=input_paths)
    return files, tables, provenance, manifest


def disclosure_policy(cfg: StudyConfig) -> DisclosurePolicy:
    """The study's disclosure policy: ``[estimation.thresholds] min_n`` and ``[admin] min_cell``."""
    return DisclosurePolicy(
        min_n=cfg.estimation.thresholds.min_n,
        min_cell=cfg.admin.min_cell,
        allow_below_threshold=cfg.estimation.thresholds.allow_below_threshold,
    )


def _extra_sections(
    tables: Mapping[str, Any],
    lang: str,
    cfg: StudyConfig | None = None,
    fork: bool | None = None,
    drawn: Sequence[background.Later[list]] = (),
) -> list[tuple[str, str, str | Callable[[], str]]]:
    """The sections rendered by their own modules, for the stages that ran.

    The territories section (its maps are most of the report's drawing) is started first, on a forked process
    when a core is free (:func:`nonrecours._background.later`): its body is a function that gives the
    HTML once :func:`~nonrecours.report.render_report` has rendered the rest. It takes the maps of ``drawn``
    (drawn while the study ran, :class:`_EarlyFigures`) and draws the others.
    """
    territories = _territories_section(tables, lang, cfg, fork, drawn)
    try:
        sections = _module_sections(tables, lang, cfg)
    except BaseException:
        background.cancel([territories] if territories is not None else [])
        raise
    if territories is not None:
        sections.append(territories)
    return sections


def _module_sections(
    tables: Mapping[str, Any], lang: str, cfg: StudyConfig | None
) -> list[tuple[str, str, str | Callable[[], str]]]:
    """The sections of :func:`_extra_sections` but the territories', in the order of the report."""
    from ..report.html import section_parts

    sections: list[tuple[str, str, str | Callable[[], str]]] = []
    if any(name.startswith("analysis_") for name in tables):
        from ..report import section_analysis

        sections.append(section_parts(section_analysis.render(tables, lang, labels=_labels(cfg, lang))))
    if "comparison_summary" in tables:  # territory estimators against the true rates (a dry run)
        from ..report import section_territorial_comparison

        sections.append(section_parts(section_territorial_comparison.render(tables["comparison_summary"], lang)))
    if "calibration_gain" in tables:  # the survey calibrated to the linked holders of the administrative phase
        from ..report import section_calibration

        sections.append(section_parts(section_calibration.render(tables["calibration_gain"], lang)))
    if "admin_comparison" in tables:
        from ..report import section_admin

        sections.append(section_parts(section_admin.render(tables, lang)))
    if "follow_up_yearly" in tables:  # a year of a series ([follow_up] with earlier runs)
        from ..report import section_followup

        scheme = cfg.follow_up.scheme if cfg is not None and cfg.follow_up is not None else "panel"
        sections.append(section_parts(section_followup.render(tables, lang, scheme=scheme)))
    return sections


def _territories_section(
    tables: Mapping[str, Any],
    lang: str,
    cfg: StudyConfig | None,
    fork: bool | None = None,
    drawn: Sequence[background.Later[list]] = (),
) -> tuple[str, str, Callable[[], str]] | None:
    """The territories section (with its maps, but those of ``drawn``), started on a forked process when a core is
    free."""
    if cfg is None or not any(name in tables for name in ("sae", "estimates_territory", "admin_rates")):
        return None
    from ..report import section_territories

    body = background.later(
        _render_territories,
        tables,
        lang,
        drawn,
        rights=list(cfg.estimation.rights),
        contours=cfg.territorial.contours,
        territories=_territories_file(cfg),
        max_cv=cfg.estimation.thresholds.max_cv,
        labels=_labels(cfg, lang),
        fork=fork,
    )
    return "explore", section_territories.TEXT[lang]["title"], body


def _territories_file(cfg: StudyConfig) -> pd.DataFrame | None:
    """The territories file: the département and type of every territory (and the maps their shapes)."""
    ter = cfg.territorial
    if ter.covariates_file is None:
        return None
    return read_table(ter.covariates_file, option="territorial.covariates_file")


def _render_territories(
    tables: Mapping[str, Any], lang: str, drawn: Sequence[background.Later[list]], **kwargs: Any
) -> str:
    """:func:`nonrecours.report.section_territories.render`, with the maps of ``drawn`` received here (waiting for
    them: drawn since their tables were, they are mostly ready)."""
    from ..report import section_territories

    return section_territories.render(tables, lang, drawn=[m for later in drawn for m in later()], **kwargs)


#: The tables the report's maps are drawn from (publishable ones): their maps are drawn as soon as the stage that
#: writes them has run (:class:`_EarlyFigures`). ``estimates_territory`` is not: its maps are drawn only without
#: ``sae``, which a later stage writes.
_MAP_TABLES = ("sae", "admin_rates", "admin_departements", "follow_up_territories")
#: The report's own sections whose figures are drawn once the territorial stage has run (``sae`` given): the
#: tables they show (``weights``, ``estimates_national``, ``estimates_qpv``, ``sae``, ``estimates_territory``) are
#: all written by then.
_PLOT_SECTIONS = ("weighting", "headline", "territories", "shrinkage")


class _EarlyFigures:
    """The report's figures, drawn on forked processes while the study runs.

    The territories section's maps and the report's figures are most of the report's work, and the tables they
    show are written by stages that end before the last ones (``territorial``: ``sae``; ``admin``, run beside
    ``analysis`` and ``territorial``: ``admin_rates``, ``admin_departements``), when this process mostly waits
    for the administrative phase. As soon as a stage's updates hold such tables (:func:`_run_stages`' ``ready``),
    their maps, and with ``sae`` the figures of :data:`_PLOT_SECTIONS`, are drawn on forked processes (``fork``,
    or by default when a core is free): from the tables as the report will read them (published, written as CSV
    and read back, in memory: :func:`nonrecours.io.as_read_back`). The territories section and the report take a
    figure drawn so only for the same key and values (``drawn`` of
    :func:`nonrecours.report.section_territories.render` and :func:`nonrecours.report.render_report`), and draw
    the others: the report is the same bytes (drawing is deterministic). Nothing is written; a drawing that
    fails gives no figure, so that the report draws it and raises its error, as without this.
    """

    def __init__(self, cfg: StudyConfig, lang: str, fork: bool | None) -> None:
        self._cfg, self._lang, self._fork = cfg, lang, fork
        self._tables: dict[str, pd.DataFrame] = {}  # every table of the stages so far
        self.maps: list[background.Later[list]] = []  # the maps of each stage, in the order they came
        self.plots: list[background.Later[list]] = []  # the figures of _PLOT_SECTIONS

    def ready(self, name: str, updates: Mapping[str, Any]) -> None:
        """A stage's updates are here: its tables' figures started on forked processes (when it may fork)."""
        tables = dict(updates.get("tables", {}))
        self._tables.update(tables)
        maps = {k: v for k, v in tables.items() if k in _MAP_TABLES and self._cfg.territorial.contours is not None}
        if not (maps or "sae" in tables) or self._fork is False or not (self._fork or background.core_free()):
            return
        try:
            if maps:
                self.maps.append(background.later(_draw_early, maps, self._cfg, self._lang, fork=True))
            if "sae" in tables:  # (the report shows the weights' distribution: the one confidential table it reads)
                shown = {k: v for k, v in self._tables.items() if k not in MICRODATA_TABLES or k == "weights"}
                self.plots.append(background.later(_plot_early, shown, self._cfg, self._lang, fork=True))
        except OSError:  # no process to be had (fork's EAGAIN, ENOMEM): the report draws these figures
            pass

    def cancel(self) -> None:
        """End the drawings still running (the report failed), join the others."""
        for later in self.maps + self.plots:
            later.cancel()


def _as_written(tables: Mapping[str, pd.DataFrame], cfg: StudyConfig) -> dict[str, pd.DataFrame]:
    """``tables`` as the report reads them back: published (those of ``publication/``), written as CSV, read."""
    from ..io import as_read_back

    public = publish({k: v for k, v in tables.items() if k not in MICRODATA_TABLES}, policy=disclosure_policy(cfg))
    return {name: as_read_back(public.get(name, t)) for name, t in tables.items()}


def _draw_early(tables: Mapping[str, pd.DataFrame], cfg: StudyConfig, lang: str) -> list:
    """The maps of ``tables`` as the report will draw them (:class:`_EarlyFigures`); none if that fails."""
    from ..report import section_territories

    try:
        return section_territories.draw_maps(
            _as_written(tables, cfg),  # (a table refused by the publication is refused when written)
            lang,
            rights=list(cfg.estimation.rights),
            contours=cfg.territorial.contours,
            territories=_territories_file(cfg),
            max_cv=cfg.estimation.thresholds.max_cv,
        )
    except Exception:  # noqa: BLE001 - the section draws these maps itself and raises their error there
        return []


def _plot_early(tables: Mapping[str, pd.DataFrame], cfg: StudyConfig, lang: str) -> list:
    """The figures of :data:`_PLOT_SECTIONS` as the report will draw them from ``tables`` (:class:`_EarlyFigures`:
    the provenance's settings and labels, which they read, as the run's); none if that fails."""
    from ..report.html import draw_plots

    try:
        labels = _study_labels(cfg)
        provenance = {"settings": _settings(cfg), **({"labels": labels} if labels else {})}
        return draw_plots(_as_written(tables, cfg), provenance, lang, _PLOT_SECTIONS)
    except Exception:  # noqa: BLE001 - the report draws these figures itself and raises their error there
        return []


def _labels(cfg: StudyConfig | None, lang: str) -> Labels:
    """The report's labels: the study's ``[report.labels]`` and ``[report.levels]`` over the defaults."""
    return labels(lang, _study_labels(cfg) if cfg is not None else None)


def _study_labels(cfg: StudyConfig) -> dict[str, Any]:
    """The study's own labels, as recorded in the provenance (empty when it gives none)."""
    rep = cfg.report
    return {
        k: v for k, v in (("labels", dict(rep.labels)), ("levels", {c: dict(x) for c, x in rep.levels.items()})) if v
    }


def _provenance(
    cfg: StudyConfig, inputs: Mapping[str, Path], state: Mapping[str, Any], base: Path | None
) -> dict[str, Any]:
    """Everything the report shows besides the tables; the manifest adds output hashes and timings."""
    study = {"path": cfg.source.name if cfg.source is not None else "", "text": cfg.text}
    if cfg.source is not None:
        study["sha256"] = file_record(cfg.source)["sha256"]
    out: dict[str, Any] = {}
    if _study_labels(cfg):  # recorded only when the study gives labels: earlier manifests stay the same
        out["labels"] = _study_labels(cfg)
    if cfg.follow_up is not None:
        out["follow_up"] = {
            "year": cfg.follow_up.year,
            "scheme": cfg.follow_up.scheme,
            "share": cfg.follow_up.share,
            "runs": [
                {
                    "year": r["year"],
                    "folder": os.path.relpath(r["folder"], base or Path.cwd()),
                    "manifest_sha256": r["manifest_sha256"],
                }
                for r in state.get("runs", [])
            ],
        }
    return out | {
        "title": cfg.title,
        "study_file": study,
        "versions": package_versions(),
        "inputs": {key: file_record(p, base=base) for key, p in inputs.items()},
        "seeds": {k: v for k, v in state.get("seeds", {}).items() if v is not None},
        "settings": _settings(cfg),
        "counts": dict(state.get("counts", {})),
        "weighting": dict(state.get("weight_summary", {})),
        "methods": dict(state.get("methods", {})),
        "config": config_record(cfg),
    }


def _settings(cfg: StudyConfig) -> dict[str, Any]:
    """The provenance's settings: rights, domains, level, thresholds and disclosure policy."""
    est = cfg.estimation
    return {
        "rights": list(est.rights),
        "domains": asdict(est.domains),
        "level": est.level,
        "thresholds": asdict(est.thresholds),
        "disclosure": disclosure_policy(cfg).to_dict(),
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

    record = {
        k: plain(v)
        for k, v in asdict(cfg).items()
        if k in ("design", "responses", "weighting", "estimation", "territorial")
    }
    for key in ("pps", "joint"):  # optional keys recorded only when set: earlier studies' manifests stay the same
        if record["estimation"].get(key) is None:
            record["estimation"].pop(key, None)
    return record
