"""The demo: simulate a population, write an example study file next to it and run it.

``nonrecours demo --out DIR`` is the README's first command. The example
study (:data:`EXAMPLE_STUDY`, also ``examples/study.toml``) is a dry run: the
sample's answers are the synthetic population's true right columns, drawn
with a response model, so that every estimate can be compared with the truth.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import OutputError, message
from ..io import write_text
from ..publication.policy import DEFAULT_MIN_CELL, DEFAULT_MIN_N

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import StudyResult

__all__ = ["example_study", "run_demo", "summary_table", "POPULATION", "RESULTS", "STUDY_FILE"]

#: Sub-folders and file of the demo folder.
POPULATION = "population"
RESULTS = "results"
STUDY_FILE = "study.toml"
#: The demo's list of the files it wrote (``files``): what a later demo with overwrite may replace.
DEMO_MANIFEST = "manifest.json"
#: QPV contours of the demo population (for the report's maps): those of its administrative sources.
CONTOURS = "qpv.geojson"


def example_study(*, seed: int = 1) -> str:
    """Text of the example study file, with the design ``seed`` given.

    Paths in it are relative to the study file: ``population/recipients.csv``,
    ``population/territories.csv``, ``population/truth.csv`` and the output
    folder ``results``.

    Examples
    --------
    >>> "seed = 7" in example_study(seed=7)
    True
    """
    text = resources.files("nonrecours.study").joinpath("example.toml").read_text(encoding="utf-8")
    return Template(text).substitute(seed=int(seed), min_n=DEFAULT_MIN_N)


#: The ``[admin]`` section appended to the example study by ``run_demo(admin=True)``.
ADMIN_SECTION = f"""
[admin]                                # la phase administrative, sur les sources simulées de la population
sources = "population/sources"
year = 2015
threshold = 0.9
min_cell = {DEFAULT_MIN_CELL}
truth_links = "population/sources/truth_links.csv"
truth = "population/sources/truth.csv"
frame_ids = "population/sources/frame_ids.csv"   # la base de sondage est le fichier : l'enregistrement des répondants
review_sample = 3000                   # revue manuelle simulée (par la vérité) de 3 000 allocataires par source
"""


def admin_available() -> bool:
    """Whether the packages of the administrative phase (the ``admin`` extra) are installed."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("splink", "duckdb", "pyarrow"))


def run_demo(
    out: str | os.PathLike,
    *,
    territories: int = 200,
    seed: int = 1,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    lang: str | None = None,
    admin: bool = True,
    fork: bool | None = None,
) -> StudyResult:
    """Simulate a population into ``out/population``, write ``out/study.toml`` and run it into ``out/results``.

    Parameters
    ----------
    out : path
        Demo folder; must be empty or absent unless ``overwrite``.
    territories : int
        Number of QPVs of the synthetic population (each paired with the rest
        of its urban area).
    seed : int
        Seed of the population and of the study's design.
    overwrite : bool
        Replace the files of a previous demo in ``out``.
    progress : callable, optional
        Called with one line of text per step.
    lang : {"fr", "en"}, optional
        Language of the report (default: the example study's, French).
    admin : bool
        Also simulate the administrative sources (``population/sources``) and
        run the study's ``[admin]`` section: linkage quality
        (``linkage_quality.csv``) and administrative rates (``admin_rates.csv``)
        in ``publication/`` (about 16 s in all at 200 territories on 2 idle cores); the weights are
        calibrated to the linked holders of each right as well
        (``[weighting.calibration] holders``; ``calibration_gain.csv``: SEs
        with the frame's margins only and with the holders). When the admin
        extra (splink, duckdb, pyarrow) is not installed the phase is skipped
        and ``progress`` says so.
    fork : bool, optional
        Run the study's independent work on forked processes (``True``), in this process only (``False``), or
        when a core is free (default): :func:`~nonrecours.study.pipeline.run_study`'s ``fork``, and that of
        the simulation before it (the population's files, the sources' eligibility and half of their files:
        ``simulate_sources`` and ``Sources.write``). The files are the same bytes either way.

    Returns
    -------
    StudyResult
    """
    from ..simulate import simulate_population
    from .pipeline import _move_into_place, run_study, staging_folder

    folder = check_demo_folder(out, overwrite, lambda name: name in (POPULATION, RESULTS, STUDY_FILE, DEMO_MANIFEST))
    from .. import _background as background

    t0 = time.perf_counter()
    pop = simulate_population(territories, seed=seed)
    simulated = time.perf_counter() - t0
    if admin and not admin_available():
        admin = False
        if progress is not None:
            progress(
                "administrative phase skipped: it needs the admin extra "
                "(pip install 'nonrecours[admin]'); --no-admin silences this"
            )
    # all or nothing: the demo folder appears when everything is written; the staging folder is private and
    # removed on failure, on a signal that can be caught, or (SIGKILL) by the next demo
    with staging_folder(folder) as staging:
        # the population's files are written on a forked process while this one simulates the sources (from the
        # population in memory), when a core is free
        written = background.later(_timed, pop.write, staging / POPULATION, fork=fork if admin else False)
        try:
            if admin:
                from ..simulate.params import FileResourceParams
                from ..simulate.sources import SourceParams, simulate_sources

                t1 = time.perf_counter()
                # files that miss part of the resources (FileResourceParams' defaults): eligibility read from them
                # is misclassified, as a statistician meets it; the sample measures it ([admin] frame_ids)
                params = SourceParams(file_resources=FileResourceParams())
                sources = simulate_sources(pop, seed=seed + 1, params=params, fork=fork)
        except BaseException:
            written.cancel()
            raise
        seconds = written()  # (the files are written here if the forked process failed)
        if progress is not None:
            progress(
                f"simulated {len(pop.recipients):,} recipients in {len(pop.territories):,} territories "
                f"into {folder / POPULATION} ({simulated + seconds:.2f} s)"
            )
        from ..simulate.contours import qpv_contours

        # the contours of the administrative sources (same seed): the maps show the QPVs the phase assigns (the
        # sources' own contours when they are simulated: qpv_contours draws the same layout)
        contours = sources.contours if admin else qpv_contours(pop.territories, seed=seed + 1)
        write_text(contours, staging / POPULATION / CONTOURS)
        key = f'contours = "{POPULATION}/{CONTOURS}"'
        text = example_study(seed=seed).replace(f"# {key}", key)
        if admin:
            sources.write(staging / POPULATION / "sources", fork=fork)
            text += ADMIN_SECTION
            # the survey calibrated to the linked holders of each right too (counts of the administrative files)
            text = text.replace("# holders = ", "holders = ")
            if progress is not None:
                progress(
                    f"simulated the administrative sources into {folder / POPULATION / 'sources'} "
                    f"({time.perf_counter() - t1:.2f} s)"
                )
        study = write_text(text, staging / STUDY_FILE)
        result = run_study(study, progress=progress, lang=lang, fork=fork)
        write_demo_manifest(staging)
        _move_into_place(staging, folder)
    results = folder / RESULTS
    return dataclasses.replace(result, folder=results, files={name: results / name for name in result.files})


