"""``nonrecours territorial``: small-area estimates, administrative rates, comparison with the truth."""

from __future__ import annotations

from pathlib import Path

import typer

from ..io import check_outputs, read_table, write_table
from ..options import (
    FHMSE,
    BenchmarkMethod,
    ComputeEngine,
    FHMethod,
    FHTransform,
    FHVariance,
    SuppressionMethod,
    check_option,
    choices_text,
)
from ..publication.policy import DEFAULT_MIN_CELL
from ._common import (
    allow_below_threshold_option,
    decimal_option,
    echo_table,
    encoding_option,
    handle_errors,
    id_option,
    na_option,
    nothing_held,
    out_decimal_option,
    out_encoding_option,
    out_sep_option,
    overwrite_option,
    sep_option,
    sheet_option,
    table_options,
)
from ._design import role_option

__all__ = ["register", "fit", "fit_unit", "admin", "compare", "neighbours"]

sub = typer.Typer(
    name="territorial",
    no_args_is_help=True,
    help="Per-territory take-up: Fay-Herriot estimates, administrative rates, comparison.",
)


@handle_errors
def fit(
    direct: Path = typer.Argument(
        ..., help="Direct estimates by territory (output of 'nonrecours estimate --by territory')."
    ),
    aux: Path = typer.Option(..., "--aux", help="Territories file with the covariates (territories.csv of simulate)."),
    covariates: str = typer.Option(..., "--covariates", help="Comma-separated covariate columns of --aux."),
    method: str | None = typer.Option(
        None,
        "--method",
        help=f"Model variance: {choices_text(FHMethod)} (fh: "
        "moments; amrl, amrl-yl: adjusted REML of Li-Lahiri / Yoshimori-Lahiri, "
        "never 0); default amrl; reml or ml with --model other than fh or --time.",
    ),
    transform: str = typer.Option(
        "none",
        "--transform",
        help=f"Scale of the model: {choices_text(FHTransform)} (arcsine square root, back-transformed).",
    ),
    variance: str = typer.Option(
        "gvf",
        "--variance",
        help=f"Sampling variances: {choices_text(FHVariance)} (gvf: smoothed, p(1-p)deff/n; direct: se^2, "
        "the GVF value where a rate is 0 or 1).",
    ),
    mse: str | None = typer.Option(
        None,
        "--mse",
        help=f"MSE: {choices_text(FHMSE)} (default prasad-rao, Datta-Lahiri "
        "for ml; bootstrap with --transform arcsin).",
    ),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap replicates for --mse bootstrap."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the bootstrap (required with it)."),
    benchmark: str | None = typer.Option(
        None,
        "--benchmark",
        help="Benchmark to a larger area: a column of --aux (e.g. departement, is_qpv) or 'nation'.",
    ),
    benchmark_method: str = typer.Option("ratio", "--benchmark-method", help=f"{choices_text(BenchmarkMethod)}."),
    weight: str = typer.Option(
        "population", "--weight", help="Column of --aux weighting territories when benchmarking."
    ),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the intervals."),
    out: Path = typer.Option(..., "--out", help="Output table (csv, parquet or json)."),
    diagnostics_out: Path | None = typer.Option(
        None, "--diagnostics-out", help="Also write per-territory diagnostics."
    ),
    overwrite: bool = overwrite_option(),
    sep: str | None = sep_option(),
    decimal: str | None = decimal_option(),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option(),
    na: str | None = na_option(),
    out_sep: str | None = out_sep_option(),
    out_decimal: str | None = out_decimal_option(),
    out_encoding: str | None = out_encoding_option(),
    workers: int = typer.Option(
        1, "--workers", help="Processes running the bootstrap MSE (same results whatever their number)."
    ),
    model: str = typer.Option(
        "fh",
        "--model",
        help="fh (one Fay-Herriot model per right, and per year with "
        "--time), rao-yu (per right over the years, AR(1)), multivariate (per year over the "
        "rights), spatial (SAR effects over --neighbours) or spatio-temporal (per right: SAR territory effects over "
        "--neighbours and AR(1) territory-year effects over --time, REML). Models other than fh use se^2 "
        "and --covariances, REML or ML, analytic MSEs (or --mse bootstrap --bootstrap B --seed S).",
    ),
    time: str | None = typer.Option(
        None, "--time", help="Year column of DIRECT (and of --aux, joined on territory and year when it has one)."
    ),
    covariances: Path | None = typer.Option(
        None,
        "--covariances",
        help="Sampling covariances: territory, right_a, year_a, right_b, year_b, cov (absent: diagonal).",
    ),
    neighbours: Path | None = typer.Option(
        None, "--neighbours", help="territory_a, territory_b (output of 'territorial neighbours'); row-standardised."
    ),
    models_out: Path | None = typer.Option(
        None, "--models-out", help="Also write the models table (variance parameters, correlations, convergence)."
    ),
) -> None:
    """Fit one Fay-Herriot model per right (or a model that borrows strength over years, rights or neighbours);
    write EBLUPs, MSEs and CIs for every territory of --aux."""
    from .._checks import parse_list
    from ..territorial import fit_territories

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    if model != "fh" or time is not None or covariances is not None or neighbours is not None:
        _fit_borrowing(
            direct,
            aux,
            covariates,
            model=model,
            time=time,
            covariances=covariances,
            neighbours=neighbours,
            method=method or "reml",
            others={"--transform": transform != "none", "--benchmark": benchmark is not None},
            mse=mse,
            bootstrap=bootstrap,
            seed=seed,
            workers=workers,
            level=level,
            out=out,
            models_out=models_out,
            diagnostics_out=diagnostics_out,
            overwrite=overwrite,
            rd=rd,
            wr=wr,
        )
        return
    method = method or "amrl"
    check_option("--method", method, FHMethod)  # before reading the inputs
    check_option("--transform", transform, FHTransform)
    check_option("--variance", variance, FHVariance)
    if mse is not None:
        check_option("--mse", mse, FHMSE)
    check_option("--benchmark-method", benchmark_method, BenchmarkMethod)
    inputs = [direct, aux]
    check_outputs(
        {"--out": out, "--diagnostics-out": diagnostics_out, "--models-out": models_out}, inputs, overwrite=overwrite
    )
    res = fit_territories(
        read_table(direct, option="DIRECT", read=rd),
        read_table(aux, option="--aux", read=rd),
        parse_list(covariates, option="--covariates"),
        method=method,
        transform=transform,
        variance=variance,
        mse=mse,
        replicates=bootstrap,
        seed=seed,
        benchmark=benchmark,
        benchmark_method=benchmark_method,
        weight=weight,
        level=level,
        workers=workers,
    )
    echo_table(
        res.models[
            [
                "right",
                "m",
                "n_predicted",
                "model_variance",
                "model_variance_se",
                "zero_variance",
                "mean_gamma",
                "median_cv_gain",
                "shapiro_p",
                "mse",
            ]
        ]
    )
    echo_table(res.coefficients_frame())
    if res.benchmark is not None:
        echo_table(res.benchmark.to_frame())
    write_table(res.to_frame(), out, inputs=inputs, csv_style=wr)
    if diagnostics_out is not None:
        write_table(res.diagnostics, diagnostics_out, option="--diagnostics-out", inputs=inputs, csv_style=wr)
    if models_out is not None:
        write_table(res.models, models_out, option="--models-out", inputs=inputs, csv_style=wr)
    typer.echo(f"wrote {out}" + (f" and {diagnostics_out}" if diagnostics_out is not None else ""))


