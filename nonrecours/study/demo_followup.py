"""The follow-up demo: several years of the synthetic population, one study run per year.

``nonrecours demo --years 2014-2016 --out DIR`` simulates the waves
(:func:`~nonrecours.simulate.waves.simulate_waves`) into ``DIR/population/<year>/``,
writes ``DIR/study_<year>.toml`` (the example study on that year's files, with a
``[follow_up]`` section naming the earlier years' result folders) and runs them in
order into ``DIR/results/<year>/``. The last year's report holds the follow-up
section: series per right, QPV vs rest, changes, the net change of the gap and the
territories that moved most.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence

from ..io import write_text
from .demo import DEMO_MANIFEST, POPULATION, RESULTS, check_demo_folder, example_study, write_demo_manifest
from .pipeline import StudyResult, run_study

__all__ = ["followup_study", "run_followup_demo"]


def followup_study(
    year: int, earlier: Sequence[int], *, seed: int = 1, scheme: str = "rotating", share: float = 0.25
) -> str:
    """Text of the study file of ``year``: the example study on that year's files plus ``[follow_up]``.

    Examples
    --------
    >>> text = followup_study(2015, [2014])
    >>> "population/2015/recipients.csv" in text and 'runs = ["results/2014"]' in text
    True
    """
    text = example_study(seed=seed)
    text = text.replace(f'"{POPULATION}/', f'"{POPULATION}/{int(year)}/')
    text = re.sub(r'(?m)^folder = "results"', f'folder = "{RESULTS}/{int(year)}"', text)
    # the territory model of a follow-up: Rao-Yu over the years (benchmarks/RESULTS.md, "Which territory model")
    text = re.sub(
        r'(?m)^method = "amrl" .*$',
        'model = "rao-yu"                      # Rao-Yu : effets de territoire AR(1) sur les années du suivi\n'
        'method = "reml"',
        text,
        count=1,
    )
    text = text.replace("(dry run)", f"{int(year)} (dry run)", 1)
    runs = ", ".join(f'"{RESULTS}/{int(y)}"' for y in earlier)
    return text + (
        f"\n[follow_up]                            # this run as one year of a series\n"
        f"year = {int(year)}\n"
        f"runs = [{runs}]\n"
        f'scheme = "{scheme}"                    # samples of successive years share recipients\n'
        f"share = {share}                         # renewed each year\n"
        f'by = ["is_qpv"]\n'
    )


def run_followup_demo(
    out: str | os.PathLike,
    years: Sequence[int],
    *,
    territories: int = 60,
    seed: int = 1,
    scheme: str = "rotating",
    share: float = 0.25,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[StudyResult]:
    """Simulate the waves, write one study per year and run them in order.

    Everything (populations, study files, every year's results) is built in a
    staging folder next to ``out`` and moved into place when the last run is
    written, as ``nonrecours run`` does: a demo killed midway leaves no
    half-finished folder, and the next demo removes the staging folder it left.
    With ``overwrite`` the whole demo folder is replaced.

    Returns
    -------
    list of StudyResult
        One per year, oldest first; the last holds the follow-up tables.
    """
    import dataclasses

    from ..simulate.waves import simulate_waves
    from .pipeline import _move_into_place, staging_folder

    folder = check_demo_folder(
        out,
        overwrite,
        lambda name: name in (POPULATION, RESULTS, DEMO_MANIFEST) or re.fullmatch(r"study_\d+\.toml", name) is not None,
    )
    t0 = time.perf_counter()
    waves = simulate_waves(territories, tuple(years), seed=seed)
    # all or nothing: the demo folder appears when every year's run is written; the staging folder is private,
    # removed on failure, on a signal that can be caught, or (SIGKILL) by the next demo
    with staging_folder(folder) as staging:
        waves.write(staging / POPULATION)
        if progress is not None:
            progress(
                f"simulated {len(waves.years)} years of about {len(waves.populations[0].recipients):,} "
                f"recipients into {folder / POPULATION} ({time.perf_counter() - t0:.2f} s)"
            )
        results = []
        for k, year in enumerate(waves.years):  # one study run per year, in order
            study = write_text(
                followup_study(year, waves.years[:k], seed=seed, scheme=scheme, share=share),
                staging / f"study_{year}.toml",
            )
            results.append(run_study(study, progress=progress))
        write_demo_manifest(staging)
        _move_into_place(staging, folder)

    def moved(result: StudyResult) -> StudyResult:
        rel = result.folder.resolve().relative_to(staging.resolve())  # a relative --out: the runs resolve their folders
        return dataclasses.replace(
            result, folder=folder / rel, files={name: folder / rel / name for name in result.files}
        )

    return [moved(r) for r in results]
