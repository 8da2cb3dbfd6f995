"""``nonrecours estimate``: take-up rates by domain with design-based SEs, CIs and gaps."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ..errors import OptionError, message
from ..io import check_outputs, read_table, write_table
from ..options import (Adjust, DFRule, EstimateCI, EstimateStatistic, LonelyPSURule, PPSMethod, RepWeightsType,
                       check_option, choices_text)
from ._common import (decimal_option, design_role, design_roles, echo_table, encoding_option, handle_errors,
                      sep_option,
                      sheet_option, table_options)

if TYPE_CHECKING:
    from ..design.survey_design import SurveyDesign

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
            raise OptionError(message("malformed gap", where="option --gap", expected="COLUMN:REFERENCE",
                                      found=repr(text)))
        return col.strip(), None, (ref.strip() if sep else None)
    items = parse_list(levels, option="--gap")
    if len(items) != 2 or not col.strip():
        raise OptionError(message("malformed gap", where="option --gap", expected="COLUMN or COLUMN=A,B (A minus B)",
                                  found=repr(text)))
    return col.strip(), (items[0], items[1]), None


def _gap_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}_gap{out.suffix}")


def _stages(text: str | None):  # noqa: ANN202
    """``--stages 'ssu[:strata[:fpc]],unit3[:strata[:fpc]]'``: the stages below the first."""
    from .._checks import parse_list
    from ..design.survey_design import Stage

    if text is None:
        return ()
    stages = []
    for item in parse_list(text, option="--stages"):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) > 3 or not parts[0]:
            raise OptionError(message("malformed stage", where="option --stages",
                                      expected="UNITS[:STRATA[:FPC]] per stage below the first, comma-separated",
                                      found=repr(item), hint="e.g. --stages 'school:school_type:n_schools,class::n_classes'"))
        parts += [""] * (3 - len(parts))
        stages.append(Stage(parts[0], parts[1] or None, parts[2] or None))
    return tuple(stages)


def _joint(sample: Path, pps: str | None, joint: Path | None, read):  # noqa: ANN001, ANN202
    """The joint probabilities of ``--pps ht|yg``: ``--joint FILE``, else the sample's ``.joint.csv`` sidecar."""
    from ..design.pps_variance import JointProbabilities, joint_path

    if joint is not None and pps not in ("ht", "yg"):
        raise OptionError(message("joint probabilities are used by --pps ht and yg only", where="option --joint",
                                  found=f"--pps {pps or 'none'}", hint="add --pps ht or --pps yg"))
    if pps not in ("ht", "yg"):
        return None
    path = joint if joint is not None else joint_path(sample)
    if joint is None and not path.is_file():
        raise OptionError(message(f"--pps {pps} needs the joint inclusion probabilities", where="option --joint",
                                  found=f"no --joint and no {str(path)!r}",
                                  hint="give --joint FILE (psu_i, psu_j, pi_ij), or draw with 'nonrecours sample "
                                       "--method sampford', which writes them beside the sample"))
    # the sidecar written by 'nonrecours sample' is a plain CSV; a --joint file is read like the sample
    table = read_table(path, option="--joint", read=read if joint is not None else None,
                       text_columns=("psu_i", "psu_j"))
    return JointProbabilities.from_frame(table, source=f"--joint {str(path)!r}")


def _design(sample: Path, data, *, replicates: bool, lonely_psu: str,  # noqa: ANN001
            roles: dict[str, str | None], pps: str | None = None, joint: Path | None = None, nest: bool = False,
            stages=(), zero_weights: bool = False, read=None) -> SurveyDesign:  # noqa: ANN001
    """The design of SAMPLE: from the sidecar of a weighted file when present, else from the role options."""
    from ..design.survey_design import SurveyDesign
    from ..weights.sidecar import load_weighted_design, sidecar_path

    if sidecar_path(sample).is_file():
        given = [f"--{r.replace('_', '-')}" for r, v in roles.items() if v is not None]
        given += [o for o, v in (("--pps", pps), ("--joint", joint), ("--nest", nest or None),
                                 ("--stages", stages or None), ("--zero-weights", zero_weights or None))
                  if v is not None]
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
    if pps is None:  # a PPS fpc (inclusion probabilities) varies within strata by design
        found = design_roles(roles, data)
    else:
        cols = set(data.columns)
        found = {r: design_role(v, r, cols) for r, v in roles.items()}
    if stages:
        for r in ("ssu", "fpc2"):
            if roles[r] is not None and found[r] is not None:
                raise OptionError(message("give the stages below the first either as --ssu/--fpc2 or as --stages",
                                          where=f"options --{r} / --stages"))
            found[r] = None  # the conventional ssu/fpc2 columns give way to --stages
    return SurveyDesign(data, lonely_psu=lonely_psu, pps=pps, joint=_joint(sample, pps, joint, read), nest=nest,
                        stages=stages, zero_weights=zero_weights, **found)