def _fit_borrowing(
    direct: Path,
    aux: Path,
    covariates: str,
    *,
    model: str,
    time: str | None,
    covariances: Path | None,
    neighbours: Path | None,
    method: str,
    others: dict,
    mse: str | None,
    bootstrap: int,
    seed: int | None,
    workers: int,
    level: float,
    out: Path,
    models_out: Path | None,
    diagnostics_out: Path | None,
    overwrite: bool,
    rd,
    wr,
) -> None:
    """``territorial fit`` with a model that borrows strength (:func:`~nonrecours.territorial.fit_borrowing`)."""
    from .._checks import check_choice, parse_list
    from ..errors import OptionError, message
    from ..territorial.borrowing import BORROW_MODELS, fit_borrowing

    check_choice("--model", model, BORROW_MODELS)
    check_choice("--method", method, ("reml", "ml"))
    given = [flag for flag, on in {**others, "--diagnostics-out": diagnostics_out is not None}.items() if on]
    if given:
        raise OptionError(
            message(
                f"{', '.join(given)} apply to the univariate model without --time",
                where="option --model",
                found=model,
                hint="drop them (the models that borrow strength use se^2 and analytic or bootstrap MSEs)",
            )
        )
    if mse is not None and mse != "bootstrap":
        raise OptionError(
            message(
                "the models that borrow strength have their analytic MSE (default) or the bootstrap",
                where="option --mse",
                expected="bootstrap, or no --mse",
                found=repr(mse),
            )
        )
    if mse == "bootstrap" and seed is None:
        raise OptionError(
            message("the bootstrap MSE needs a seed", where="option --seed", expected="an integer, e.g. --seed 1")
        )
    for flag, ok, what in (
        (
            "--time",
            model not in ("rao-yu", "spatio-temporal") or time is not None,
            f"the {'Rao-Yu' if model == 'rao-yu' else model} model needs the year column",
        ),
        (
            "--neighbours",
            model not in ("spatial", "spatio-temporal") or neighbours is not None,
            f"the {model} model needs the neighbours file",
        ),
        (
            "--method",
            model not in ("multivariate", "spatio-temporal") or method == "reml",
            f"the {model} model is fitted by REML only",
        ),
    ):
        if not ok:
            raise OptionError(message(what, where=f"option {flag}", hint="see 'nonrecours territorial fit --help'"))
    inputs = [p for p in (direct, aux, covariances, neighbours) if p is not None]
    check_outputs({"--out": out, "--models-out": models_out}, inputs, overwrite=overwrite)
    res = fit_borrowing(
        read_table(direct, option="DIRECT", read=rd),
        read_table(aux, option="--aux", read=rd),
        parse_list(covariates, option="--covariates"),
        model=model,
        time=time,
        covariances=None if covariances is None else read_table(covariances, option="--covariances", read=rd),
        neighbours=None if neighbours is None else read_table(neighbours, option="--neighbours", read=rd),
        method=method,
        level=level,
        mse=mse or "analytic",
        replicates=bootstrap,
        seed=seed,
        workers=workers,
    )
    echo_table(res.models)
    write_table(res.to_frame(), out, inputs=inputs, csv_style=wr)
    if models_out is not None:
        write_table(res.models, models_out, option="--models-out", inputs=inputs, csv_style=wr)
    typer.echo(f"wrote {out}" + (f" and {models_out}" if models_out is not None else ""))


