"""``nonrecours change``: change of take-up between two waves, with the covariance of overlapping samples.

Thin layer over :func:`nonrecours.estimation.change.estimate_change`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import OptionError, message
from ..io import check_outputs, read_table, write_table
from ..options import ChangeVariance, WaveScheme, check_option, choices_text
from ._common import allow_below_threshold_option, beside, echo_table, handle_errors, min_n_option, overwrite_option
from ._design import WAVES_HELP, DesignOptions, design_options, load_waves, wave_replicates

__all__ = ["register", "change"]


def _gap(text: str | None) -> tuple[str | None, tuple[str, str] | None]:
    """``COL`` (last minus first of its two levels) or ``COL=A,B`` (A minus B)."""
    from .._checks import parse_list

    if text is None:
        return None, None
    col, sep, levels = text.partition("=")
    items = parse_list(levels, option="--gap") if sep else []
    if not col.strip() or (sep and len(items) != 2):
        raise OptionError(
            message(
                "malformed gap", where="option --gap", expected="COLUMN or COLUMN=A,B (A minus B)", found=repr(text)
            )
        )
    return col.strip(), ((items[0], items[1]) if sep else None)


@handle_errors
@design_options(lonely_psu="adjust", help=WAVES_HELP)
def change(
    wave1: Path = typer.Argument(..., help="Sample (or weighted file) of the first wave."),
    wave2: Path = typer.Argument(..., help="Sample (or weighted file) of the second wave."),
    rights: str = typer.Option(..., "--rights", help="Right columns, comma-separated."),
    by: str | None = typer.Option(None, "--by", help="Domain columns, comma-separated (read in each wave)."),
    gap: str | None = typer.Option(
        None,
        "--gap",
        help="Net change of the gap between two levels of a domain "
        "column (difference in differences): COLUMN (last minus first level, is_qpv: "
        "QPV minus the rest) or COLUMN=A,B.",
    ),
    persistence: bool = typer.Option(
        False,
        "--persistence",
        help="Also persistent and transient non-take-up among the recipients of both waves eligible in both "
        "(persistent, transient, either, entries, exits), on WAVE2's design; written beside --out as "
        "<stem>_persistence<suffix>.",
    ),
    scheme: str | None = typer.Option(
        None, "--scheme", help=f"{choices_text(WaveScheme)} [default: the 'scheme' column of WAVE2, else panel]."
    ),
    id_col: str = typer.Option("id", "--id-col", help="Recipient identifier linking the waves."),
    variance: str = typer.Option(
        "taylor",
        "--variance",
        help=f"{choices_text(ChangeVariance)}: joint linearisation, "
        "or the replicate weights of both weighted files, carried across waves.",
    ),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    df: str = typer.Option("domain", "--df", help="Degrees of freedom: domain (union design) or inf (normal)."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Change table (.csv, .parquet, .json); the "
        "difference-in-differences table goes beside it as <stem>_did<suffix>.",
    ),
    covariances_out: Path | None = typer.Option(
        None,
        "--covariances-out",
        help="Also write the sampling covariances between the rights and the two waves of each --by domain "
        "(the joint covariance of the change): the --by columns, right_a, year_a, right_b, year_b, cov, each "
        "pair once, none of a suppressed estimate; what 'territorial fit --covariances' reads with --time year.",
    ),
    years: str = typer.Option(
        "1,2", "--years", help="Years of WAVE1 and WAVE2 in the year_a, year_b columns of --covariances-out."
    ),
    overwrite: bool = overwrite_option(),
    min_n: int = min_n_option(
        "Statistical confidentiality: a domain with fewer eligible respondents, takers or non-takers in either wave "
        "is not published (its change emptied, and the difference in differences of its "
        "right), nor a count of respondents in both waves below it."
    ),
    allow_below_threshold: bool = allow_below_threshold_option(),
    *,
    design_opts: DesignOptions,
) -> None:
    """Change of take-up per domain x right between two waves: SE from joint linearisation, CI, test."""
    import pandas as pd

    from .._checks import check_choice, check_level, parse_list
    from ..estimation.change import estimate_change, wave_scheme

    check_option("--variance", variance, ChangeVariance)
    check_choice("--df", df, ("domain", "inf"))
    check_level(level, "--level")
    from ..publication import check_threshold

    check_threshold(min_n, name="min_n", where="option --min-n", allow_below=allow_below_threshold)
    right_list = parse_list(rights, option="--rights")
    by_list = parse_list(by, option="--by")
    gap_col, gap_levels = _gap(gap)
    if gap_col is not None and gap_col not in by_list:
        by_list.append(gap_col)
    inputs = [wave1, wave2]
    year_list = parse_list(years, option="--years")
    if len(year_list) != 2 or len(set(year_list)) != 2 or not all(y.lstrip("-").isdigit() for y in year_list):
        raise OptionError(
            message(
                "malformed years",
                where="option --years",
                expected="two distinct years, e.g. 2015,2016",
                found=repr(years),
            )
        )
    check_outputs(  # every output checked before any work
        {
            "--out": out,
            "--out (difference in differences)": beside(out, "did") if out is not None and gap_col else None,
            "--covariances-out": covariances_out,
            "--out (persistence)": beside(out, "persistence") if out is not None and persistence else None,
        },
        inputs,
        overwrite=overwrite,
    )
    if scheme is not None:
        check_option("--scheme", scheme, WaveScheme)
    wave_replicates(design_opts, variance)  # before reading the waves
    data = {"WAVE1": read_table(wave1, option="WAVE1"), "WAVE2": read_table(wave2, option="WAVE2")}
    sch = wave_scheme(data["WAVE2"], scheme)
    d1, d2 = load_waves({"WAVE1": wave1, "WAVE2": wave2}, design_opts, datas=data, variance=variance)
    result = estimate_change(
        d1,
        d2,
        right_list,
        by_list,
        scheme=sch,
        id_col=id_col,
        variance=variance,
        level=level,
        df=df,
        lonely_psu=design_opts.lonely_psu,
    )
    from ..publication import DisclosurePolicy, blank_changes, blank_did, publish

    # what leaves the package is protected: no change from fewer than min_n takers or non-takers in a wave
    table, _ = blank_changes(result.to_frame(), by_list, min_n=min_n, small=result.small_cells(min_n))
    did = result.did(gap_col, gap_levels) if gap_col is not None else None
    if did is not None:  # no difference in differences from a hidden domain
        hidden_rights = set(table.loc[table["change"].isna(), "right"].astype(str))
        did = blank_did(did, hidden_rights, gap_col)
    cov = None
    if covariances_out is not None:  # pairs of a domain; none of an estimate below min_n in its wave
        from ..estimation.covariances import change_covariances

        cov = change_covariances(result, [int(y) for y in year_list], min_n=min_n)
    shown = publish(
        {"changes": table}
        | ({"did": did} if did is not None else {})
        | ({"covariances": cov} if cov is not None else {}),
        policy=DisclosurePolicy(min_n=min_n, allow_below_threshold=allow_below_threshold),
    )  # what leaves
    pers = (  # before anything is written
        _persistence(d1, d2, right_list, by_list, id_col, level, min_n, allow_below_threshold) if persistence else None
    )
    table, did, cov = shown["changes"], shown.get("did"), shown.get("covariances")
    cov_path = None
    if cov is not None and covariances_out is not None:
        cov_path = write_table(cov, covariances_out, option="--covariances-out", inputs=inputs)
    if out is None:
        echo_table(table)
        if did is not None:
            typer.echo("")
            echo_table(did)
        if cov_path is not None:
            typer.echo(f"wrote {cov_path}", err=True)
        if pers is not None:
            typer.echo("")
            echo_table(pers)
        return
    paths = [write_table(table, out, inputs=inputs)]
    if did is not None:
        paths.append(write_table(did, beside(out, "did"), inputs=inputs))  # type: ignore[arg-type]
    if cov_path is not None:
        paths.append(cov_path)
    if pers is not None:
        paths.append(write_table(pers, beside(out, "persistence"), inputs=inputs))  # type: ignore[arg-type]
    n_both = int(pd.to_numeric(table["n_both"], errors="coerce").max()) if table["n_both"].notna().any() else 0
    typer.echo(
        f"{len(table):,} changes ({sch}, {result.variance_method}; up to {n_both:,} eligible recipients in "
        f"both waves); wrote " + ", ".join(map(str, paths))
    )


def _persistence(d1, d2, rights, by, id_col, level, min_n, allow_below):  # noqa: ANN001, ANN202
    """``--persistence``: :func:`nonrecours.estimation.persistence.estimate_persistence` as published.

    Rows under ``min_n`` eligible respondents of both waves are suppressed by the estimator's flag; no count is
    published (a national count minus a domain's would give a suppressed one back).
    """
    from ..estimation import QualityThresholds
    from ..estimation.persistence import estimate_persistence
    from ..publication import DisclosurePolicy, publish

    th = QualityThresholds(min_n=min_n)
    res = estimate_persistence(d1, d2, rights, by or None, id_col=id_col, level=level, thresholds=th)
    table = res.to_frame().drop(columns=["n", "df"])
    policy = DisclosurePolicy(min_n=min_n, allow_below_threshold=allow_below)
    return publish({"persistence": table}, policy=policy)["persistence"]


def register(app: typer.Typer) -> None:
    """Add the ``change`` command to ``app``."""
    app.command("change")(change)
