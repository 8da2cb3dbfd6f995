"""``nonrecours weight``: non-response adjustment, calibration, trimming and replicate weights."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import OptionError, message
from ..io import check_outputs, read_table, write_json, write_table
from ..options import CalibrationMethod, LonelyPSURule, NonresponseMethod, ReplicateType, check_option, choices_text
from ._common import (
    decimal_option,
    design_roles,
    echo_table,
    encoding_option,
    handle_errors,
    id_option,
    na_option,
    out_decimal_option,
    out_encoding_option,
    out_sep_option,
    overwrite_option,
    progress_bar,
    quiet_option,
    sep_option,
    sheet_option,
    table_options,
)
from ._design import lonely_psu_option, role_option

__all__ = ["register", "weight"]


def _parse_nonresponse(text: str | None) -> tuple[str, tuple[str, ...]] | None:
    from .._checks import parse_list

    if text is None:
        return None
    kind, sep, cols = text.partition(":")
    kind = kind.strip()
    check_option("--nonresponse", kind, NonresponseMethod)
    names = parse_list(cols, option="--nonresponse")
    if not sep or not names:
        raise OptionError(
            message("no columns given", where="option --nonresponse", expected=f"{kind}:COL1,COL2", found=repr(text))
        )
    return kind, tuple(names)


def _parse_bounds(text: str | None) -> tuple[float, float] | None:
    from .._checks import parse_list

    if text is None:
        return None
    parts = parse_list(text, option="--bounds")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise OptionError(
            message("malformed bounds", where="option --bounds", expected="L,U such as 0.5,3", found=repr(text))
        ) from None


def _parse_replicates(text: str | None) -> tuple[str, float | None] | None:
    if text is None:
        return None
    kind, sep, arg = text.partition(":")
    kind = kind.strip().lower()
    check_option("--replicates", kind, ReplicateType)
    try:
        if kind == "bootstrap":
            return kind, int(arg) if sep else 500
        if kind == "fay":
            return kind, float(arg) if sep else 0.5
    except ValueError:
        raise OptionError(
            message(
                "malformed replicate option",
                where="option --replicates",
                expected="bootstrap:B (an integer) or fay:RHO (a number)",
                found=repr(text),
            )
        ) from None
    if sep:
        raise OptionError(message(f"{kind} takes no argument", where="option --replicates", found=repr(text)))
    return kind, None


@handle_errors
def weight(
    sample: Path = typer.Argument(..., help="Sample file (all sampled units, respondents or not)."),
    out: Path = typer.Option(..., "--out", help="Weighted output file; a .design.json sidecar is written beside it."),
    responded: str = typer.Option(None, "--responded", help="Response column (1 = responded, 0 = not)."),
    nonresponse: str = typer.Option(
        None,
        "--nonresponse",
        help="METHOD:COL1,COL2 with METHOD "
        + choices_text(NonresponseMethod)
        + " (response homogeneity groups or propensity classes).",
    ),
    min_respondents: int = typer.Option(20, "--min-respondents", help="Smaller classes are collapsed."),
    propensity_classes: int = typer.Option(5, "--propensity-classes", help="Classes on propensity quantiles."),
    calibrate: Path = typer.Option(
        None, "--calibrate", help="Margins table: variable,category,total (empty category = numeric total)."
    ),
    method: str = typer.Option("raking", "--method", help=f"Calibration distance: {choices_text(CalibrationMethod)}."),
    bounds: str = typer.Option(None, "--bounds", help="Bounds L,U on the g-weights (logit, truncated, raking)."),
    trim: float = typer.Option(None, "--trim", help="Cap weights at TRIM x the mean weight, then re-calibrate."),
    replicates: str = typer.Option(
        None, "--replicates", help=f"Replicate weights: {choices_text(ReplicateType)} (bootstrap:B, fay:RHO)."
    ),
    seed: int = typer.Option(None, "--seed", help="Seed of the bootstrap draws."),
    weight_col: str = role_option("weight", default="weight", help="Design weight column."),
    strata: str = role_option("strata", help="Strata column (default 'stratum' if present; 'none')."),
    psu: str = role_option("psu", help="PSU column (default 'psu' if present; 'none')."),
    ssu: str = role_option("ssu", help="SSU column (default 'ssu' if present; 'none')."),
    fpc: str = role_option("fpc", help="FPC column (default 'fpc' if present; 'none')."),
    fpc2: str = role_option("fpc2", help="Second-stage FPC column (default 'fpc2' if present; 'none')."),
    lonely_psu: str = lonely_psu_option(),
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
    quiet: bool = quiet_option(),
    workers: int = typer.Option(
        1, "--workers", help="Processes drawing bootstrap replicates (same replicates whatever their number)."
    ),
) -> None:
    """Adjust for non-response, calibrate to margins, trim, and add replicate weights."""
    from .._checks import check_ids_if_present
    from .._parallel import check_workers
    from ..weights.margins import read_margins
    from ..weights.pipeline import WeightingSpec, weight_sample
    from ..weights.sidecar import sidecar_path

    check_workers(workers)
    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    check_option("--method", method, CalibrationMethod)  # before reading the sample
    check_option("--lonely-psu", lonely_psu, LonelyPSURule)
    inputs = [sample] + ([calibrate] if calibrate else [])
    side = sidecar_path(out)
    check_outputs({"--out": out, "--out (sidecar)": side}, inputs, overwrite=overwrite, tables=["--out"])
    data = read_table(sample, option="SAMPLE", read=rd)
    check_ids_if_present(data, id_col, source="sample", before="weighting")  # one row per unit, as 'sample', 'run'
    roles = design_roles({"strata": strata, "psu": psu, "ssu": ssu, "fpc": fpc, "fpc2": fpc2}, data)
    if roles["fpc2"] and not roles["ssu"]:
        roles["fpc2"] = None
    spec = WeightingSpec(
        weight=weight_col,
        design=roles,
        lonely_psu=lonely_psu,
        responded=responded,
        nonresponse=_parse_nonresponse(nonresponse),
        min_respondents=min_respondents,
        propensity_classes=propensity_classes,
        margins=read_margins(calibrate, read=rd) if calibrate else None,
        method=method,
        bounds=_parse_bounds(bounds),
        trim=trim,
        replicates=_parse_replicates(replicates),
        seed=seed,
        workers=workers,
    )
    with progress_bar("replicate weights", quiet=quiet) as update:
        res = weight_sample(data, spec, progress=update)
    meta = dict(res.sidecar, inputs={"sample": str(sample), "margins": str(calibrate) if calibrate else None})
    write_table(res.table, out, inputs=inputs, csv_style=wr)
    write_json(meta, side, inputs=inputs)
    n_resp = int((res.table["status"] == "respondent").sum())
    typer.echo(f"{len(res.table):,} rows, {n_resp:,} respondents; total weight {res.table['weight'].sum():,.6g}")
    if res.nonresponse is not None:
        typer.echo(
            f"non-response adjustment ({res.nonresponse.method}): {int(res.nonresponse.group.max()) + 1} classes"
        )
        echo_table(res.nonresponse.report)
    if res.calibration is not None:
        c = res.calibration
        typer.echo(f"calibration ({c.method}): {c.iterations} iterations, max relative misfit {c.max_rel_misfit:.2g}")
        echo_table(c.g_summary())
    if res.trimming is not None and len(res.trimming):
        echo_table(res.trimming)
    if res.design.replicates is not None:
        typer.echo(f"{res.design.replicates.weights.shape[1]} {res.design.replicates.type} replicate weights")
    typer.echo(f"wrote {out} and {side}")


def register(app: typer.Typer) -> None:
    """Add the ``weight`` command to ``app``."""
    app.command("weight")(weight)
