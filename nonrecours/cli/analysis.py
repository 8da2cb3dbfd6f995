"""``nonrecours test`` and ``nonrecours model``: who does not take up, and is the difference real.

``test``: Rao–Scott and Wald tests of association between a right and a group (R's
``svychisq``). ``model``: survey logistic regression of taking up a right (R's ``svyglm``
with ``family = quasibinomial``), odds ratios, Wald tests per term and predicted take-up
by group. Heavy modules are imported inside the commands (``nonrecours --help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import (
    beside,
    decimal_option,
    echo_table,
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
from ._design import DesignOptions, design_options, load_design

__all__ = ["register", "test", "model"]


@handle_errors
@design_options()
def test(
    sample: Path = typer.Argument(..., help="Sample file (CSV or Parquet) with design and right columns."),
    right: str = typer.Option(
        ...,
        "--right",
        help="Right column (1 = takes up, 0 = does not, empty = not eligible); "
        "several comma-separated columns are cross-classified.",
    ),
    by: str = typer.Option(
        ..., "--by", help="Group column(s), comma-separated (cross-classified, e.g. is_qpv,benefit), or another right."
    ),
    statistic: str = typer.Option(
        "f,chisq,wald,adjwald",
        "--statistic",
        help="Statistics (R's svychisq): f "
        "(second-order Rao-Scott F), chisq (first-order), wald, adjwald; comma-separated.",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output table (.csv, .parquet, .json, .xlsx); printed if omitted."
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
    *,
    design_opts: DesignOptions,
) -> None:
    """Test the association between taking up a right and a group (Rao-Scott corrected chi-square, Wald)."""
    from .._checks import check_grouping_column, parse_list
    from ..estimation.association import chisq_test
    from ..io import check_outputs, write_table
    from ..options import AssociationStatistic, check_option

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    stats = [check_option("--statistic", s, AssociationStatistic) for s in parse_list(statistic, option="--statistic")]
    check_outputs({"--out": out}, [sample], overwrite=overwrite)  # before any work
    design = load_design(sample, design_opts, read=rd)
    check_grouping_column(design.data, parse_list(by, option="--by"), name="by")  # groups of one person refused
    table = chisq_test(
        design, parse_list(right, option="--right"), parse_list(by, option="--by"), statistics=stats
    ).to_frame()
    if out is None:
        echo_table(table)
        return
    typer.echo(f"{len(table)} tests; wrote {write_table(table, out, inputs=[sample], csv_style=wr)}")


@handle_errors
@design_options()
def model(
    sample: Path = typer.Argument(..., help="Sample file (CSV or Parquet) with design and right columns."),
    right: str = typer.Option(..., "--right", help="Right column (1 = takes up, 0 = does not, empty = not eligible)."),
    covariates: str = typer.Option(
        ...,
        "--covariates",
        help="Covariates, comma-separated: numeric columns enter as "
        "numbers, others as factors (first level in sorted order = reference).",
    ),
    interactions: str | None = typer.Option(
        None, "--interactions", help="Interactions, comma-separated, e.g. is_qpv:benefit."
    ),
    predict: str | None = typer.Option(
        None,
        "--predict",
        help="Categorical covariates for predicted take-up by "
        "group (marginal standardisation, R's svypredmeans), comma-separated.",
    ),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Coefficients table (.csv, .parquet, .json); the term tests "
        "go beside it as <stem>_tests<suffix>, predicted take-up as "
        "<stem>_predicted<suffix>. Printed if omitted.",
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
    *,
    design_opts: DesignOptions,
) -> None:
    """Survey logistic regression of taking up a right: odds ratios, Wald tests per term, predicted take-up."""
    import pandas as pd

    from .._checks import check_level, parse_list
    from ..estimation.logistic import predicted_takeup, survey_logistic
    from ..io import check_outputs, write_table

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    check_level(level, "--level")
    groups = parse_list(predict, option="--predict")
    if out is not None:  # every output checked before any work
        check_outputs(
            {
                "--out": out,
                "--out (tests)": beside(out, "tests"),
                "--out (predicted)": beside(out, "predicted") if groups else None,
            },
            [sample],
            overwrite=overwrite,
        )
    design = load_design(sample, design_opts, read=rd)
    fit = survey_logistic(
        design,
        right,
        parse_list(covariates, option="--covariates"),
        parse_list(interactions, option="--interactions"),
        level=level,
    )
    coefs, tests = fit.to_frame(), fit.term_tests()
    pred = pd.concat([predicted_takeup(fit, g) for g in groups], ignore_index=True) if groups else None
    if out is None:
        for t in (coefs, tests) + ((pred,) if pred is not None else ()):
            echo_table(t)
            typer.echo("")
        return
    tests_out, pred_out = beside(out, "tests"), beside(out, "predicted")
    assert tests_out is not None and pred_out is not None  # check_outputs refused an --out without a file name
    paths = [
        write_table(coefs, out, inputs=[sample], csv_style=wr),
        write_table(tests, tests_out, option="--out (tests)", inputs=[sample], csv_style=wr),
    ]
    if pred is not None:
        paths.append(write_table(pred, pred_out, option="--out (predicted)", inputs=[sample], csv_style=wr))
    typer.echo(
        f"{len(coefs)} coefficients ({fit.variance_method} variance, {fit.n:,} respondents, df {fit.df:g}); "
        "wrote " + ", ".join(map(str, paths))
    )


def register(app: typer.Typer) -> None:
    """Add the ``test`` and ``model`` commands to ``app``."""
    app.command("test")(test)
    app.command("model")(model)
