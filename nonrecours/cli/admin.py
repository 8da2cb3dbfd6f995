"""``nonrecours eligibility`` and ``nonrecours link``: the administrative phase's record-level steps.

Messages give counts only: never a record id, a number or a name.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import echo_table, handle_errors, overwrite_option

__all__ = ["register", "eligibility", "link"]


def source_inputs(*paths: Path | None) -> list[Path]:
    """Every input file, the files of an input folder included (an output must not replace any of them)."""
    out: list[Path] = []
    for p in paths:
        if p is None:
            continue
        out.append(p)
        if p.is_dir():
            out.extend(q for q in p.iterdir() if q.is_file())
    return out


def _recipients(path: Path):
    from ..admin.pipeline import _read, read_recipients

    return read_recipients(path) if path.is_dir() else _read(path)


@handle_errors
def eligibility(
    sources: Path = typer.Argument(..., help="Sources folder (the organisms' files) or one recipients table."),
    out: Path = typer.Option(..., "--out", help="Output table: status and deciding rule per recipient and right."),
    year: int = typer.Option(2015, "--year", help="Year of the rules applied."),
    rulebook: Path | None = typer.Option(
        None, "--rulebook", help="Your own rulebook (TOML); default: the package's French rulebook."
    ),
    overwrite: bool = overwrite_option(),
) -> None:
    """Eligibility for CMU-C, ACS, TPN and TSS from resources and household size (eligible / not / undetermined)."""
    import pandas as pd

    from ..admin.eligibility import assess_eligibility, load_rulebook
    from ..io import check_outputs, write_table

    inputs = source_inputs(sources)
    check_outputs({"--out": out}, inputs, overwrite=overwrite)  # before any work
    rule = load_rulebook(rulebook).entry(year)
    res = assess_eligibility(_recipients(sources), rule)
    rights = ("cmuc", "acs", "tpn", "tss")
    counts = (
        pd.DataFrame({r: res[r].value_counts() for r in rights})
        .reindex(["eligible", "not_eligible", "undetermined"])
        .fillna(0)
        .astype(int)
    )
    echo_table(counts.rename_axis("status").reset_index())
    write_table(res, out, inputs=inputs)
    typer.echo(f"wrote {out}")


@handle_errors
def link(
    sources: Path = typer.Argument(..., help="Sources folder: organisms' files, health.csv, tpn.csv, tss.csv."),
    out: Path = typer.Option(..., "--out", help="Links: source, id_l, id_r, match_probability, method."),
    near_misses_out: Path = typer.Option(
        ...,
        "--near-misses-out",
        help="Best candidates below the threshold (their probabilities are the expected missed links).",
    ),
    quality_out: Path = typer.Option(..., "--quality-out", help="Linkage-quality table (e.g. linkage_quality.csv)."),
    truth: Path | None = typer.Option(
        None, "--truth", help="True links (source, id_l, id_r) for true precision and recall."
    ),
    threshold: float = typer.Option(0.9, "--threshold", help="Match probability from which a pair is a link."),
    seed: int = typer.Option(
        1, "--seed", help="Seed of the random pairs sampled to estimate u probabilities, and of the review sample."
    ),
    review_sample: int = typer.Option(
        0,
        "--review-sample",
        min=0,
        help="Recipients per source drawn for a clerical review (stratified by link status), written to "
        "--review-out: the reviewer fills its match column (1 same person, 0 not).",
    ),
    review_out: Path | None = typer.Option(None, "--review-out", help="The review sample (with --review-sample)."),
    reviewed: Path | None = typer.Option(
        None,
        "--reviewed",
        help="A review sample with its verdicts: precision and recall by source with their intervals in the "
        "quality table (and 'territorial admin --reviewed' calibrates the rates with it).",
    ),
    overwrite: bool = overwrite_option(),
    engine: str = typer.Option(
        "duckdb",
        "--engine",
        help="duckdb or spark: Splink's DuckDB backend (in this process), or its Spark backend (a local session, "
        "or SPARK_REMOTE / --spark-master).",
    ),
    spark_master: str | None = typer.Option(
        None, "--spark-master", help="Spark master URL (default local[*]; ignored when SPARK_REMOTE is set)."
    ),
) -> None:
    """Link the recipients with the health insurance's file and the suppliers' lists: by number, then Splink."""
    from contextlib import nullcontext

    import pandas as pd

    from .._checks import check_choice
    from ..admin.linkage import link_quality, link_records
    from ..admin.pipeline import _read, read_recipients, read_source
    from ..engines import SQL_ENGINES, open_engine
    from ..errors import OptionError, message
    from ..io import check_outputs, write_table

    if (review_sample > 0) != (review_out is not None):
        raise OptionError(
            message(
                "a review sample needs both its size and its file",
                where="--review-sample, --review-out",
                expected="both or neither",
                found="--review-sample 0" if review_out is not None else "no --review-out",
            )
        )
    inputs = source_inputs(sources, truth, reviewed)
    outputs = {"--out": out, "--near-misses-out": near_misses_out, "--quality-out": quality_out}
    if review_out is not None:
        outputs["--review-out"] = review_out
    # the one rule: before any work, distinct paths, no input replaced
    check_outputs(outputs, inputs, overwrite=overwrite)
    check_choice("--engine", engine, SQL_ENGINES)
    left = read_recipients(sources)
    true_links = _read(truth) if truth is not None else None
    verdicts = _read(reviewed) if reviewed is not None else None
    links, near, quality = [], [], []
    # duckdb: one engine per source, opened by link_records (as before); spark: one session for the three
    with open_engine(engine, spark_master=spark_master) if engine == "spark" else nullcontext() as eng:
        for name in ("health", "tpn", "tss"):
            res = link_records(left, read_source(sources, name), threshold=threshold, seed=seed, engine=eng)
            links.append(res.links.assign(source=name))
            near.append(res.near_misses.assign(source=name))
            t = None if true_links is None else true_links[true_links["source"] == name]
            quality.append(link_quality(res, name, len(left), t))
    q = pd.DataFrame(quality)
    links_df, near_df = pd.concat(links, ignore_index=True), pd.concat(near, ignore_index=True)
    if review_sample or verdicts is not None:
        from ..admin.review import draw_review, review_estimates, review_frame, review_quality

        frame = review_frame(left["rec_id"], links_df, near_df)
        if verdicts is not None:
            q = q.merge(review_quality(review_estimates(verdicts, frame)), on="source", how="left")
    echo_table(
        q[
            [
                c
                for c in (
                    "source",
                    "links_number",
                    "links_probabilistic",
                    "est_precision",
                    "est_recall",
                    "review_precision",
                    "review_recall",
                    "true_precision",
                    "true_recall",
                )
                if c in q
            ]
        ]
    )
    cols = ["source", "id_l", "id_r", "match_probability"]
    write_table(links_df[cols + ["method"]], out, inputs=inputs)
    write_table(near_df[cols], near_misses_out, option="--near-misses-out", inputs=inputs)
    write_table(q, quality_out, option="--quality-out", inputs=inputs)
    typer.echo(f"wrote {out}, {near_misses_out}, {quality_out}")
    if review_out is not None:
        sample = draw_review(frame, review_sample, seed=seed)
        write_table(sample, review_out, option="--review-out", inputs=inputs)
        counts = sample.groupby(["source", "stratum"]).size().rename("recipients").reset_index()
        echo_table(counts)
        typer.echo(f"wrote {review_out}: fill its match column (1: same person, 0: not) for --reviewed")


def register(app: typer.Typer) -> None:
    """Add the ``eligibility`` and ``link`` commands to ``app``."""
    app.command("eligibility")(eligibility)
    app.command("link")(link)
