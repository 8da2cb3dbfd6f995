"""``nonrecours margins``: count a frame's categories, the calibration margins of ``nonrecours weight``.

Thin layer over :func:`nonrecours.weights.margins.count_margins`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import (
    decimal_option,
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

__all__ = ["register", "margins"]


@handle_errors
def margins(
    frame: Path = typer.Argument(..., help="Sampling frame or population file, one row per unit."),
    variables: str = typer.Option(
        ..., "--variables", help="Categorical columns to count, comma-separated (e.g. benefit,is_qpv)."
    ),
    numeric: str | None = typer.Option(
        None, "--numeric", help="Numeric columns whose sums are totals, comma-separated.", show_default=False
    ),
    population: bool = typer.Option(False, "--population", help="Add the _population row (number of units)."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Margins table to write (.csv, .parquet, .json, .xlsx): "
        "columns variable, category, total. Printed if omitted.",
        show_default=False,
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
    """Count a frame's categories: the calibration margins of 'nonrecours weight --calibrate'."""
    from .._checks import check_ids_if_present, parse_list
    from ..io import check_outputs, read_table, write_table
    from ..weights.margins import count_margins
    from ._common import echo_table

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    names = parse_list(variables, option="--variables")
    nums = parse_list(numeric, option="--numeric")
    check_outputs({"--out": out}, [frame], overwrite=overwrite)  # before any work
    data = read_table(frame, option="FRAME", read=rd)
    check_ids_if_present(data, id_col, source="frame", before="counting")  # a unit counted twice: margins too large
    table = count_margins(data, names, numeric=nums, population=population, source=f"FRAME {str(frame)!r}")
    if out is None:
        echo_table(table, max_rows=len(table) + 1)
        return
    write_table(table, out, inputs=[frame], csv_style=wr)
    typer.echo(f"{len(table)} margins of {len(names) + len(nums)} variables over {len(data):,} units -> {out}")


def register(app: typer.Typer) -> None:
    """Add the ``margins`` command to ``app``."""
    app.command("margins")(margins)
