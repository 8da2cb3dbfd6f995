"""``nonrecours estimate``: take-up rates by domain with design-based SEs, CIs and gaps."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ..errors import OptionError, message
from ..io import check_table_output, read_table, write_table
from ..options import CIMethod, DFRule, LonelyPSURule, check_option, choices_text
from ._common import decimal_option, encoding_option, sep_option, sheet_option, table_options, design_role, echo_table, handle_errors

if TYPE_CHECKING:
    from ..design.survey_design import SurveyDesign

__all__ = ["register", "estimate"]

def _gap_option(text: str | None) -> tuple[str | None, tuple[str, str] | None]:
    """``COL`` (two levels, last minus first) or ``COL=A,B`` (A minus B)."""
    from .._checks import parse_list

    if text is None:
        return None, None
    col, sep, levels = text.partition("=")
    if not sep:
        return col.strip(), None
    items = parse_list(levels, option="--gap")
    if len(items) != 2 or not col.strip():
        raise OptionError(message("malformed gap", where="option --gap", expected="COLUMN or COLUMN=A,B (A minus B)",
                                  found=repr(text)))
    return col.strip(), (items[0], items[1])


def _gap_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}_gap{out.suffix}")


def _design(sample: Path, data, *, replicates: bool, lonely_psu: str,  # noqa: ANN001
            roles: dict[str, str | None]) -> SurveyDesign:
    """The design of SAMPLE: from the sidecar of a weighted file when present, else from the role options."""
    from ..design.survey_design import SurveyDesign
    from ..weights.sidecar import load_weighted_design, sidecar_path

    if sidecar_path(sample).is_file():
        given = [f"--{r.replace('_', '-')}" for r, v in roles.items() if v is not None]
        if given:
            raise OptionError(message("the design of a weighted file comes from its sidecar",
                                      where=", ".join(given), found=f"sidecar {str(sidecar_path(sample))!r}",
                                      hint="drop these options, or estimate from the unweighted sample"))
        design = load_weighted_design(sample, data=data)
        design = dataclasses.replace(design, lonely_psu=lonely_psu)
        if replicates and design.replicates is None:
            raise OptionError(message("the weighted file has no replicate weights", where="option --replicates",
                                      hint="run 'nonrecours weight ... --replicates bootstrap:500' first"))
        return design if replicates else dataclasses.replace(design, replicates=None)
    if replicates:
        raise OptionError(message("replicate weights need a weighted file with its design sidecar",
                                  where="option --replicates", found=f"no {str(sidecar_path(sample))!r}",
                                  hint="run 'nonrecours weight ... --replicates bootstrap:500 --out weighted.csv' first"))
    cols = set(data.columns)
    return SurveyDesign(data, lonely_psu=lonely_psu, **{r: design_role(v, r, cols) for r, v in roles.items()})


@handle_errors
def estimate(
    sample: Path = typer.Argument(..., help="Sample file (CSV or Parquet) with design and right columns."),
    rights: str = typer.Option(..., "--rights", help="Right columns, comma-separated (1 = takes up, 0 = does not, "
                               "empty = not eligible)."),
    by: str | None = typer.Option(None, "--by", help="Domain columns, comma-separated (e.g. territory,benefit)."),
    weight: str | None = typer.Option(None, "--weight", help="Weight column [default: 'weight' if present; none = equal]."),
    strata: str | None = typer.Option(None, "--strata", help="Strata column [default: 'stratum' if present]."),
    psu: str | None = typer.Option(None, "--psu", help="PSU column [default: 'psu' if present]."),
    ssu: str | None = typer.Option(None, "--ssu", help="Second-stage unit column [default: 'ssu' if present]."),
    fpc: str | None = typer.Option(None, "--fpc", help="Stage-1 FPC column: population count of PSUs or sampling "
                                   "fraction (<= 1) [default: 'fpc' if present]."),
    fpc2: str | None = typer.Option(None, "--fpc2", help="Stage-2 FPC column [default: 'fpc2' if present]."),
    ci: str = typer.Option("logit", "--ci", help=f"CI method: {choices_text(CIMethod)}."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    df: str = typer.Option("domain", "--df", help=f"Degrees of freedom: {choices_text(DFRule)} "
                           "(domain: PSUs - strata in the domain; inf: normal)."),
    lonely_psu: str = typer.Option("fail", "--lonely-psu", help=f"Strata with one PSU: {choices_text(LonelyPSURule)}."),
    gap: str | None = typer.Option(None, "--gap", help="Also estimate the gap between two levels of a column: COLUMN "
                                   "(last minus first level, e.g. is_qpv 1 - 0) or COLUMN=A,B (A minus B)."),
    replicates: bool = typer.Option(False, "--replicates", help="Use the replicate weights recorded by 'nonrecours "
                                    "weight' (replicate variance) instead of Taylor linearisation."),
    out: Path | None = typer.Option(None, "--out", help="Output table (.csv, .parquet, .json); the gap table goes "
                                    "beside it as <stem>_gap<suffix>. Printed on stdout if omitted."),
    sep: Optional[str] = sep_option(),
    decimal: Optional[str] = decimal_option(),
    encoding: Optional[str] = encoding_option(),
    sheet: Optional[str] = sheet_option(),
) -> None:
    """Estimate take-up rates per domain x right with Taylor SEs, CIs, design effects and quality flags."""
    from .._checks import check_level, parse_list
    from ..estimation import estimate_gap, estimate_rates

    rd, wr = table_options(sep, decimal, encoding, sheet)
    check_option("--ci", ci, CIMethod)  # before reading the sample: the library's check, named as the CLI option
    check_option("--df", df, DFRule)
    check_option("--lonely-psu", lonely_psu, LonelyPSURule)
    check_level(level, "--level")
    right_list = parse_list(rights, option="--rights")
    by_list = parse_list(by, option="--by")
    gap_col, gap_levels = _gap_option(gap)
    if out is not None:
        check_table_output(out, [sample])
        if gap_col is not None:
            check_table_output(_gap_path(out), [sample])
    data = read_table(sample, option="SAMPLE", read=rd)
    design = _design(sample, data, replicates=replicates, lonely_psu=lonely_psu,
                     roles={"weight": weight, "strata": strata, "psu": psu, "ssu": ssu, "fpc": fpc, "fpc2": fpc2})
    result = estimate_rates(design, right_list, by_list, ci=ci, level=level, df=df)
    table = result.to_frame()
    gap_table = None
    if gap_col is not None:
        gap_table = estimate_gap(design, right_list, gap_col, levels=gap_levels,
                                 by=[b for b in by_list if b != gap_col], ci=ci, level=level, df=df).to_frame()
    if out is None:
        echo_table(table)
        if gap_table is not None:
            typer.echo("")
            echo_table(gap_table)
        return
    paths = [write_table(table, out, inputs=[sample], csv_style=wr)]
    if gap_table is not None:
        paths.append(write_table(gap_table, _gap_path(out), inputs=[sample], csv_style=wr))
    typer.echo(f"{len(table):,} estimates ({result.variance_method} variance, df rule {df}, CI {ci} {level:g}); "
               "wrote " + ", ".join(map(str, paths)))


def register(app: typer.Typer) -> None:
    """Add the ``estimate`` command to ``app``."""
    app.command("estimate")(estimate)
