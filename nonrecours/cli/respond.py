"""``nonrecours respond``: the answers of a dry run — who responds, and their answers taken from the truth.

In a real study ``answers.csv`` is the fieldwork file: the sample with a
``responded`` column (1 answered, 0 did not) and the right columns as the
respondents answered them. With a synthetic population, the sample carries
the true right columns; this command draws who responds (the response model
of the study file's ``[responses.model]``) and empties the answers of the
others.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import (
    decimal_option,
    encoding_option,
    handle_errors,
    na_option,
    out_decimal_option,
    out_encoding_option,
    out_sep_option,
    overwrite_option,
    sep_option,
    sheet_option,
    table_options,
)

__all__ = ["register", "respond"]


@handle_errors
def respond(
    sample: Path = typer.Argument(..., help="Sample drawn from a synthetic population (nonrecours sample)."),
    seed: int = typer.Option(..., "--seed", help="Seed of the response draws (required)."),
    out: Path = typer.Option(
        ..., "--out", help="Answers file to write: the sample with 'responded' and the answers of the respondents only."
    ),
    probability: float = typer.Option(0.65, "--probability", help="Response probability."),
    by_benefit: str | None = typer.Option(
        None,
        "--by-benefit",
        help="Response probability per benefit: RSA=0.6,AAH=0.7 (others: --probability).",
        show_default=False,
    ),
    qpv_factor: float = typer.Option(1.0, "--qpv-factor", help="Multiplier of the probability in QPV territories."),
    rights: str = typer.Option(
        "cmuc,acs,tpn,tss",
        "--rights",
        help="Right columns whose answers are kept for respondents, emptied for the others.",
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
) -> None:
    """Simulate who responds to a dry-run survey and write the answers file (answers.csv)."""
    import numpy as np

    from .._checks import check_columns, parse_list, parse_mapping
    from ..errors import OptionError, message
    from ..io import check_outputs, read_table, write_table
    from ..study.stages.responses import simulate_responses

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    if not 0.0 < probability <= 1.0 or qpv_factor < 0:
        raise OptionError(
            message(
                "response probability out of range",
                where="--probability / --qpv-factor",
                expected="0 < probability <= 1 and factor >= 0",
                found=f"{probability:g} and {qpv_factor:g}",
            )
        )
    right_list = parse_list(rights, option="--rights")
    per_benefit = parse_mapping(by_benefit, option="--by-benefit") if by_benefit else {}
    check_outputs({"--out": out}, [sample], overwrite=overwrite)  # before any work
    data = read_table(sample, option="SAMPLE", read=rd)
    check_columns(data, ["benefit", "is_qpv", *right_list], role="column", source=f"SAMPLE {str(sample)!r}")
    responded = simulate_responses(
        data,
        probability=probability,
        by_benefit=per_benefit,
        qpv_factor=qpv_factor,
        benefit="benefit",
        qpv="is_qpv",
        seed=seed,
    )
    answers = data.assign(responded=responded.astype(np.int8))
    answers.loc[~responded, right_list] = np.nan
    write_table(answers, out, inputs=[sample], csv_style=wr)
    typer.echo(
        f"{int(responded.sum()):,} of {len(data):,} sampled recipients responded ({responded.mean():.1%}) -> {out}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``respond`` command to ``app``."""
    app.command("respond")(respond)
