"""``nonrecours run`` and ``nonrecours demo``: whole studies from a study file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..study import load_study, run_study
from ..study.demo import run_demo, summary_table
from ._common import check_population_options, echo_table, handle_errors

__all__ = ["register", "run", "demo"]


def _progress(line: str) -> None:
    typer.echo(line, err=True)


@handle_errors
def run(
    study: Path = typer.Argument(..., help="The study file (TOML)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the files of a previous run in the "
                                   "output folder (inputs are never overwritten)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Language of the report and publication tables: fr "
                                       "or en [default: the study file's [report] lang].", show_default=False),
) -> None:
    """Run a study: sample, weights, estimates, small-area estimates, report.html, publication/tables.xlsx and manifest.json."""
    cfg = load_study(study)
    result = run_study(cfg, overwrite=overwrite, progress=_progress, lang=lang)
    echo_table(summary_table(result))
    typer.echo(f"wrote {len(result.files)} files to {result.folder} (open {result.folder / 'report.html'})")


@handle_errors
def demo(
    out: Path = typer.Option(..., "--out", help="Demo folder: population/, study.toml and results/ go there."),
    territories: int = typer.Option(200, "--territories", help="Number of QPVs of the synthetic population."),
    seed: int = typer.Option(1, "--seed", help="Seed of the population and of the sample."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the files of a previous demo in --out."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Language of the report: fr or en [default: fr, "
                                       "as written in the example study file].", show_default=False),
) -> None:
    """Simulate a population, write an example study file next to it, and run it."""
    check_population_options(territories, seed)
    result = run_demo(out, territories=territories, seed=seed, overwrite=overwrite, progress=_progress, lang=lang)
    typer.echo(f"National take-up rates (%) with {result.config.estimation.level:.0%} confidence intervals, "
               "and the QPV - rest gap:")
    echo_table(summary_table(result))
    typer.echo(f"study file {Path(out) / 'study.toml'}; results in {result.folder} "
               f"(open {result.folder / 'report.html'})")


def register(app: typer.Typer) -> None:
    """Add the ``run`` and ``demo`` commands to ``app``."""
    app.command("run")(run)
    app.command("demo")(demo)
