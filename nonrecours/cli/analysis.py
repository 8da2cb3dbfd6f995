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
    allow_below_threshold_option,
    beside,
    decimal_option,
    echo_table,
    encoding_option,
    handle_errors,
    min_n_option,
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
    min_n: int = min_n_option(
        "Do not publish the predicted take-up of a group level whose eligible respondents hold fewer "
        "takers or fewer non-takers."
    ),
    allow_below_threshold: bool = allow_below_threshold_option(),
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
    from ..estimation.logistic import survey_logistic
    from ..io import check_outputs, write_table
    from ..publication import check_threshold

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    check_level(level, "--level")
    check_threshold(min_n, name="min_n", where="option --min-n", minimum=0, allow_below=allow_below_threshold)
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
    pred = pd.concat([_predicted(design, fit, right, g, min_n) for g in groups], ignore_index=True) if groups else None
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


def _predicted(design, fit, right: str, group: str, min_n: int):  # noqa: ANN001, ANN202
    """Predicted take-up by the levels of ``group``, emptied for a level whose eligible respondents hold fewer
    than ``min_n`` respondents, takers or non-takers (the disclosure policy's rule on a survey estimate)."""
    import pandas as pd

    from ..estimation import QualityThresholds, estimate_rates
    from ..estimation.logistic import predicted_takeup
    from ..publication import blank_hidden, hidden_cells

    pred = predicted_takeup(fit, group)
    thresholds = QualityThresholds(min_n=min_n, reliable_n=max(min_n, QualityThresholds.reliable_n))
    rates = estimate_rates(design, right, by=group, ci="wald", thresholds=thresholds).to_frame(blank=False)
    hidden = hidden_cells(rates, group)
    return blank_hidden(pred, hidden, "level", rights=pd.Series(right, index=pred.index), keep=("group", "level"))


def register(app: typer.Typer) -> None:
    """Add the ``test`` and ``model`` commands to ``app``."""
    app.command("test")(test)
    app.command("model")(model)
