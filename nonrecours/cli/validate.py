"""``nonrecours validate``: Monte Carlo coverage study on a synthetic population.

Thin layer over :func:`nonrecours.validation.run_validation`: writes the
detailed table (``validation.csv``), a figure (``validation.png``) and the
settings (``validation.json``) into ``--out``, and prints the summary.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import OptionError, OutputError, message
from ..io import check_outputs, write_bytes, write_json, write_table
from ..options import (
    DFRule,
    EstimateCI,
    PPSMethod,
    ValidationDesign,
    ValidationLevel,
    WaveScheme,
    choices,
    choices_text,
)
from ._common import echo_table, handle_errors, overwrite_option, progress_bar, quiet_option

__all__ = ["register", "validate"]

OUTPUT_FILES = ("validation.csv", "validation.png", "validation.json")


def _out_dir(out: Path, overwrite: bool) -> dict[str, Path]:
    if out.exists() and not out.is_dir():
        raise OutputError(message("output folder is a file", where=f"--out {str(out)!r}", hint="choose a folder name"))
    paths = {name: out / name for name in OUTPUT_FILES}
    if out.is_dir():  # the one rule of every command's outputs (a new folder has none yet)
        check_outputs({f"--out ({p.name})": p for p in paths.values()}, overwrite=overwrite, tables=())
    return paths


def _bands(text: str | None) -> list[int]:
    """``--n-bands`` as integers (the library checks their order)."""
    from .._checks import parse_list

    out = []
    for b in parse_list(text, option="--n-bands"):
        if not b.isdigit():
            raise OptionError(
                message(
                    "respondent bands are integers",
                    where="option --n-bands",
                    found=repr(b),
                    hint="e.g. --n-bands 1,5,11,30",
                )
            )
        out.append(int(b))
    return out


@handle_errors
def validate(
    territories: int = typer.Option(..., "--territories", help="QPVs of the synthetic population (x2 territories)."),
    replications: int = typer.Option(..., "--replications", help="Number of samples drawn (e.g. 1000)."),
    n: int = typer.Option(..., "--n", help="Sample size of each replication."),
    design: str = typer.Option(
        "stratified",
        "--design",
        help=f"{choices_text(ValidationDesign)} (stratified: "
        "SRS within strata; two-stage: territories by PPS, then recipients).",
    ),
    seed: int = typer.Option(..., "--seed", help="Seed of the population and of the draws (required)."),
    ci: str = typer.Option(
        ",".join(("wald", "logit", "beta", "wilson")),
        "--ci",
        help="CI methods, comma-separated: " + ", ".join(choices(EstimateCI)) + " (auto: the "
        "default rule of 'estimate').",
    ),
    rights: str | None = typer.Option(None, "--rights", help="Rights, comma-separated [default: all four]."),
    levels: str | None = typer.Option(
        None, "--levels", help="Levels, comma-separated: " + ", ".join(choices(ValidationLevel)) + " [default: all]."
    ),
    strata: str | None = typer.Option(
        None, "--strata", help="Stratum columns [default: territory for stratified, is_qpv for two-stage]."
    ),
    n_psu: int = typer.Option(10, "--n-psu", help="Territories drawn per stratum (two-stage)."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    df: str = typer.Option("domain", "--df", help=f"Degrees of freedom: {choices_text(DFRule)}."),
    sae: bool = typer.Option(False, "--sae", help="Also evaluate Fay–Herriot estimates of the territories."),
    covariates: str | None = typer.Option(
        None, "--covariates", help="Fay–Herriot covariates [default: is_qpv,poverty_rate,social_housing_share]."
    ),
    sae_methods: str = typer.Option(
        "reml",
        "--sae-methods",
        help="Small-area estimators with --sae, comma-separated: "
        "reml, ml, fh, amrl, amrl-yl (Fay-Herriot) and unit (unit-level EBP); each "
        "reported over all, sampled and unsampled territories. Naming rao-yu, multivariate or spatial compares "
        "the territory models fh, rao-yu, multivariate, spatial instead, on the simulated follow-up (--years).",
    ),
    years: str | None = typer.Option(
        None,
        "--years",
        help="With the territory models (--sae-methods fh,rao-yu,multivariate,spatial): years of the simulated "
        "follow-up, e.g. 2014-2017 [default: 2014-2017]; one independent sample of --n per year.",
    ),
    pps: str | None = typer.Option(
        None,
        "--pps",
        help="Two-stage: also the national and QPV rates with these "
        f"first-stage variances, comma-separated: {choices_text(PPSMethod)}.",
    ),
    allocation: str = typer.Option(
        "proportional", "--allocation", help="proportional, or power (N_h^0.5, the demo's)."
    ),
    unit_replicates: int = typer.Option(50, "--unit-replicates", help="Bootstrap replicates of the unit-level MSE."),
    out: Path | None = typer.Option(None, "--out", help="Folder for validation.csv, validation.png, validation.json."),
    overwrite: bool = overwrite_option("Replace existing output files."),
    quiet: bool = quiet_option(),
    change: str | None = typer.Option(
        None,
        "--change",
        help="Check change estimates instead: two waves "
        f"(2014, 2015) drawn with this scheme ({choices_text(WaveScheme)}); "
        "SE of the change vs its empirical SD and coverage, by is_qpv.",
    ),
    share: float = typer.Option(0.0, "--share", help="With --change: attrition (panel) or rotation (rotating) share."),
    workers: int = typer.Option(
        1,
        "--workers",
        help="Processes drawing and estimating the samples; the results are identical whatever their number.",
    ),
    n_bands: str | None = typer.Option(
        None,
        "--n-bands",
        help="Lower ends of bands of respondents, e.g. "
        "1,5,11,30: the direct estimates also reported per band (direct/n1-4, ...).",
    ),
) -> None:
    """Draw many samples from one synthetic population; report bias, SEs and CI coverage with MC errors."""
    from .._checks import parse_list
    from .._parallel import check_workers
    from ..simulate import simulate_population
    from ..validation import DEFAULT_COVARIATES, plot_validation, run_validation

    check_workers(workers)
    if replications < 2:
        raise OptionError(
            message("at least 2 replications are needed", where="option --replications", found=repr(replications))
        )
    if change is not None:
        _validate_change(territories, replications, n, seed, change, share, rights, level, out, overwrite)
        return
    methods = parse_list(sae_methods, option="--sae-methods")
    if years is not None or any(m in _BORROWING for m in methods):
        _validate_borrowing(
            territories,
            replications,
            n,
            seed,
            methods,
            years,
            rights,
            covariates,
            level,
            workers,
            out,
            overwrite,
            quiet,
        )
        return
    paths = _out_dir(out, overwrite) if out is not None else None
    pop = simulate_population(territories, seed=seed)
    with progress_bar("samples drawn and estimated", quiet=quiet) as update:
        res = run_validation(
            pop,
            design=design,
            n=n,
            replications=replications,
            seed=seed + 1,
            rights=parse_list(rights, option="--rights") or None,
            ci=parse_list(ci, option="--ci"),
            level=level,
            df=df,
            levels=parse_list(levels, option="--levels") or choices(ValidationLevel),
            strata=parse_list(strata, option="--strata") or None,
            n_psu=n_psu,
            sae=sae,
            covariates=parse_list(covariates, option="--covariates") or DEFAULT_COVARIATES,
            sae_methods=methods,
            allocation=allocation,
            unit_replicates=unit_replicates,
            pps=parse_list(pps, option="--pps"),
            progress=update,
            workers=workers,
            n_bands=_bands(n_bands),
        )
    summary = res.summary()
    if paths is not None and out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_table(res.to_frame(), paths["validation.csv"])
        write_bytes(
            plot_validation(res.table, summary, level=level, replications=replications), paths["validation.png"]
        )
        write_json({**res.settings, "population_seed": seed, "draws_seed": seed + 1}, paths["validation.json"])
    echo_table(summary)
    s = res.settings
    typer.echo(
        f"{s['replications']} samples of {s['n']} ({s['design']}) from {s['recipients']:,} recipients in "
        f"{s['territories']:,} territories on {res.workers} worker{'s' if res.workers > 1 else ''}"
        + (f" -> {out}" if out is not None else "")
    )  # no timing: the output depends on the settings only


#: Models that borrow strength (their names in --sae-methods switch to the comparison of territory models).
_BORROWING = ("rao-yu", "multivariate", "spatial")


def _validate_borrowing(
    territories: int,
    replications: int,
    n: int,
    seed: int,
    methods: list[str],
    years: str | None,
    rights: str | None,
    covariates: str | None,
    level: float,
    workers: int,
    out: Path | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """The comparison of territory models (:func:`~nonrecours.validation.borrowing.run_borrowing_validation`)."""
    from .._checks import check_choice, parse_list
    from ..simulate.waves import parse_years, simulate_waves
    from ..territorial.borrowing import BORROW_MODELS
    from ..validation import DEFAULT_COVARIATES
    from ..validation.borrowing import borrowing_gains, run_borrowing_validation

    for m in methods:
        check_choice("--sae-methods", m, BORROW_MODELS)
    try:
        ys = parse_years(years or "2014-2017")
    except OptionError:
        raise OptionError(
            message("malformed years", where="option --years", expected="FIRST-LAST such as 2014-2017", found=years)
        ) from None
    paths = _out_dir(out, overwrite) if out is not None else None
    waves = simulate_waves(territories, ys, seed=seed)
    with progress_bar("samples drawn and fitted", quiet=quiet) as update:
        res = run_borrowing_validation(
            waves,
            n=n,
            replications=replications,
            seed=seed + 1,
            models=methods,
            rights=parse_list(rights, option="--rights") or None,
            covariates=parse_list(covariates, option="--covariates") or DEFAULT_COVARIATES,
            level=level,
            workers=workers,
            progress=update,
        )
    gains = borrowing_gains(res.summary())
    if paths is not None and out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_table(res.to_frame(), paths["validation.csv"])
        write_json(
            {**res.settings, "population_seed": seed, "draws_seed": seed + 1, "gains": gains.to_dict("records")},
            paths["validation.json"],
        )
    echo_table(gains)
    s = res.settings
    typer.echo(
        f"{s['replications']} samples of {s['n']} a year over {len(s['years'])} years from about "
        f"{s['recipients'][0]:,} recipients in {s['territories']:,} territories"
        + (f" -> {out}" if out is not None else "")
    )


def _validate_change(
    territories: int,
    replications: int,
    n: int,
    seed: int,
    scheme: str,
    share: float,
    rights: str | None,
    level: float,
    out: Path | None,
    overwrite: bool,
) -> None:
    from .._checks import parse_list
    from ..options import check_option
    from ..simulate.waves import simulate_waves
    from ..validation.change import validate_change

    check_option("--change", scheme, WaveScheme)
    paths = _out_dir(out, overwrite) if out is not None else None
    w = simulate_waves(territories, (2014, 2015), seed=seed)
    f1, f2 = (p.recipients for p in w.populations)
    res = validate_change(
        f1,
        f2,
        scheme=scheme,
        share=share,
        n=n,
        replications=replications,
        seed=seed + 1,
        rights=parse_list(rights, option="--rights") or ("cmuc", "acs", "tpn", "tss"),
        level=level,
    )
    if paths is not None and out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_table(res.table, paths["validation.csv"])
        write_json({**res.settings, "population_seed": seed, "draws_seed": seed + 1}, paths["validation.json"])
    echo_table(res.table)
    echo_table(res.summary())
    s = res.settings
    typer.echo(
        f"{s['replications']} pairs of waves ({scheme}, share {share:g}) of {s['n']} from "
        f"{s['recipients'][0]:,} / {s['recipients'][1]:,} recipients, {s['elapsed_s']:.1f} s"
        + (f" -> {out}" if out is not None else "")
    )


@handle_errors
def validate_admin(
    territories: int = typer.Option(..., "--territories", help="QPVs of each synthetic population (x2 territories)."),
    replications: int = typer.Option(..., "--replications", help="Populations, sources and linkages simulated."),
    seed: int = typer.Option(..., "--seed", help="Seed of the first replication (replication k: seed + k)."),
    review_sample: int = typer.Option(
        3000, "--review-sample", help="Recipients per source in the clerical review simulated from the truth."
    ),
    sample_size: int = typer.Option(
        3900, "--sample-size", help="Survey respondents measuring the files' misclassification (0: no survey)."
    ),
    level: float = typer.Option(0.95, "--level", help="Level of the administrative intervals."),
    tolerance: float = typer.Option(0.03, "--tolerance", help="Coverage within level ± tolerance is accepted."),
    out: Path | None = typer.Option(None, "--out", help="Table of the coverage per replication and right."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Simulate populations, sources, linkages and surveys; report each administrative interval's coverage by right.

    The administrative rates are checked against take-up among the recipients eligible by the files' facts, the
    survey-corrected rates against the true rates.
    """
    from ..validation.admin import run_admin_validation

    if out is not None:
        check_outputs({"--out": out}, overwrite=overwrite)
    pooled, per = run_admin_validation(
        territories,
        replications,
        seed=seed,
        review_sample=review_sample,
        sample_size=sample_size,
        level=level,
        tolerance=tolerance,
    )
    echo_table(pooled)
    rights = pooled[pooled["right"] != "all"]
    typer.echo(
        f"coverage within {level:.2f} ± {tolerance:.2f} for "
        f"{int(rights['within_tolerance'].sum())} of {len(rights)} intervals × rights"
    )
    if out is not None:
        write_table(per, out)
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``validate-admin`` to the CLI."""
    app.command("validate")(validate)
    app.command("validate-admin")(validate_admin)