@handle_errors
def neighbours(
    contours: Path = typer.Argument(
        ..., help="Territory contours (GeoJSON FeatureCollection, WGS84), e.g. qpv.geojson."
    ),
    out: Path = typer.Option(..., "--out", help="Output table: territory_a, territory_b (both orders), relation."),
    code_field: str = typer.Option("code_qp", "--code-field", help="Feature property holding the territory code."),
    distance: float = typer.Option(
        0.0,
        "--distance",
        help="Also neighbours: contours less than this many metres apart (geodesic), for territories that touch none.",
    ),
    contiguity: str = typer.Option(
        "rook", "--contiguity", help="rook (a shared boundary line) or queen (a common point is enough)."
    ),
    overwrite: bool = overwrite_option(),
) -> None:
    """Neighbouring territories from their contours (shared boundary, or within --distance): --neighbours of
    'territorial fit --model spatial' or 'spatio-temporal'."""
    from .._checks import check_choice
    from ..admin.geo import read_contours
    from ..errors import OptionError, message
    from ..territorial.neighbours import contour_neighbours

    check_choice("--contiguity", contiguity, ("rook", "queen"))
    if not distance >= 0:
        raise OptionError(
            message(
                "the distance must be a non-negative number of metres", where="option --distance", found=repr(distance)
            )
        )
    check_outputs({"--out": out}, [contours], overwrite=overwrite)
    table = contour_neighbours(
        read_contours(contours, code_field=code_field), distance_m=distance, contiguity=contiguity
    )
    typer.echo(
        f"{len(table) // 2:,} pairs of neighbours ({int((table['relation'] == 'distance').sum()) // 2:,} "
        "within the distance)"
    )
    write_table(table, out, inputs=[contours])
    typer.echo(f"wrote {out}")


