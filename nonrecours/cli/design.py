"""``nonrecours allocate`` and ``nonrecours sample``: sample design from the command line.

Thin layer over :mod:`nonrecours.design.allocation`, :mod:`nonrecours.design.precision`
and :mod:`nonrecours.design.selection`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from ..errors import InputError, NonrecoursWarning, OptionError, message
from ..io import check_outputs, read_table, write_table
from ..options import AllocationMethod, RateCombination, SelectionMethod, WaveScheme, check_option, choices_text
from ._common import (
    decimal_option,
    echo_table,
    encoding_option,
    handle_errors,
    id_option,
    na_option,
    out_decimal_option,
    out_encoding_option,
    out_sep_option,
    overwrite_option,
    sep_option,
    sheet_option,
    table_options,
)


def _domains(text: str | None) -> list[list[str]] | None:
    """``territory,benefit:is_qpv`` -> [["territory"], ["benefit", "is_qpv"]]."""
    from .._checks import parse_list

    items = parse_list(text, option="--domains")
    return [[c.strip() for c in item.split(":") if c.strip()] for item in items] or None


def allocate_command(
    frame: Path = typer.Argument(..., help="Sampling frame (CSV, Parquet or JSON), one row per recipient."),
    strata: str = typer.Option(..., "--strata", help="Stratum columns, comma-separated (e.g. is_qpv,benefit)."),
    n: int | None = typer.Option(None, "--n", help="Total sample size (fixed-size allocations)."),
    method: str | None = typer.Option(
        None, "--method", help=f"{choices_text(AllocationMethod)} [default: proportional]."
    ),
    rates: str | None = typer.Option(
        None, "--rates", help="Anticipated take-up rates: right=rate or right=COLUMN, comma-separated."
    ),
    min_n: int = typer.Option(2, "--min", help="Minimum sample size per stratum."),
    cost: str | None = typer.Option(
        None, "--cost", help="Column of unit interview costs (optimal; precision: minimise cost)."
    ),
    power_q: float = typer.Option(
        0.5, "--power-q", help="Exponent q of the power allocation (0 = equal CVs, 1 = Neyman)."
    ),
    combine: str = typer.Option(
        "rms", "--combine", help=f"How S_h of several rights combine: {choices_text(RateCombination)}."
    ),
    take_all: bool = typer.Option(True, "--take-all/--no-take-all", help="Cap n_h at N_h (take-all strata) or refuse."),
    target_halfwidth: float | None = typer.Option(
        None, "--target-halfwidth", help="Precision allocation: CI half-width wanted in every domain."
    ),
    target_cv: float | None = typer.Option(
        None, "--target-cv", help="Precision allocation: CV wanted in every domain."
    ),
    response_rate: float = typer.Option(1.0, "--response-rate", help="Expected response rate."),
    eligible: str | None = typer.Option(
        None, "--eligible", help="Expected share of eligibles per right: right=share, comma-separated."
    ),
    domains: str | None = typer.Option(
        None,
        "--domains",
        help="Domain families: columns, ':' to cross (territory,benefit:is_qpv). Default: the strata.",
    ),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the half-widths."),
    out: Path | None = typer.Option(None, "--out", help="Allocation file to write (input of nonrecours sample)."),
    precision_out: Path | None = typer.Option(
        None, "--precision-out", help="Anticipated precision per domain x right to write."
    ),
    id_col: str | None = id_option(),
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
    """Allocate a sample across strata, by a fixed total or by a precision target per domain."""
    from .._checks import check_ids_if_present, parse_list, parse_mapping
    from ..design.allocation import allocate_frame
    from ..design.precision import allocate_precision

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )

    keys = parse_list(strata, option="--strata")
    rate_map = parse_mapping(rates, option="--rates", value_type=str) if rates else None
    if precision_out is not None and not rate_map:
        raise OptionError(
            message(
                "no precision to report without anticipated rates", where="option --precision-out", hint="give --rates"
            )
        )
    check_outputs({"--out": out, "--precision-out": precision_out}, [frame], overwrite=overwrite)  # before any work
    elig = parse_mapping(eligible, option="--eligible") if eligible else None
    doms = _domains(domains)
    data = read_table(frame, option="FRAME", read=rd)
    check_ids_if_present(data, id_col, source="frame", before="allocating")  # N_h counts each unit once
    precision = target_halfwidth is not None or target_cv is not None
    if precision:
        if n is not None or method is not None:
            raise OptionError(
                message(
                    "a precision target sets the sample size itself",
                    where="options --n / --method",
                    hint="drop --n and --method, or drop the target",
                )
            )
        if not rate_map:
            raise OptionError(
                message(
                    "a precision target needs anticipated rates",
                    where="option --rates",
                    hint="e.g. --rates cmuc=0.65,acs=0.4",
                )
            )
        result = allocate_precision(
            data,
            keys,
            rates=rate_map,
            target_halfwidth=target_halfwidth,
            target_cv=target_cv,
            domains=doms,
            response_rate=response_rate,
            eligible=elig,
            cost=cost,
            min_n=min_n,
            level=level,
        )
    else:
        if n is None:
            raise OptionError(
                message(
                    "no sample size",
                    where="option --n",
                    hint="give --n, or a precision target (--target-halfwidth / --target-cv)",
                )
            )
        m = check_option("--method", method or "proportional", AllocationMethod)
        result = allocate_frame(
            data,
            keys,
            n=n,
            method=m,
            rates=rate_map,
            cost=cost,
            power_q=power_q,
            min_n=min_n,
            take_all=take_all,
            combine=check_option("--combine", combine, RateCombination),
            eligible=elig,
            response_rate=response_rate,
            domains=doms,
            level=level,
        )
    table = result.to_frame()
    if out is not None:
        write_table(table, out, inputs=[frame], csv_style=wr)
    if precision_out is not None:
        write_table(result.precision, precision_out, option="--precision-out", inputs=[frame], csv_style=wr)
    echo_table(table)
    n_take_all = int(result.take_all.sum())
    line = f"total n = {result.total} in {len(table)} strata ({n_take_all} take-all), method {result.method}"
    if result.precision is not None:
        p = result.precision
        line += f"; worst anticipated half-width {p['halfwidth'].max():.4g}, CV {p['cv'].max():.4g}"
        if "binding" in p:
            line += f"; {int(p['binding'].sum())} of {len(p)} domain x right targets bind"
    typer.echo(line + (f" -> {out}" if out is not None else ""))


def sample_command(
    frame: Path = typer.Argument(..., help="Sampling frame (CSV, Parquet or JSON), one row per recipient."),
    allocation: Path = typer.Option(..., "--allocation", help="Allocation file written by nonrecours allocate."),
    method: str = typer.Option("srswor", "--method", help=f"Selection method: {choices_text(SelectionMethod)}."),
    seed: int = typer.Option(..., "--seed", help="Random seed (required: same seed, same sample)."),
    size_col: str | None = typer.Option(
        None, "--size-col", help="Size measure column (PPS methods; Poisson PPS; two-stage PSU size)."
    ),
    sort: str | None = typer.Option(None, "--sort", help="Sort columns within strata (systematic, pps-systematic)."),
    psu_col: str | None = typer.Option(None, "--psu-col", help="PSU column for two-stage sampling (e.g. territory)."),
    n_psu: int | None = typer.Option(None, "--n-psu", help="PSUs drawn per stratum (two-stage)."),
    id_col: str = typer.Option("id", "--id-col", help="Unit identifier column."),
    out: Path = typer.Option(..., "--out", help="Sample file to write (input of nonrecours estimate)."),
    overwrite: bool = overwrite_option(),
    sep: str | None = sep_option(),
    decimal: str | None = decimal_option(),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option(),
    na: str | None = na_option(),
    out_sep: str | None = out_sep_option(),
    out_decimal: str | None = out_decimal_option(),
    out_encoding: str | None = out_encoding_option(),
    scheme: str | None = typer.Option(
        None,
        "--scheme",
        help=f"Wave design: {choices_text(WaveScheme)} (stratified SRS by permanent random numbers; see --previous).",
    ),
    previous: Path | None = typer.Option(
        None,
        "--previous",
        help="The previous wave's sample (drawn with "
        "--scheme); the overlap is recorded by recipient id in in_previous.",
    ),
    share: float = typer.Option(
        0.0,
        "--share",
        help="panel: share of the previous sample lost by attrition; rotating: share of the sample renewed each wave.",
    ),
) -> None:
    """Draw a sample with the sizes of an allocation file, with inclusion probabilities and weights."""
    from .._checks import parse_list
    from ..design._strata import label_strata
    from ..design.allocation import ALLOCATION_COLUMNS
    from ..design.selection import select

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )

    m = check_option("--method", method, SelectionMethod)
    if previous is not None and scheme is None:
        raise OptionError(
            message(
                "a previous sample needs a wave scheme",
                where="option --previous",
                hint="add --scheme independent, panel or rotating",
            )
        )
    if scheme is not None:
        check_option("--scheme", scheme, WaveScheme)
        if m != "srswor":
            raise OptionError(
                message(
                    "wave schemes draw stratified SRS samples",
                    where="option --method",
                    expected="srswor (the default) with --scheme",
                    found=repr(method),
                )
            )
    outputs = {"--out": out}
    if m == "sampford":  # the exact joint probabilities go beside the sample
        from ..design.pps_variance import joint_path

        outputs["--out (joint probabilities)"] = joint_path(out)
    check_outputs(
        outputs, [frame, allocation] + ([previous] if previous is not None else []), overwrite=overwrite
    )  # before any work
    data = read_table(frame, option="FRAME", read=rd)
    alloc = read_table(allocation, option="--allocation", read=rd)
    missing = [c for c in ("stratum", "n_h") if c not in alloc.columns]
    keys = [c for c in alloc.columns if c not in ALLOCATION_COLUMNS]
    if missing or not keys:
        raise InputError(
            message(
                "not an allocation file",
                where=f"--allocation {str(allocation)!r}",
                expected="stratum key columns, 'stratum' and 'n_h' (as written by nonrecours allocate)",
                found=f"columns {', '.join(map(str, alloc.columns))}",
            )
        )
    sizes = alloc.set_index("stratum")["n_h"]
    if scheme is not None:
        from ..design.waves import select_wave

        prev = read_table(previous, option="--previous", read=rd) if previous is not None else None
        result = select_wave(
            data, sizes, strata=keys, scheme=scheme, seed=seed, previous=prev, share=share, id_col=id_col
        )
    else:
        result = select(
            data,
            sizes,
            strata=keys,
            method=m,
            seed=seed,
            size=size_col,
            sort=parse_list(sort, option="--sort"),
            psu=psu_col,
            n_psu=n_psu,
            id_col=id_col,
        )
    if "N_h" in alloc.columns:
        counts = data.groupby(keys).size().rename("N").reset_index()
        counts.index = label_strata(counts, keys)
        stale = int((alloc.set_index("stratum")["N_h"].reindex(counts.index) != counts["N"]).sum())
        if stale:
            warnings.warn(
                message(
                    "the allocation was made on another frame",
                    where=f"--allocation {str(allocation)!r}",
                    found=f"{stale} strata whose N_h differs from the frame",
                    hint="re-run nonrecours allocate",
                ),
                NonrecoursWarning,
                stacklevel=2,
            )
    write_table(
        result.data, out, inputs=[frame, allocation] + ([previous] if previous is not None else []), csv_style=wr
    )
    extra = ""
    if previous is not None:
        extra = f"; {int(result.data['in_previous'].sum())} units also in the previous sample ({scheme})"
    joint = getattr(result, "joint", None)
    if joint is not None:  # exact joint probabilities for 'estimate --pps ht|yg'
        from ..design.pps_variance import joint_path

        write_table(joint.to_frame(), joint_path(out), inputs=[frame, allocation])
        extra += f"; joint probabilities -> {joint_path(out)}"
    typer.echo(
        f"sample of {result.n} units from {len(data)} ({result.method}, seed {seed}){extra}; "
        f"variance: {result.variance} -> {out}"
    )


def register(app: typer.Typer) -> None:
    """Add ``allocate`` and ``sample`` to the CLI."""
    app.command("allocate")(handle_errors(allocate_command))
    app.command("sample")(handle_errors(sample_command))