def _timed(fn: Callable[..., object], *args: object) -> float:
    """Call ``fn(*args)``; the seconds it took."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def summary_table(result: StudyResult) -> pd.DataFrame:
    """National take-up per right with its CI, and the QPV − rest gap with its CI and p-value.

    The numbers are read from the result tables (``estimates_national``,
    ``gap_qpv``), in percent.
    """
    nat = result.tables["estimates_national"].set_index("right")
    out = pd.DataFrame(
        {
            "right": nat.index,
            "take-up %": 100 * nat["estimate"].to_numpy(),
            "ci_low %": 100 * nat["ci_low"].to_numpy(),
            "ci_high %": 100 * nat["ci_high"].to_numpy(),
        }
    )
    gap = result.tables.get("gap_qpv")
    if gap is not None:
        g = gap.set_index("right").reindex(nat.index)
        out["gap QPV-rest (pts)"] = 100 * g["gap"].to_numpy()
        out["gap ci_low"] = 100 * g["ci_low"].to_numpy()
        out["gap ci_high"] = 100 * g["ci_high"].to_numpy()
        pcol = next((c for c in ("p_value", "pvalue") if c in g.columns), None)
        if pcol is not None:
            out["p-value"] = g[pcol].to_numpy()
    return out


def check_demo_folder(out: str | os.PathLike, overwrite: bool, ours: Callable[[str], bool]) -> Path:
    """The demo's output folder, checked before any work: a folder (not a file, not the current one or one of
    its parents), empty or, with ``overwrite``, holding only entries a demo writes (``ours(name)``)."""
    folder = Path(out)
    where = f"parameter out {str(folder)!r}"
    if not str(out).strip():
        raise OutputError(message("empty folder name", where="parameter out", hint="give the demo folder a name"))
    if folder.exists() and not folder.is_dir():
        raise OutputError(message("the demo folder is a file", where=where, hint="choose a folder name"))
    if folder.resolve() == Path.cwd().resolve() or folder.resolve() in Path.cwd().resolve().parents:
        raise OutputError(
            message("the demo folder would replace the current folder", where=where, hint="choose a new folder")
        )
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise OutputError(
                message(
                    "the demo folder is not empty", where=where, hint="choose a new folder, or set parameter overwrite"
                )
            )
        other = [e for e in folder.iterdir() if not ours(e.name)]
        if other:
            raise OutputError(
                message(
                    "the demo folder holds files a demo did not write; parameter overwrite replaces the whole folder",
                    where=where,
                    found=f"{len(other)} other entries such as {other[0].name!r}",
                    hint="move them, or choose a new folder",
                )
            )
        from .pipeline import _listed, check_only_written

        listed = _listed(folder / DEMO_MANIFEST, "files")
        if listed is not None:  # a demo of an earlier version (no list) is replaced on its top-level names
            ours_too = listed | {DEMO_MANIFEST}
            check_only_written(folder, lambda rel: rel in ours_too or _run_wrote(folder, rel), where=where)
    return folder


def _run_wrote(folder: Path, rel: str) -> bool:
    """Whether a run re-done inside a demo (``results/`` or ``results/<year>/``) wrote ``rel``, by its manifest."""
    from .pipeline import PUBLICATION, run_written

    parts = rel.split("/")
    for k in (1, 2):
        base = folder.joinpath(*parts[:k])
        if len(parts) > k and (base / PUBLICATION / "manifest.json").is_file():
            return run_written(base)("/".join(parts[k:]))
    return False


def write_demo_manifest(staging: Path) -> Path:
    """List every file of a demo built in ``staging`` in its ``manifest.json``: the files a later demo with
    ``overwrite`` may replace (anything else stops it, :func:`check_demo_folder`)."""
    import json

    files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    record = {"written_by": "nonrecours demo", "files": files}
    return write_text(json.dumps(record, indent=1) + "\n", staging / DEMO_MANIFEST)