@handle_errors
def fit_unit(
    sample: Path = typer.Argument(
        ...,
        help="Sample with the answers (weights.csv of 'nonrecours weight', or the "
        "respondents): territory, covariates, 0/1 right columns, optional 'responded'.",
    ),
    frame: Path = typer.Option(
        ...,
        "--frame",
        help="The register the sample was drawn from (recipients file): its "
        "right columns mark eligibility (non-missing = eligible).",
    ),
    right: str = typer.Option(..., "--right", help="Comma-separated rights, e.g. cmuc,acs."),
    covariates: str = typer.Option(
        ...,
        "--covariates",
        help="Comma-separated categorical unit-level columns known "
        "for every recipient (e.g. benefit,age_band,household,housing).",
    ),
    territory: str = typer.Option("territory", "--territory", help="Territory column of SAMPLE, --frame and --aux."),
    aux: Path | None = typer.Option(None, "--aux", help="Territories file with territory-level covariates."),
    aux_covariates: str | None = typer.Option(
        None, "--aux-covariates", help="Comma-separated numeric columns of --aux."
    ),
    nagq: int = typer.Option(1, "--nagq", help="Quadrature nodes of the likelihood (1: Laplace, as lme4)."),
    sigma_method: str = typer.Option(
        "adjusted",
        "--sigma-method",
        help="adjusted (likelihood x sigma^2: the territory-effect SD is never 0) or ml (maximum likelihood, as lme4).",
    ),
    mse: str = typer.Option(
        "bootstrap:200", "--mse", help="bootstrap:B (parametric bootstrap with B replicates) or none."
    ),
    interval: str = typer.Option(
        "normal",
        "--interval",
        help="With the bootstrap: normal (EBP +- z root MSE) or "
        "percentile (percentiles of the bootstrap prediction error).",
    ),
    workers: int = typer.Option(
        1, "--workers", help="Processes running the bootstrap replicates (same results whatever their number)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the bootstrap (required with it)."),
    weight: str | None = role_option("weight", help="Weight column of SAMPLE for the 'direct' column."),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the intervals."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Output folder: estimates.csv (columns of 'territorial fit'), models.csv and coefficients.csv.",
    ),
    overwrite: bool = overwrite_option(),
) -> None:
    """Unit-level logit-normal model per right and empirical best predictors of every territory's take-up rate."""
    from .._checks import parse_list
    from .._parallel import check_workers
    from ..errors import OptionError, message
    from ..options import UnitInterval, UnitMSE, UnitSigmaMethod, choices
    from ..territorial.unit import fit_unit as _fit_unit

    check_option("--sigma-method", sigma_method, UnitSigmaMethod)
    check_option("--interval", interval, UnitInterval)
    check_workers(workers)
    kind, _, count = mse.partition(":")
    if kind in set(choices(FHMSE)) - set(choices(UnitMSE)):  # a Fay-Herriot MSE: say so rather than "unknown"
        raise OptionError(
            message(
                f"{kind} is an MSE of the Fay-Herriot model ('territorial fit'), not of the unit-level model",
                where="option --mse",
                expected="bootstrap:B (e.g. bootstrap:200) or none",
                found=repr(mse),
                hint="use --mse bootstrap:200, or 'nonrecours territorial fit' for prasad-rao",
            )
        )
    check_option("--mse", kind, UnitMSE)
    replicates = 0
    if kind == "bootstrap":
        if not count.isdigit() or int(count) < 2:
            raise OptionError(
                message(
                    "the bootstrap needs a number of replicates",
                    where="option --mse",
                    expected="bootstrap:B with B >= 2, e.g. bootstrap:200",
                    found=repr(mse),
                )
            )
        replicates = int(count)
    elif count:
        raise OptionError(message("no count after none", where="option --mse", found=repr(mse)))
    inputs = [sample, frame] + ([aux] if aux is not None else [])
    if out.exists() and not out.is_dir():
        raise OptionError(message("the output folder is a file", where="option --out", hint="give a folder"))
    paths = {name: out / f"{name}.csv" for name in ("estimates", "models", "coefficients")}
    if out.is_dir():  # every output checked before any work (the one rule of every command)
        check_outputs({f"--out ({name}.csv)": path for name, path in paths.items()}, inputs, overwrite=overwrite)
    elif not out.parent.is_dir():
        raise OptionError(
            message(
                "the parent of the output folder does not exist",
                where="option --out",
                hint=f"create {str(out.parent)!r} first",
            )
        )
    res = _fit_unit(
        read_table(sample, option="SAMPLE"),
        read_table(frame, option="--frame"),
        parse_list(covariates, option="--covariates"),
        rights=parse_list(right, option="--right"),
        territory=territory,
        aux=None if aux is None else read_table(aux, option="--aux"),
        aux_covariates=parse_list(aux_covariates, option="--aux-covariates"),
        nagq=nagq,
        sigma_method=sigma_method,
        mse=kind,
        replicates=max(replicates, 2),
        seed=seed,
        level=level,
        weight=weight,
        interval=interval,
        workers=workers,
    )
    echo_table(
        res.models[
            [
                "right",
                "m",
                "n_predicted",
                "n_respondents",
                "sigma",
                "loglike",
                "mse",
                "failed_replicates",
                "unconverged_replicates",
            ]
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    write_table(res.to_frame(), paths["estimates"], inputs=inputs)
    write_table(res.models, paths["models"], inputs=inputs)
    write_table(res.coefficients_frame(), paths["coefficients"], inputs=inputs)
    typer.echo(f"wrote {out}")


@handle_errors
def admin(
    recipients: Path | None = typer.Argument(
        None,
        help="Linked recipients file (recipients.csv of simulate, or a "
        "real extract); with --engine duckdb or spark, also a folder of CSV or "
        "Parquet files partitioned as year=.../departement=...; or give "
        "--sources, --eligibility and --links.",
    ),
    rights: str = typer.Option("cmuc,acs,tpn,tss", "--rights", help="Comma-separated right columns."),
    id_col: str | None = id_option(),
    min_cell: int = typer.Option(
        DEFAULT_MIN_CELL,
        "--min-cell",
        help="Suppress cells (and totals) with fewer eligibles, takers "
        "or non-takers, and more cells so that none can be recovered from the totals.",
    ),
    allow_below_threshold: bool = allow_below_threshold_option(),
    suppression: str = typer.Option(
        "heuristic",
        "--suppression",
        help=f"Secondary suppression: {choices_text(SuppressionMethod)} (the least-cost pattern of a mixed-integer "
        "programme over the linked tables, the attacker's LP checking it; or the fast completion heuristic).",
    ),
    out: Path = typer.Option(..., "--out", help="Output table of territory rates."),
    totals_out: Path | None = typer.Option(
        None, "--totals-out", help="Also write the published département and national totals."
    ),
    overwrite: bool = overwrite_option(),
    engine: str = typer.Option(
        "pandas",
        "--engine",
        help=f"{choices_text(ComputeEngine)}: in memory, files read in "
        "place by DuckDB (--memory-limit), or Spark (local session, or SPARK_REMOTE / "
        "--spark-master).",
    ),
    memory_limit: str = typer.Option(
        "4GB",
        "--memory-limit",
        help="DuckDB's memory limit (it spills to disk beyond); the driver memory of a local Spark session.",
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="Threads of DuckDB, cores of a local Spark session (default: all)."
    ),
    spark_master: str | None = typer.Option(
        None, "--spark-master", help="Spark master URL (default local[*]; ignored when SPARK_REMOTE is set)."
    ),
    sep: str | None = sep_option(),
    decimal: str | None = decimal_option(),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option(),
    na: str | None = na_option(),
    out_sep: str | None = out_sep_option(),
    out_decimal: str | None = out_decimal_option(),
    out_encoding: str | None = out_encoding_option(),
    sources: Path | None = typer.Option(
        None,
        "--sources",
        help="Sources folder (organisms' files, health.csv, "
        "communes.csv, qpv.geojson): rates from eligibility and links.",
    ),
    eligibility: Path | None = typer.Option(None, "--eligibility", help="Output of 'nonrecours eligibility'."),
    links: Path | None = typer.Option(None, "--links", help="Links of 'nonrecours link'."),
    near_misses: Path | None = typer.Option(
        None,
        "--near-misses",
        help="Near misses of 'nonrecours link' (expected missed links); without them only false links are corrected.",
    ),
    level: float = typer.Option(
        0.95, "--level", help="Level of the intervals (linkage errors, undetermined eligibility, QPV boundaries)."
    ),
    reviewed: Path | None = typer.Option(
        None,
        "--reviewed",
        help="A clerical review of the links ('nonrecours link --review-sample', verdicts filled): calibrates "
        "the linkage-error correction and its interval.",
    ),
) -> None:
    """Exact take-up counts and rates per territory and right, with primary and secondary suppression.

    The output tables are publishable: no figure is built from fewer than --min-cell eligibles, takers or
    non-takers, and no suppressed count can be recovered from the published totals.

    With --sources, --eligibility and --links, recipients are placed in their QPV from their coordinates
    and the rates are corrected for linkage errors (columns rate_adjusted, ci_low, ci_high, moved); the
    files of that mode are the CSV or Parquet files written by nonrecours.
    """
    from ..publication import check_threshold

    check_threshold(min_cell, name="min_cell", where="option --min-cell", allow_below=allow_below_threshold)
    check_option("--suppression", suppression, SuppressionMethod)
    check_outputs(
        {"--out": out, "--totals-out": totals_out},  # before any work, whatever the mode
        [p for p in (recipients, sources, eligibility, links, near_misses, reviewed) if p is not None],
        overwrite=overwrite,
    )
    if sources is not None or eligibility is not None or links is not None or reviewed is not None:
        from ._admin_linked import linked_admin

        linked_admin(
            sources,
            eligibility,
            links,
            near_misses,
            out=out,
            totals_out=totals_out,
            min_cell=min_cell,
            level=level,
            recipients=recipients,
            suppression=suppression,
            reviewed=reviewed,
        )
        return
    if recipients is None:
        from ..errors import OptionError, message

        raise OptionError(
            message(
                "no input",
                where="territorial admin",
                expected="a RECIPIENTS file, or --sources with --eligibility and --links",
            )
        )
    from .._checks import check_ids_if_present, parse_list
    from ..admin.counts import admin_rates, check_min_cell

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    check_option("--engine", engine, ComputeEngine)
    check_min_cell(min_cell)
    right_list = parse_list(rights, option="--rights")
    inputs = [recipients]
    if engine == "pandas":
        data = read_table(
            recipients,
            option="RECIPIENTS",
            read=rd,
            columns=["territory", "departement", *right_list, id_col or "id"],
            categorical=["territory", "departement"],
        )
        check_ids_if_present(data, id_col, source="recipients file", before="counting")  # no recipient counted twice
        res = admin_rates(data, right_list, min_cell=min_cell, suppression=suppression)
    else:
        from ..admin.counts_sql import admin_rates_sql
        from ..engines import open_engine

        with open_engine(engine, memory_limit=memory_limit, threads=threads, spark_master=spark_master) as eng:
            res = admin_rates_sql(
                eng,
                recipients,
                right_list,
                min_cell=min_cell,
                id_col=id_col,
                suppression=suppression,
            )
    n = res.n_suppressed
    typer.echo(
        f"{len(res.table):,} territory x right cells; suppressed: {n['primary']} primary, {n['secondary']} secondary"
    )
    write_table(res.to_frame(), out, inputs=inputs, csv_style=wr)
    if totals_out is not None:
        write_table(res.totals, totals_out, option="--totals-out", inputs=inputs, csv_style=wr)
    typer.echo(f"wrote {out}" + (f" and {totals_out}" if totals_out is not None else ""))
    if engine in ("pandas", "duckdb"):  # the engine closed, the tables written: the process may end at once
        nothing_held()


@handle_errors
def compare(
    estimates: Path = typer.Argument(..., help="Output of 'territorial fit' (or of 'estimate --by territory')."),
    truth: Path = typer.Option(..., "--truth", help="True rates: 'territorial admin' output or simulate's truth.csv."),
    level: float = typer.Option(0.95, "--level", help="Level of the direct CIs rebuilt from se_direct."),
    out: Path | None = typer.Option(None, "--out", help="Write the summary table."),
    detail_out: Path | None = typer.Option(None, "--detail-out", help="Write the per-territory errors."),
    overwrite: bool = overwrite_option(),
    sep: str | None = sep_option(),
    decimal: str | None = decimal_option(),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option(),
    na: str | None = na_option(),
    out_sep: str | None = out_sep_option(),
    out_decimal: str | None = out_decimal_option(),
    out_encoding: str | None = out_encoding_option(),
) -> None:
    """Bias, RMSE and CI coverage of the direct and small-area estimates against the truth."""
    from ..territorial import compare_estimates

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    inputs = [estimates, truth]
    check_outputs({"--out": out, "--detail-out": detail_out}, inputs, overwrite=overwrite)
    res = compare_estimates(
        read_table(estimates, option="ESTIMATES", read=rd), read_table(truth, option="--truth", read=rd), level=level
    )
    echo_table(res.summary)
    if res.n_without_truth:
        typer.echo(f"{res.n_without_truth} estimate rows without a true rate (suppressed or absent) left out")
    if out is not None:
        write_table(res.summary, out, inputs=inputs, csv_style=wr)
    if detail_out is not None:
        write_table(res.detail, detail_out, option="--detail-out", inputs=inputs, csv_style=wr)


sub.command("fit")(fit)
sub.command("fit-unit")(fit_unit)
sub.command("admin")(admin)
sub.command("compare")(compare)
sub.command("neighbours")(neighbours)


def register(app: typer.Typer) -> None:
    """Add the ``territorial`` command group to ``app``."""
    app.add_typer(sub, name="territorial")
