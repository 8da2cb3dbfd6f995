"""``territorial admin`` on linked sources: QPV from coordinates, takers from links, linkage-error adjustment."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import echo_table

__all__ = ["linked_admin"]


def linked_admin(
    sources: Path | None,
    eligibility: Path | None,
    links: Path | None,
    near_misses: Path | None,
    *,
    out: Path,
    totals_out: Path | None,
    min_cell: int,
    level: float,
    recipients: Path | None,
    suppression: str = "heuristic",
) -> None:
    """Rates from a sources folder, an eligibility table and links (see :mod:`nonrecours.admin.rates`)."""
    import numpy as np
    import pandas as pd

    from ..admin.geo import assign_territories, read_contours
    from ..admin.pipeline import _read, read_recipients, read_source
    from ..admin.rates import linked_rates, taker_table
    from ..errors import OptionError, message
    from ..io import check_table_output, write_table

    missing = [o for o, v in (("--sources", sources), ("--eligibility", eligibility), ("--links", links)) if v is None]
    if missing or recipients is not None:
        raise OptionError(
            message(
                "linked mode needs --sources, --eligibility and --links, and no RECIPIENTS file",
                where="territorial admin",
                found=("missing " + ", ".join(missing)) if missing else "a RECIPIENTS file too",
            )
        )
    assert sources is not None and eligibility is not None and links is not None  # checked above
    from .admin import source_inputs

    inputs = source_inputs(sources, eligibility, links, near_misses)
    check_table_output(out, inputs)
    if totals_out is not None:
        check_table_output(totals_out, inputs, option="--totals-out")
        if Path(totals_out).resolve() == Path(out).resolve():
            from ..errors import OutputError

            raise OutputError(
                message(
                    "two outputs have the same path", where="--out, --totals-out", hint="give each output its own file"
                )
            )
    left = read_recipients(sources)
    terr, counts = assign_territories(
        left, read_contours(Path(sources) / "qpv.geojson"), read_source(sources, "communes")
    )
    typer.echo("addresses: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    rec = pd.DataFrame(
        {"rec_id": left["rec_id"].astype(str), "territory": terr["territory"], "departement": terr["departement"]}
    ).dropna()
    lk = _read(Path(links))
    nm = (
        _read(Path(near_misses))
        if near_misses is not None
        else lk.iloc[:0][["source", "id_l", "id_r", "match_probability"]]
    )
    takers = taker_table(rec, _read(Path(eligibility)), lk, nm, {"health": read_source(sources, "health")})
    res = linked_rates(takers, min_cell=min_cell, level=level, suppression=suppression)
    t = res.table
    pub = t[t["status"] == "published"]
    moved = (
        pub.groupby("right", sort=False)["moved"]
        .agg(
            mean_moved="mean",
            mean_abs_moved=lambda v: float(np.nanmean(np.abs(v))),
            max_abs_moved=lambda v: float(np.nanmax(np.abs(v))) if len(v) else np.nan,
        )
        .reset_index()
    )
    n = res.n_suppressed  # the table's status says only 'suppressed'; the rules count primary and secondary
    typer.echo(
        f"{len(t):,} territory x right cells; suppressed: {n['primary']} primary, "
        f"{n['secondary']} secondary; how much the linkage-error adjustment moved the rates:"
    )
    echo_table(moved)
    write_table(t, out, inputs=inputs)
    if totals_out is not None:
        write_table(res.departements, totals_out, option="--totals-out", inputs=inputs)
    typer.echo(f"wrote {out}")
