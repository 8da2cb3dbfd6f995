"""``nonrecours series``: yearly estimates, changes and trend over waves; administrative rates over years.

Thin layer over :func:`nonrecours.estimation.series.estimate_series` and
:func:`nonrecours.admin.series.admin_series`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import OptionError, OutputError, message
from ..io import read_table, write_table
from ..options import ChangeVariance, SuppressionMethod, WaveScheme, check_option, choices_text
from ..publication.policy import DEFAULT_MIN_CELL
from ._common import allow_below_threshold_option, echo_table, handle_errors, min_n_option, overwrite_option
from ._design import WAVES_HELP, DesignOptions, design_options, load_waves, wave_replicates

__all__ = ["register", "series", "SURVEY_FILES", "ADMIN_FILES"]

SURVEY_FILES = ("series_yearly.csv", "series_changes.csv", "series_trend.csv")
ADMIN_FILES = ("admin_series.csv", "admin_series_departements.csv", "admin_series_changes.csv")


def _years(text: str | None, option: str) -> dict[int, Path]:
    """``2014=a.csv,2015=b.csv`` -> {2014: Path('a.csv'), ...}, years increasing."""
    from .._checks import parse_mapping

    raw = parse_mapping(text, option=option, value_type=str)
    out: dict[int, Path] = {}
    for k, v in raw.items():
        try:
            out[int(k)] = Path(v.strip())
        except ValueError:
            raise OptionError(
                message("a year must be an integer", where=f"option {option}", expected="YEAR=FILE", found=repr(k))
            ) from None
    if list(out) != sorted(out):
        raise OptionError(message("years must increase", where=f"option {option}", found=", ".join(map(str, out))))
    return out


def _outputs(out: Path, names: list[str], inputs: list[Path], overwrite: bool) -> dict[str, Path]:
    if out.exists() and not out.is_dir():
        raise OutputError(message("output folder is a file", where=f"--out {str(out)!r}", hint="choose a folder name"))
    paths = {n: out / n for n in names}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise OutputError(
            message(
                "output files already exist",
                where=f"--out {str(out)!r}",
                found=", ".join(existing),
                hint="choose another folder or pass --overwrite",
            )
        )
    resolved = {p.resolve() for p in inputs}
    clash = [str(p) for p in paths.values() if p.resolve() in resolved]
    if clash:
        raise OutputError(
            message(
                "an output would replace an input",
                where=f"--out {str(out)!r}",
                found=", ".join(clash),
                hint="choose another folder",
            )
        )
    return paths


@handle_errors
@design_options(lonely_psu="adjust", help=WAVES_HELP)
def series(
    rights: str = typer.Option(..., "--rights", help="Right columns, comma-separated."),
    waves: str | None = typer.Option(
        None, "--waves", help="Samples or weighted files per year: 2014=s14.csv,2015=s15.csv,... (survey series)."
    ),
    runs: str | None = typer.Option(
        None,
        "--runs",
        help="Output folders of study runs (with [follow_up] year), "
        "comma-separated, oldest first: their manifests are checked (SHA-256) and "
        "their weighted samples (weights.csv) form the waves.",
    ),
    admin: str | None = typer.Option(
        None,
        "--admin",
        help="Administrative files per year: recipients files "
        "(territory, departement, rights) or counts tables (territory, departement, "
        "right, n_eligible, n_takers): 2014=a.csv,2015=b.csv,...",
    ),
    by: str | None = typer.Option(None, "--by", help="Domain columns of the survey series (e.g. is_qpv)."),
    scheme: str | None = typer.Option(
        None,
        "--scheme",
        help=f"{choices_text(WaveScheme)} [default: the 'scheme' column of the last wave, else panel].",
    ),
    id_col: str = typer.Option("id", "--id-col", help="Recipient identifier linking the waves."),
    variance: str = typer.Option("taylor", "--variance", help=f"{choices_text(ChangeVariance)}."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    min_cell: int = typer.Option(
        DEFAULT_MIN_CELL,
        "--min-cell",
        help="Administrative cells with fewer eligible recipients in any year are suppressed in every year.",
    ),
    suppression: str = typer.Option(
        "heuristic",
        "--suppression",
        help=f"Secondary suppression of the administrative series: {choices_text(SuppressionMethod)} (the "
        "least-cost pattern over every year's tables, or the fast completion heuristic).",
    ),
    min_n: int = min_n_option(
        "Statistical confidentiality of the survey series: a domain with fewer eligible "
        "respondents, takers or non-takers in any year is suppressed in every year (its changes and trend too), nor "
        "is a count of respondents in both years below it published."
    ),
    allow_below_threshold: bool = allow_below_threshold_option(),
    out: Path = typer.Option(..., "--out", help="Output folder (series_*.csv, admin_series*.csv)."),
    covariances_out: Path | None = typer.Option(
        None,
        "--covariances-out",
        help="Also write the sampling covariances of the survey series between the years and rights of each "
        "--by domain (the waves' joint covariance, as the changes and trend use it): the --by columns, "
        "right_a, year_a, right_b, year_b, cov, each pair once, none of a suppressed estimate; what "
        "'territorial fit --covariances' reads with --time year.",
    ),
    overwrite: bool = overwrite_option("Replace existing output files."),
    *,
    design_opts: DesignOptions,
) -> None:
    """Series over years: yearly take-up, changes, trend test; territorial admin rates with consistent suppression."""
    from .._checks import check_level, parse_list

    check_option("--variance", variance, ChangeVariance)
    if scheme is not None:
        check_option("--scheme", scheme, WaveScheme)
    replicates = wave_replicates(design_opts, variance)
    check_level(level, "--level")
    from ..publication import DisclosurePolicy, check_threshold, publish

    check_threshold(min_n, name="min_n", where="option --min-n", allow_below=allow_below_threshold)
    check_threshold(min_cell, name="min_cell", where="option --min-cell", allow_below=allow_below_threshold)
    check_option("--suppression", suppression, SuppressionMethod)
    right_list = parse_list(rights, option="--rights")
    by_list = parse_list(by, option="--by")
    wave_files = _years(waves, "--waves") if waves else {}
    admin_files = _years(admin, "--admin") if admin else {}
    run_list = []
    if runs:
        if wave_files:
            raise OptionError(
                message("give the waves as files or as study runs, not both", where="options --waves / --runs")
            )
        from ..study.runs import read_run

        if design_opts.given():  # a run's weighted design comes from its sidecar
            raise OptionError(
                message(
                    "the design of a study run comes from the sidecar of its weights.csv",
                    where=", ".join(design_opts.given()),
                    hint="drop these options",
                )
            )
        run_list = [read_run(Path(r), f"--runs {r}") for r in parse_list(runs, option="--runs")]
        years = [r["year"] for r in run_list]
        if years != sorted(set(years)):
            raise OptionError(
                message("the runs' years must increase", where="option --runs", found=", ".join(map(str, years)))
            )
        wave_files = {r["year"]: r["weights"] for r in run_list}
        if scheme is None and run_list[-1]["scheme"]:
            scheme = run_list[-1]["scheme"]
    if not wave_files and not admin_files:
        raise OptionError(
            message(
                "nothing to do",
                where="options --waves / --runs / --admin",
                hint="give survey waves (--waves or --runs) or administrative years (--admin)",
            )
        )
    if wave_files and len(wave_files) < 2:
        raise OptionError(
            message("a series needs at least two waves", where="option --waves", found=f"{len(wave_files)} wave")
        )
    names = (list(SURVEY_FILES) if wave_files else []) + (list(ADMIN_FILES) if admin_files else [])
    inputs = list(wave_files.values()) + list(admin_files.values())
    paths = _outputs(out, names, inputs, overwrite)
    if covariances_out is not None:
        if not wave_files:
            raise OptionError(
                message(
                    "covariances come from survey waves",
                    where="option --covariances-out",
                    hint="give --waves or --runs, or drop --covariances-out",
                )
            )
        from ..io import check_outputs

        check_outputs({"--covariances-out": covariances_out}, inputs + list(paths.values()), overwrite=overwrite)
    written = []
    tables = {}
    if wave_files:
        from ..estimation.change import wave_scheme
        from ..estimation.series import estimate_series

        if run_list:  # study runs: their weighted designs, calibration included (the sidecar of weights.csv)
            from ..study.runs import run_design

            designs = [run_design(r, lonely_psu=design_opts.lonely_psu, replicates=replicates) for r in run_list]
        else:
            datas = {y: read_table(p, option=f"--waves {y}") for y, p in wave_files.items()}
            designs = load_waves(
                {f"--waves {y}": p for y, p in wave_files.items()},
                design_opts,
                datas={f"--waves {y}": d for y, d in datas.items()},
                variance=variance,
            )
        sch = wave_scheme(designs[-1].data, scheme)
        res = estimate_series(
            designs,
            list(wave_files),
            right_list,
            by_list,
            scheme=sch,
            id_col=id_col,
            variance=variance,
            level=level,
            lonely_psu=design_opts.lonely_psu,
        )
        from ..publication import blank_changes, protect_series

        sides = None if res.n_takers is None or res.n_non_takers is None else (res.n_takers, res.n_non_takers)
        # one pattern every year; a cell under min_n takers or non-takers in a year is hidden in all
        yearly, hidden = protect_series(res.yearly, by_list, min_n=min_n, nationals={}, sides=sides)
        changes, trend = blank_changes(res.changes, by_list, min_n=min_n, hidden=hidden, trend=res.trend)
        tables.update({"series_yearly.csv": yearly, "series_changes.csv": changes, "series_trend.csv": trend})
        if covariances_out is not None:  # pairs of a domain; none of an estimate the yearly table empties
            from ..estimation.covariances import series_covariances

            tables["covariances"] = series_covariances(res, yearly)
    if admin_files:
        from ..admin.series import COUNT_COLUMNS, admin_counts, admin_series

        counts = {}
        for y, p in admin_files.items():
            d = read_table(p, option=f"--admin {y}")
            if set(COUNT_COLUMNS) <= set(d.columns):
                counts[y] = d[d["right"].astype(str).isin(right_list)]
            else:
                counts[y] = admin_counts(d, right_list)
        s = admin_series(counts, min_cell=min_cell, method=suppression)
        tables.update(
            {
                "admin_series.csv": s.table,
                "admin_series_departements.csv": s.departements,
                "admin_series_changes.csv": s.changes,
            }
        )
    tables = publish(
        tables, policy=DisclosurePolicy(min_n=min_n, min_cell=min_cell, allow_below_threshold=allow_below_threshold)
    )  # what leaves
    out.mkdir(parents=True, exist_ok=True)
    for name in names:  # everything computed: now write
        written.append(write_table(tables[name], paths[name], inputs=inputs))
    if covariances_out is not None:
        written.append(write_table(tables["covariances"], covariances_out, option="--covariances-out", inputs=inputs))
    if wave_files and trend is not None:
        echo_table(trend[[*by_list, "right", "slope", "se", "p_value", "lack_of_fit_p"]])
        typer.echo(f"{len(wave_files)} waves ({sch}, {res.variance_method})")
    if admin_files:
        ns = s.n_suppressed
        typer.echo(
            f"{len(admin_files)} administrative years: {ns['primary']} primary and {ns['secondary']} secondary "
            f"suppressions, the same every year (min cell {min_cell})"
        )
    typer.echo("wrote " + ", ".join(map(str, written)))


def register(app: typer.Typer) -> None:
    """Add the ``series`` command to ``app``."""
    app.command("series")(series)
