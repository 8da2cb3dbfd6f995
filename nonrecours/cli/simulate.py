"""``nonrecours simulate``: write a synthetic population of recipients."""

from __future__ import annotations

from pathlib import Path

import typer

from ..options import TableFormat, check_option, choices_text
from ._common import check_population_options, echo_table, handle_errors, overwrite_option

__all__ = ["register", "simulate"]


@handle_errors
def simulate(
    territories: int = typer.Option(
        1500,
        "--territories",
        help="Number of priority neighbourhoods (QPV); each is paired with the rest of its urban area.",
    ),
    seed: int = typer.Option(..., "--seed", help="Seed of the random draws (the output is reproducible)."),
    out: Path = typer.Option(..., "--out", help="Output folder (created if missing)."),
    format: str = typer.Option("csv", "--format", help=f"File format: {choices_text(TableFormat)}."),
    overwrite: bool = overwrite_option("Replace recipients/territories/truth files in --out."),
    years: str | None = typer.Option(
        None,
        "--years",
        help="Simulate waves, e.g. 2014-2018: one folder per year "
        "(--out/<year>/) with the evolved population and its truth, and waves.json.",
    ),
    sources: bool = typer.Option(
        False,
        "--sources",
        help="Also write the administrative sources as the organisms "
        "hold them into --out/sources (organisms' files, health insurance, suppliers' lists, "
        "QPV contours, truth).",
    ),
    files_miss_resources: bool = typer.Option(
        False,
        "--files-miss-resources",
        help="With --sources: the organisms' files miss part of the resources (capital income, maintenance, a "
        "partner's earnings, stale declarations; the demo's setting), so that eligibility read from them is "
        "misclassified both ways while the truth keeps the real one.",
    ),
) -> None:
    """Simulate recipients, territories and true take-up rates; write three tables to --out."""
    from ..simulate import simulate_population
    from ..simulate.population import check_outputs

    check_option("--format", format, TableFormat)
    check_population_options(territories, seed)
    if years is not None:
        if sources:
            from ..errors import OptionError, message

            raise OptionError(
                message(
                    "--sources is not available with --years",
                    where="--sources",
                    hint="simulate the sources of one year at a time",
                )
            )
        _waves(territories, seed, out, format, overwrite, years)
        return
    check_outputs(out, format, overwrite=overwrite)  # before the (long) simulation: nothing written on error
    if sources and (out / "sources").exists() and any((out / "sources").iterdir()) and not overwrite:
        from ..errors import OutputError, message

        raise OutputError(
            message(
                "the sources folder is not empty",
                where=f"--out {str(out / 'sources')!r}",
                hint="choose another folder or pass --overwrite",
            )
        )
    pop = simulate_population(territories, seed=seed)
    paths = pop.write(out, format, overwrite=overwrite)
    if sources:
        from ..simulate.params import FileResourceParams
        from ..simulate.sources import SourceParams, simulate_sources

        params = SourceParams(file_resources=FileResourceParams() if files_miss_resources else None)
        src = simulate_sources(pop, seed=seed + 1, params=params)
        src.write(out / "sources", format, overwrite=overwrite)
        typer.echo(f"wrote the administrative sources in {out / 'sources'} (seed {seed + 1})")
    r = pop.recipients
    n_qpv = int(r["is_qpv"].sum())
    typer.echo(
        f"{len(pop.territories):,} territories ({territories:,} QPVs and the rest of their urban areas), "
        f"{len(r):,} recipients ({n_qpv / max(len(r), 1):.1%} in QPVs), seed {seed}"
    )
    shares = r["benefit"].value_counts(normalize=True, sort=False)
    typer.echo("benefits: " + ", ".join(f"{b} {v:.1%}" for b, v in shares.items()))
    echo_table(pop.summary())
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def _waves(territories: int, seed: int, out: Path, format: str, overwrite: bool, years: str) -> None:
    from ..simulate.population import check_outputs
    from ..simulate.waves import parse_years, simulate_waves

    ys = parse_years(years)
    for y in ys:  # before the simulation: nothing written on error
        check_outputs(out / str(y), format, overwrite=overwrite)
    w = simulate_waves(territories, ys, seed=seed)
    w.write(out, format, overwrite=overwrite)
    for y, pop in zip(w.years, w.populations):
        s = pop.summary()
        typer.echo(
            f"{y}: {len(pop.recipients):,} recipients; take-up "
            + ", ".join(f"{r} {v:.1%}" for r, v in zip(s["right"], s["rate"]))
        )
    typer.echo(
        f"{len(w.policy)} QPVs with the policy from {w.years[min(w.params.policy_start, len(ys) - 1)]}; "
        f"wrote {len(ys)} yearly folders and waves.json in {out}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""
    app.command("simulate")(simulate)
