"""``nonrecours change``: change of take-up between two waves, with the covariance of overlapping samples.

Thin layer over :func:`nonrecours.estimation.change.estimate_change`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import OptionError, message
from ..io import check_outputs, read_table, write_table
from ..options import ChangeVariance, LonelyPSURule, WaveScheme, check_option, choices_text
from ._common import beside, echo_table, handle_errors, min_n_option, overwrite_option
from ._design import load_design, lonely_psu_option

__all__ = ["register", "change"]


def _gap(text: str | None) -> tuple[str | None, tuple[str, str] | None]:
    """``COL`` (last minus first of its two levels) or ``COL=A,B`` (A minus B)."""
    from .._checks import parse_list

    if text is None:
        return None, None
    col, sep, levels = text.partition("=")
    items = parse_list(levels, option="--gap") if sep else []
    if not col.strip() or (sep and len(items) != 2):
        raise OptionError(message("malformed gap", where="option --gap", expected="COLUMN or COLUMN=A,B (A minus B)",
                                  found=repr(text)))
    return col.strip(), ((items[0], items[1]) if sep else None)


def _scheme(value: str | None, data) -> str:  # noqa: ANN001
    """``--scheme``, or the ``scheme`` column written by ``nonrecours sample --scheme`` in WAVE2, or panel."""
    from ..estimation.change import SCHEMES

    if value is not None:
        return check_option("--scheme", value, WaveScheme)
    if "scheme" in data.columns:
        found = data["scheme"].dropna().astype(str).unique()
        if found.size == 1 and found[0] in SCHEMES:
            return str(found[0])
        raise OptionError(message("cannot tell the wave scheme from WAVE2", where="column 'scheme'",
                                  expected="one of " + ", ".join(SCHEMES), found=", ".join(map(str, found[:3])),
                                  hint="give --scheme"))
    return "panel"


@handle_errors
def change(
    wave1: Path = typer.Argument(..., help="Sample (or weighted file) of the first wave."),
    wave2: Path = typer.Argument(..., help="Sample (or weighted file) of the second wave."),
    rights: str = typer.Option(..., "--rights", help="Right columns, comma-separated."),
    by: Optional[str] = typer.Option(None, "--by", help="Domain columns, comma-separated (read in each wave)."),
    gap: Optional[str] = typer.Option(None, "--gap", help="Net change of the gap between two levels of a domain "
                                      "column (difference in differences): COLUMN (last minus first level, is_qpv: "
                                      "QPV minus the rest) or COLUMN=A,B."),
    scheme: Optional[str] = typer.Option(None, "--scheme", help=f"{choices_text(WaveScheme)} [default: the "
                                         "'scheme' column of WAVE2, else panel]."),
    id_col: str = typer.Option("id", "--id-col", help="Recipient identifier linking the waves."),
    variance: str = typer.Option("taylor", "--variance", help=f"{choices_text(ChangeVariance)}: joint linearisation, "
                                 "or the replicate weights of both weighted files, carried across waves."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    df: str = typer.Option("domain", "--df", help="Degrees of freedom: domain (union design) or inf (normal)."),
    lonely_psu: str = lonely_psu_option("adjust", help="Lonely-PSU rule of the union design: "
                                        f"{choices_text(LonelyPSURule)}."),
    out: Optional[Path] = typer.Option(None, "--out", help="Change table (.csv, .parquet, .json); the "
                                       "difference-in-differences table goes beside it as <stem>_did<suffix>."),
    overwrite: bool = overwrite_option(),
    min_n: int = min_n_option("Statistical confidentiality: a domain with fewer eligible respondents in either wave "
                              "is not published (its change emptied, and the difference in differences of its "
                              "right), nor a count of respondents in both waves below it."),
) -> None:
    """Change of take-up per domain x right between two waves: SE from joint linearisation, CI, test."""
    import pandas as pd

    from .._checks import check_choice, check_level, parse_list
    from ..estimation.change import estimate_change

    check_option("--variance", variance, ChangeVariance)
    check_choice("--df", df, ("domain", "inf"))
    check_option("--lonely-psu", lonely_psu, LonelyPSURule)
    check_level(level, "--level")
    from ..publication import check_min_cell

    check_min_cell(min_n, where="option --min-n")
    right_list = parse_list(rights, option="--rights")
    by_list = parse_list(by, option="--by")
    gap_col, gap_levels = _gap(gap)
    if gap_col is not None and gap_col not in by_list:
        by_list.append(gap_col)
    inputs = [wave1, wave2]
    if out is not None:  # every output checked before any work
        check_outputs({"--out": out, "--out (difference in differences)": beside(out, "did") if gap_col else None},
                      inputs, overwrite=overwrite)
    data1 = read_table(wave1, option="WAVE1")
    data2 = read_table(wave2, option="WAVE2")
    sch = _scheme(scheme, data2)
    rep = variance == "replicate"
    d1 = load_design(wave1, data=data1, replicates=rep, lonely_psu=lonely_psu)
    d2 = load_design(wave2, data=data2, replicates=rep, lonely_psu=lonely_psu)
    result = estimate_change(d1, d2, right_list, by_list, scheme=sch, id_col=id_col, variance=variance, level=level,
                             df=df, lonely_psu=lonely_psu)
    from ..publication import blank_changes, blank_rows

    table, _ = blank_changes(result.to_frame(), by_list, min_n=min_n)  # what leaves the package is protected
    did = result.did(gap_col, gap_levels) if gap_col is not None else None
    if did is not None:  # no difference in differences from a hidden domain
        hidden_rights = set(table.loc[table["change"].isna(), "right"].astype(str))
        did = blank_rows(did, did["right"].astype(str).isin(hidden_rights).to_numpy(),
                         keep=("gap", "level_a", "level_b", "right", str(gap_col)))  # did is made only with gap_col
    if out is None:
        echo_table(table)
        if did is not None:
            typer.echo("")
            echo_table(did)
        return
    paths = [write_table(table, out, inputs=inputs)]
    if did is not None:
        paths.append(write_table(did, beside(out, "did"), inputs=inputs))  # type: ignore[arg-type]
    n_both = int(pd.to_numeric(table["n_both"], errors="coerce").max()) if table["n_both"].notna().any() else 0
    typer.echo(f"{len(table):,} changes ({sch}, {result.variance_method}; up to {n_both:,} eligible recipients in "
               f"both waves); wrote " + ", ".join(map(str, paths)))


def register(app: typer.Typer) -> None:
    """Add the ``change`` command to ``app``."""
    app.command("change")(change)
