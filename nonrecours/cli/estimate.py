"""``nonrecours estimate``: take-up rates by domain with design-based SEs, CIs and gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import OptionError, message
from ..io import check_outputs, read_table, write_table
from ..options import Adjust, DFRule, EstimateCI, EstimateStatistic, check_option, choices_text
from ._common import (
    allow_below_threshold_option,
    beside,
    decimal_option,
    echo_table,
    encoding_option,
    handle_errors,
    id_option,
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

__all__ = ["register", "estimate"]


def _gap_option(text: str | None) -> tuple[str | None, tuple[str, str] | None, str | None]:
    """``COL`` (two levels: last minus first; k levels: every pair), ``COL:REF`` (each level minus REF)
    or ``COL=A,B`` (A minus B); ``right`` for COL compares rights."""
    from .._checks import parse_list

    if text is None:
        return None, None, None
    col, sep, levels = text.partition("=")
    if not sep:
        col, sep, ref = text.partition(":")
        if sep and (not ref.strip() or not col.strip()):
            raise OptionError(
                message("malformed gap", where="option --gap", expected="COLUMN:REFERENCE", found=repr(text))
            )
        return col.strip(), None, (ref.strip() if sep else None)
    items = parse_list(levels, option="--gap")
    if len(items) != 2 or not col.strip():
        raise OptionError(
            message(
                "malformed gap", where="option --gap", expected="COLUMN or COLUMN=A,B (A minus B)", found=repr(text)
            )
        )
    return col.strip(), (items[0], items[1]), None


def _ratios(text: str | None) -> list[tuple[str, str]]:
    from .._checks import parse_list

    pairs = []
    for item in parse_list(text, option="--variables"):
        num, sep, den = item.partition("/")
        if not sep or not num.strip() or not den.strip():
            raise OptionError(
                message(
                    "malformed ratio",
                    where="option --variables",
                    expected="NUMERATOR/DENOMINATOR[,...]",
                    found=repr(item),
                )
            )
        pairs.append((num.strip(), den.strip()))
    return pairs


def _estimate(
    design,
    stat: str,
    rights: list[str],
    variables: str | None,
    by: list[str],
    *,
    ci: str,
    level: float,
    df: str,
    quantiles: str,
    thresholds,
):
    """One result of ``--stat`` over every right/variable and domain (one pass of the engine)."""
    from .._checks import parse_list
    from ..estimation import (
        estimate_counts,
        estimate_means,
        estimate_quantiles,
        estimate_rates,
        estimate_ratio,
        estimate_totals,
    )

    names = parse_list(variables, option="--variables")
    if stat == "rate" or (stat == "total" and rights):
        if not rights:
            raise OptionError(
                message("--stat rate needs rights", where="option --rights", expected="one or more right columns")
            )
        if stat == "rate" and names:
            raise OptionError(
                message(
                    "--variables is not used by --stat rate",
                    where="option --variables",
                    hint="use --stat mean, total, ratio or quantile for numeric columns",
                )
            )
    if stat == "total" and rights and names:
        raise OptionError(
            message(
                "--stat total takes --rights or --variables, not both",
                where="option --variables",
                hint="run the command once for each",
            )
        )
    elif stat != "total" and stat != "rate" and rights:
        raise OptionError(
            message(
                f"--rights is not used by --stat {stat}",
                where="option --rights",
                hint="give numeric columns with --variables",
            )
        )
    if stat != "rate" and not rights and not names:
        raise OptionError(
            message(
                f"--stat {stat} needs columns",
                where="option --variables",
                expected="numeric columns (NUMERATOR/DENOMINATOR for ratio)",
            )
        )
    common = dict(level=level, df=df, thresholds=thresholds)
    if stat == "rate":
        return estimate_rates(design, rights, by, ci=ci, **common)
    if stat == "total":
        return estimate_counts(design, rights, by, **common) if rights else estimate_totals(design, names, by, **common)
    if stat == "mean":
        return estimate_means(design, names, by, **common)
    if stat == "ratio":
        pairs = _ratios(variables)
        return estimate_ratio(design, [a for a, _ in pairs], [b for _, b in pairs], by, **common)
    probs = [float(x) for x in parse_list(quantiles, option="--quantiles")] if quantiles else []
    return estimate_quantiles(design, names, by, quantiles=probs, **common)


@handle_errors
@design_options()
def estimate(
    sample: Path = typer.Argument(..., help="Sample file (CSV or Parquet) with design and right columns."),
    rights: str | None = typer.Option(
        None,
        "--rights",
        help="Right columns, comma-separated (1 = takes up, 0 = "
        "does not, empty = not eligible); for --stat rate and total.",
    ),
    stat: str = typer.Option(
        "rate",
        "--stat",
        help=f"Statistic: {choices_text(EstimateStatistic)}. total of rights: "
        "weighted takers and non-takers (right column 'R:takers', 'R:non_takers'); total, "
        "mean, quantile of --variables; ratio of --variables NUM/DEN.",
    ),
    variables: str | None = typer.Option(
        None,
        "--variables",
        help="Numeric columns for --stat total, mean, quantile; NUM/DEN pairs for --stat ratio; comma-separated.",
    ),
    quantiles: str = typer.Option(
        "0.5",
        "--quantiles",
        help="Probabilities for --stat quantile (Woodruff CIs, R's svyquantile defaults), comma-separated.",
    ),
    by: str | None = typer.Option(None, "--by", help="Domain columns, comma-separated (e.g. territory,benefit)."),
    ci: str = typer.Option(
        "auto",
        "--ci",
        help=f"CI method: {choices_text(EstimateCI)} (auto: Wilson with the "
        "effective n and the design df below 30 respondents or at 0 or 1, logit elsewhere; see the "
        "ci_method column).",
    ),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    df: str = typer.Option(
        "domain",
        "--df",
        help=f"Degrees of freedom: {choices_text(DFRule)} (domain: PSUs - strata in the domain; inf: normal).",
    ),
    gap: str | None = typer.Option(
        None,
        "--gap",
        help="Also estimate gaps between levels of a column: COLUMN "
        "(two levels: last minus first, e.g. is_qpv 1 - 0; more: every pair), "
        "COLUMN:REF (each level minus REF) or COLUMN=A,B (A minus B); 'right' compares "
        "rights within each domain.",
    ),
    adjust: str = typer.Option(
        "none",
        "--adjust",
        help="Multiple-comparison adjustment of the gaps' p-values "
        f"(column p_adjusted, per right and domain): {choices_text(Adjust)}.",
    ),
    min_n: int = min_n_option(
        "Suppress (do not publish) estimates from fewer eligible respondents (a rate or count of a right: fewer "
        "takers or fewer non-takers among them); their n, df and deff are blanked too."
    ),
    allow_below_threshold: bool = allow_below_threshold_option(),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Output table (.csv, .parquet, .json); the gap table goes "
        "beside it as <stem>_gap<suffix>. Printed on stdout if omitted.",
    ),
    covariances_out: Path | None = typer.Option(
        None,
        "--covariances-out",
        help="Also write the sampling covariances between the rights of each --by domain (same engine as the "
        "SEs): the --by columns, right_a, right_b, cov, each pair once, none of a suppressed estimate; "
        "what 'territorial fit --covariances' reads.",
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
    *,
    design_opts: DesignOptions,
) -> None:
    """Estimate take-up rates, numbers of takers and non-takers, means, ratios or quantiles per domain.

    Taylor or replicate SEs, CIs, design effects and quality flags, one row per domain x right
    (or variable), all in one pass of the variance engine.
    """
    from .._checks import check_grouping_column, check_ids_if_present, check_level, parse_list
    from ..estimation import QualityThresholds, gap_between
    from ..publication import DisclosurePolicy, blank_gaps, check_threshold, publish

    rd, wr = table_options(
        sep, decimal, encoding, sheet, na=na, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding
    )
    check_option("--stat", stat, EstimateStatistic)  # before reading the sample, named as the CLI option
    check_option("--ci", ci, EstimateCI)
    check_option("--df", df, DFRule)
    check_level(level, "--level")
    check_threshold(
        min_n,
        name="min_n",
        where="option --min-n",
        minimum=0,  # 0: every estimate published
        allow_below=allow_below_threshold,
    )
    thresholds = QualityThresholds(min_n=min_n, reliable_n=max(min_n, QualityThresholds.reliable_n))
    right_list = parse_list(rights, option="--rights")
    if stat == "quantile" and gap is not None:
        raise OptionError(
            message(
                "quantiles have no joint covariance for a gap",
                where="option --gap",
                hint="drop --gap, or use --stat rate, total, mean or ratio",
            )
        )
    if stat == "quantile" and covariances_out is not None:
        raise OptionError(
            message(
                "quantiles have no joint covariance to write",
                where="option --covariances-out",
                hint="drop --covariances-out, or use --stat rate, total, mean or ratio",
            )
        )
    by_list = parse_list(by, option="--by")
    gap_col, gap_levels, gap_ref = _gap_option(gap)
    check_option("--adjust", adjust, Adjust)
    check_outputs(
        {
            "--out": out,
            "--out (gap table)": beside(out, "gap") if out is not None and gap_col else None,
            "--covariances-out": covariances_out,
        },
        [sample],
        overwrite=overwrite,
    )  # before any work
    data = read_table(sample, option="SAMPLE", read=rd)
    check_ids_if_present(data, id_col, source="sample", before="estimating")  # a respondent counted twice otherwise
    check_grouping_column(data, by_list, name="by", min_n=min_n, id_col=id_col)  # no domain of one person
    design = load_design(sample, design_opts, read=rd, data=data)
    opts: dict[str, Any] = dict(ci=ci, level=level, df=df, quantiles=quantiles, thresholds=thresholds)
    result = _estimate(design, stat, right_list, variables, by_list, **opts)
    table = result.to_frame()  # suppressed rows blanked (n and df too)
    gap_table = None
    if gap_col is not None:  # domains of one result (joint covariance), the gap column last
        gap_by = [b for b in by_list if b != gap_col] + ([gap_col] if gap_col != "right" else [])
        gap_res = result if gap_by == by_list else _estimate(design, stat, right_list, variables, gap_by, **opts)
        gap_table = gap_between(gap_res, gap_col, levels=gap_levels, reference=gap_ref, adjust=adjust).to_frame()
        gap_table = blank_gaps(gap_table, gap_res.to_frame(), gap_col)  # no gap from a suppressed estimate
    cov_table = None
    if covariances_out is not None:  # pairs of a domain; none of a suppressed estimate
        from ..estimation.covariances import result_covariances

        cov_table = result_covariances(result)
    shown = publish(
        {"estimates": table}
        | ({"gap": gap_table} if gap_table is not None else {})
        | ({"covariances": cov_table} if cov_table is not None else {}),
        policy=DisclosurePolicy(min_n=min_n, allow_below_threshold=allow_below_threshold),
    )  # what leaves
    table, gap_table, cov_table = shown["estimates"], shown.get("gap"), shown.get("covariances")
    cov_path = None
    if cov_table is not None and covariances_out is not None:
        cov_path = write_table(cov_table, covariances_out, option="--covariances-out", inputs=[sample], csv_style=wr)
    if out is None:
        echo_table(table)
        if gap_table is not None:
            typer.echo("")
            echo_table(gap_table)
        if cov_path is not None:
            typer.echo(f"wrote {cov_path}", err=True)
        return
    paths = [write_table(table, out, inputs=[sample], csv_style=wr)]
    if gap_table is not None:
        paths.append(write_table(gap_table, beside(out, "gap"), inputs=[sample], csv_style=wr))  # type: ignore[arg-type]
    if cov_path is not None:
        paths.append(cov_path)
    typer.echo(
        f"{len(table):,} estimates of {stat} ({result.variance_method} variance, df rule {df}, "
        f"CI {result.ci_method} {level:g}); "
        "wrote " + ", ".join(map(str, paths))
    )


def register(app: typer.Typer) -> None:
    """Add the ``estimate`` command to ``app``."""
    app.command("estimate")(estimate)
