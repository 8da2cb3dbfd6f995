"""``nonrecours init``, ``run`` and ``demo``: whole studies from a study file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from ._common import (
    check_population_options,
    echo_table,
    handle_errors,
    is_terminal,
    overwrite_option,
    progress_bar,
    quiet_option,
)

__all__ = ["register", "init", "run", "demo"]


@contextmanager
def _stages(quiet: bool) -> Iterator[Callable[[str], None] | None]:
    """The run's progress: a bar over the stages on a terminal, one line per stage on stderr otherwise,
    nothing with --quiet."""
    from ..study import stages as stage_list

    if quiet:
        yield None
        return
    if not is_terminal():
        yield lambda line: typer.echo(line, err=True)
        return
    total = len(stage_list.STAGES) + 2  # the stages, writing and the report
    with progress_bar("study", quiet=quiet) as update:
        seen = [0]

        def on_stage(line: str) -> None:
            if line.startswith("["):
                seen[0] += 1
                update(seen[0], total, description=" ".join(line.split()[1:2]))
            else:
                typer.echo(line, err=True)

        update(0, total)
        yield on_stage


@handle_errors
def run(
    study: Path = typer.Argument(..., help="The study file (TOML)."),
    overwrite: bool = overwrite_option(
        "Replace the files of a previous run in the output folder (inputs are never overwritten)."
    ),
    lang: str | None = typer.Option(
        None,
        "--lang",
        help="Language of the report and publication tables: fr or en [default: the study file's [report] lang].",
        show_default=False,
    ),
    quiet: bool = quiet_option(),
) -> None:
    """Run a study: sample, weights, estimates, small areas, report.html, tables.xlsx and manifest.json."""
    from ..study import load_study, run_study
    from ..study.demo import summary_table

    cfg = load_study(study)
    with _stages(quiet) as progress:
        result = run_study(cfg, overwrite=overwrite, progress=progress, lang=lang)
    echo_table(summary_table(result))
    typer.echo(
        f"wrote {len(result.files)} files to {result.folder}: share {result.folder / 'publication'} "
        f"(open {result.folder / 'publication' / 'report.html'}); {result.folder / 'microdata'} is "
        "confidential (one row per recipient)"
    )


@handle_errors
def demo(
    out: Path = typer.Option(..., "--out", help="Demo folder: population/, study.toml and results/ go there."),
    territories: int = typer.Option(200, "--territories", help="Number of QPVs of the synthetic population."),
    seed: int = typer.Option(1, "--seed", help="Seed of the population and of the sample."),
    overwrite: bool = overwrite_option("Replace the files of a previous demo in --out."),
    lang: str | None = typer.Option(
        None,
        "--lang",
        help="Language of the report: fr or en [default: fr, as written in the example study file].",
        show_default=False,
    ),
    quiet: bool = quiet_option(),
    years: str | None = typer.Option(
        None,
        "--years",
        help="Follow-up demo over several years, e.g. 2014-2016: "
        "one population, study file and run per year, samples rotating; the last "
        "report shows the series, changes and territories that moved most.",
    ),
    admin: bool = typer.Option(
        True,
        "--admin/--no-admin",
        help="Also simulate the administrative sources and run "
        "the administrative phase (eligibility, linkage, QPV from coordinates, administrative "
        "rates: linkage_quality.csv and admin_rates.csv in publication/); about 12 s in all at 200 "
        "territories on 2 idle cores. Skipped with a notice when the admin extra (splink, duckdb) is missing.",
    ),
) -> None:
    """Simulate a population, write an example study file next to it, and run it."""
    from ..study.demo import run_demo, summary_table

    check_population_options(territories, seed)
    if years is not None:
        _followup(out, years, territories, seed, overwrite, quiet)
        return
    with _stages(quiet) as progress:
        result = run_demo(
            out, territories=territories, seed=seed, overwrite=overwrite, progress=progress, lang=lang, admin=admin
        )
    typer.echo(
        f"National take-up rates (%) with {result.config.estimation.level:.0%} confidence intervals, "
        "and the QPV - rest gap:"
    )
    echo_table(summary_table(result))
    typer.echo(
        f"study file {Path(out) / 'study.toml'}; results in {result.folder} "
        f"(open {result.folder / 'publication' / 'report.html'}; microdata/ is confidential)"
    )


@handle_errors
def init(
    out: Path = typer.Argument(Path("study.toml"), help="Study file to write."),
    seed: int = typer.Option(1, "--seed", help="Seed of the design written in the file."),
    overwrite: bool = overwrite_option("Replace an existing file."),
) -> None:
    """Write the example study file to edit (a dry run on population/, report in French)."""
    from ..io import check_outputs, write_text
    from ..study.demo import example_study

    check_outputs({"OUT": out}, overwrite=overwrite, tables=())  # the one rule of every command's outputs
    write_text(example_study(seed=seed), out, option="OUT")
    typer.echo(
        f"wrote {out}: its paths (population/recipients.csv, ...) are relative to it; edit, then 'nonrecours run {out}'"
    )


def _followup(out: Path, years: str, territories: int, seed: int, overwrite: bool, quiet: bool) -> None:
    from ..errors import OptionError, message
    from ..simulate.waves import parse_years
    from ..study.demo_followup import run_followup_demo

    ys = parse_years(years)
    if len(ys) < 2:
        raise OptionError(
            message(
                "a follow-up needs at least two years",
                where="option --years",
                expected="FIRST-LAST such as 2014-2016",
                found=repr(years),
            )
        )
    with _stages(quiet) as progress:
        results = run_followup_demo(out, ys, territories=territories, seed=seed, overwrite=overwrite, progress=progress)
    last = results[-1]
    ch = last.tables.get("follow_up_changes")
    if ch is not None:
        typer.echo(f"Changes of take-up (percentage points), {ys[0]}-{ys[-1]}, QPV (1) and the rest (0):")
        show = ch.assign(change=100 * ch["change"], se=100 * ch["se"], se_independent=100 * ch["se_independent"])
        echo_table(show[["year_from", "year_to", "is_qpv", "right", "change", "se", "se_independent", "p_value"]])
    typer.echo(
        f"{len(results)} runs in {Path(out) / 'results'}; the follow-up is in "
        f"{last.folder / 'publication' / 'report.html'}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``init``, ``run`` and ``demo`` commands to ``app``."""
    app.command("init")(init)
    app.command("run")(run)
    app.command("demo")(demo)