def _ratios(text: str | None) -> list[tuple[str, str]]:
    from .._checks import parse_list

    pairs = []
    for item in parse_list(text, option="--variables"):
        num, sep, den = item.partition("/")
        if not sep or not num.strip() or not den.strip():
            raise OptionError(message("malformed ratio", where="option --variables",
                                      expected="NUMERATOR/DENOMINATOR[,...]", found=repr(item)))
        pairs.append((num.strip(), den.strip()))
    return pairs


def _estimate(design, stat: str, rights: list[str], variables: str | None, by: list[str], *, ci: str, level: float,
              df: str, quantiles: str, thresholds):
    """One result of ``--stat`` over every right/variable and domain (one pass of the engine)."""
    from ..estimation import (estimate_counts, estimate_means, estimate_quantiles, estimate_rates, estimate_ratio,
                              estimate_totals)
    from .._checks import parse_list

    names = parse_list(variables, option="--variables")
    if stat == "rate" or (stat == "total" and rights):
        if not rights:
            raise OptionError(message("--stat rate needs rights", where="option --rights",
                                      expected="one or more right columns"))
        if stat == "rate" and names:
            raise OptionError(message("--variables is not used by --stat rate", where="option --variables",
                                      hint="use --stat mean, total, ratio or quantile for numeric columns"))
    if stat == "total" and rights and names:
        raise OptionError(message("--stat total takes --rights or --variables, not both", where="option --variables",
                                  hint="run the command once for each"))
    elif stat != "total" and stat != "rate" and rights:
        raise OptionError(message(f"--rights is not used by --stat {stat}", where="option --rights",
                                  hint="give numeric columns with --variables"))
    if stat != "rate" and not rights and not names:
        raise OptionError(message(f"--stat {stat} needs columns", where="option --variables",
                                  expected="numeric columns (NUMERATOR/DENOMINATOR for ratio)"))
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
def estimate(
    sample: Path = typer.Argument(..., help="Sample file (CSV or Parquet) with design and right columns."),
    rights: str | None = typer.Option(None, "--rights", help="Right columns, comma-separated (1 = takes up, 0 = "
                                      "does not, empty = not eligible); for --stat rate and total."),
    stat: str = typer.Option("rate", "--stat", help=f"Statistic: {choices_text(EstimateStatistic)}. total of rights: "
                             "weighted takers and non-takers (right column 'R:takers', 'R:non_takers'); total, "
                             "mean, quantile of --variables; ratio of --variables NUM/DEN."),
    variables: str | None = typer.Option(None, "--variables", help="Numeric columns for --stat total, mean, "
                                         "quantile; NUM/DEN pairs for --stat ratio; comma-separated."),
    quantiles: str = typer.Option("0.5", "--quantiles", help="Probabilities for --stat quantile (Woodruff CIs, "
                                  "R's svyquantile defaults), comma-separated."),
    by: str | None = typer.Option(None, "--by", help="Domain columns, comma-separated (e.g. territory,benefit)."),
    weight: str | None = typer.Option(None, "--weight", help="Weight column [default: 'weight' if present; none = equal]."),
    strata: str | None = typer.Option(None, "--strata", help="Strata column [default: 'stratum' if present]."),
    psu: str | None = typer.Option(None, "--psu", help="PSU column [default: 'psu' if present]."),
    ssu: str | None = typer.Option(None, "--ssu", help="Second-stage unit column [default: 'ssu' if present]."),
    fpc: str | None = typer.Option(None, "--fpc", help="Stage-1 FPC column: population count of PSUs or sampling "
                                   "fraction (<= 1) [default: 'fpc' if present]."),
    fpc2: str | None = typer.Option(None, "--fpc2", help="Stage-2 FPC column [default: 'fpc2' if present]."),
    ci: str = typer.Option("auto", "--ci", help=f"CI method: {choices_text(EstimateCI)} (auto: Wilson with the "
                           "effective n and the design df below 30 respondents or at 0 or 1, logit elsewhere; see the "
                           "ci_method column)."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    df: str = typer.Option("domain", "--df", help=f"Degrees of freedom: {choices_text(DFRule)} "
                           "(domain: PSUs - strata in the domain; inf: normal)."),
    lonely_psu: str = typer.Option("fail", "--lonely-psu", help=f"Strata with one PSU: {choices_text(LonelyPSURule)}."),
    gap: str | None = typer.Option(None, "--gap", help="Also estimate gaps between levels of a column: COLUMN "
                                   "(two levels: last minus first, e.g. is_qpv 1 - 0; more: every pair), "
                                   "COLUMN:REF (each level minus REF) or COLUMN=A,B (A minus B); 'right' compares "
                                   "rights within each domain."),
    adjust: str = typer.Option("none", "--adjust", help="Multiple-comparison adjustment of the gaps' p-values "
                               f"(column p_adjusted, per right and domain): {choices_text(Adjust)}."),
    min_n: int = typer.Option(11, "--min-n", help="Suppress (do not publish) estimates from fewer eligible "
                              "respondents; their n, df and deff are blanked too."),
    replicates: bool = typer.Option(False, "--replicates", help="Use the replicate weights recorded by 'nonrecours "
                                    "weight' (replicate variance) instead of Taylor linearisation."),
    pps: str | None = typer.Option(None, "--pps", help=f"First stage drawn with unequal probabilities without "
                                   f"replacement: {choices_text(PPSMethod)} variance; --fpc then holds each PSU's "
                                   "inclusion probability (<= 1)."),
    joint: Path | None = typer.Option(None, "--joint", help="Joint inclusion probabilities of the PSUs for --pps ht|yg "
                                      "(columns psu_i, psu_j, pi_ij) [default: <sample>.joint.csv written by "
                                      "'nonrecours sample --method sampford']."),
    stages: str | None = typer.Option(None, "--stages", help="Stages below the first, comma-separated, each "
                                      "UNITS[:STRATA[:FPC]] (e.g. 'school:school_type:n_schools,class::n_classes'; "
                                      "R's id=~psu+school+class); instead of --ssu/--fpc2."),
    nest: bool = typer.Option(False, "--nest", help="PSU ids are unique only within their stratum (R's nest=TRUE)."),
    zero_weights: bool = typer.Option(False, "--zero-weights", help="Accept zero weights: those rows stay in the "
                                      "design (their PSUs and strata count) and out of every estimate (R's prob=Inf)."),
    repweights: str | None = typer.Option(None, "--repweights", help="Replicate weight columns supplied with the "
                                          "data: a pattern ('rw_*') or a comma-separated list (R's svrepdesign)."),
    rep_type: str | None = typer.Option(None, "--rep-type", help=f"Type of --repweights: {choices_text(RepWeightsType)} "
                                        "(case-insensitive: R's JK1, JKn, BRR, Fay)."),
    rep_scale: float | None = typer.Option(None, "--rep-scale", help="Overall scale of --repweights (JK1: (R-1)/R, "
                                           "bootstrap: 1/(R-1), JKn: 1 by default; fixed for BRR, Fay, "
                                           "successive-difference)."),
    rep_rscales: Path | None = typer.Option(None, "--rep-rscales", help="File of the per-replicate scales (one "
                                            "column, R rows, in replicate order; required by JKn)."),
    rep_rho: float | None = typer.Option(None, "--rep-rho", help="Fay's rho (--rep-type Fay)."),
    mse: bool = typer.Option(False, "--mse", help="Centre replicate estimates on the full-sample estimate "
                             "(R's mse=TRUE) instead of their mean."),
    out: Path | None = typer.Option(None, "--out", help="Output table (.csv, .parquet, .json); the gap table goes "
                                    "beside it as <stem>_gap<suffix>. Printed on stdout if omitted."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files (inputs never are)."),
    sep: Optional[str] = sep_option(),
    decimal: Optional[str] = decimal_option(),
    encoding: Optional[str] = encoding_option(),
    sheet: Optional[str] = sheet_option(),
) -> None:
    """Estimate take-up rates, numbers of takers and non-takers, means, ratios or quantiles per domain.

    Taylor or replicate SEs, CIs, design effects and quality flags, one row per domain x right
    (or variable), all in one pass of the variance engine.
    """
    from .._checks import check_level, parse_list
    from ..disclosure import blank_gaps, blank_suppressed
    from ..estimation import QualityThresholds, gap_between

    rd, wr = table_options(sep, decimal, encoding, sheet)
    check_option("--stat", stat, EstimateStatistic)  # before reading the sample, named as the CLI option
    check_option("--ci", ci, EstimateCI)
    check_option("--df", df, DFRule)
    check_option("--lonely-psu", lonely_psu, LonelyPSURule)
    if pps is not None:
        pps = check_option("--pps", pps, PPSMethod)
    if (repweights is None) != (rep_type is None):
        raise OptionError(message("supplied replicate weights need their columns and their type",
                                  where="options --repweights / --rep-type", hint="e.g. --repweights 'rw_*' --rep-type JK1"))
    if rep_type is not None:
        rep_type = check_option("--rep-type", rep_type.lower(), RepWeightsType)  # R's JK1, JKn, BRR, Fay too
        if replicates:
            raise OptionError(message("two sources of replicate weights", where="options --repweights / --replicates",
                                      hint="--replicates uses those of 'nonrecours weight'; --repweights those of the data"))
    elif any(v is not None for v in (rep_scale, rep_rscales, rep_rho)) or mse:
        raise OptionError(message("replicate options without --repweights", where="--rep-scale/--rep-rscales/--rep-rho/--mse",
                                  hint="add --repweights PATTERN --rep-type TYPE"))
    check_level(level, "--level")
    if min_n < 0:
        raise OptionError(message("the suppression threshold must be non-negative", where="option --min-n",
                                  expected="an integer >= 0", found=str(min_n)))
    thresholds = QualityThresholds(min_n=min_n, reliable_n=max(min_n, QualityThresholds.reliable_n))
    right_list = parse_list(rights, option="--rights")
    if stat == "quantile" and gap is not None:
        raise OptionError(message("quantiles have no joint covariance for a gap", where="option --gap",
                                  hint="drop --gap, or use --stat rate, total, mean or ratio"))
    by_list = parse_list(by, option="--by")
    gap_col, gap_levels, gap_ref = _gap_option(gap)
    check_option("--adjust", adjust, Adjust)
    check_outputs({"--out": out, "--out (gap table)": _gap_path(out) if out is not None and gap_col else None},
                  [sample], overwrite=overwrite)  # before any work
    data = read_table(sample, option="SAMPLE", read=rd)
    design = _design(sample, data, replicates=replicates, lonely_psu=lonely_psu,
                     roles={"weight": weight, "strata": strata, "psu": psu, "ssu": ssu, "fpc": fpc, "fpc2": fpc2},
                     pps=pps, joint=joint, nest=nest, stages=_stages(stages), zero_weights=zero_weights, read=rd)
    if repweights is not None:
        from ..design.repweights import supplied_replicates
        from ..weights.sidecar import sidecar_path

        if sidecar_path(sample).is_file():
            raise OptionError(message("the weighted file has its own design", where="option --repweights",
                                      found=f"sidecar {str(sidecar_path(sample))!r}", hint="use --replicates"))
        rscales = None
        if rep_rscales is not None:
            rscales = read_table(rep_rscales, option="--rep-rscales", read=rd).iloc[:, 0].to_numpy(dtype=float)
        design = design.with_replicates(supplied_replicates(data, repweights, type=rep_type, scale=rep_scale,
                                                            rscales=rscales, rho=rep_rho, mse=mse))
    opts = dict(ci=ci, level=level, df=df, quantiles=quantiles, thresholds=thresholds)
    result = _estimate(design, stat, right_list, variables, by_list, **opts)
    table = blank_suppressed(result.to_frame())
    gap_table = None
    if gap_col is not None:  # domains of one result (joint covariance), the gap column last
        gap_by = [b for b in by_list if b != gap_col] + ([gap_col] if gap_col != "right" else [])
        gap_res = result if gap_by == by_list else _estimate(design, stat, right_list, variables, gap_by, **opts)
        gap_table = gap_between(gap_res, gap_col, levels=gap_levels, reference=gap_ref, adjust=adjust).to_frame()
        gap_table = blank_gaps(gap_table, gap_res.to_frame(), gap_col)  # no gap from a suppressed estimate
    if out is None:
        echo_table(table)
        if gap_table is not None:
            typer.echo("")
            echo_table(gap_table)
        return
    paths = [write_table(table, out, inputs=[sample], csv_style=wr)]
    if gap_table is not None:
        paths.append(write_table(gap_table, _gap_path(out), inputs=[sample], csv_style=wr))
    typer.echo(f"{len(table):,} estimates of {stat} ({result.variance_method} variance, df rule {df}, "
               f"CI {result.ci_method} {level:g}); "
               "wrote " + ", ".join(map(str, paths)))


def register(app: typer.Typer) -> None:
    """Add the ``estimate`` command to ``app``."""
    app.command("estimate")(estimate)
