"""``nonrecours map``: one choropleth of a run's territory values, for one right (PNG or SVG)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..options import MapFormat, MapKind, check_option, choices_text
from ._common import handle_errors, overwrite_option

__all__ = ["register", "map_command"]


@handle_errors
def map_command(
    results: Path = typer.Argument(
        ...,
        help="A run's results folder or its publication/ folder (sae.csv, estimates_territory.csv, "
        "admin_rates.csv or follow_up_territories.csv, by --kind) or one such table.",
    ),
    right: str = typer.Option(..., "--right", help="Right to map (e.g. cmuc)."),
    contours: Path = typer.Option(
        ...,
        "--contours",
        help="QPV contours as GeoJSON (properties code_qp, departement; WGS84, or the CRS of a 'crs' member).",
    ),
    out: Path = typer.Option(..., "--out", help=f"Image to write: {choices_text(MapFormat)}, by its suffix."),
    departement: str | None = typer.Option(
        None,
        "--departement",
        help="Frame one département with its "
        "neighbours (default: the whole country, with the Paris and overseas "
        "insets).",
    ),
    outlines: Path | None = typer.Option(
        None,
        "--outlines",
        help="Département outlines as GeoJSON (property "
        "code, e.g. 93, 2A, 971; WGS84 or a 'crs' member), drawn instead of "
        "the shipped base map.",
    ),
    kind: str = typer.Option(
        "sae",
        "--kind",
        help=f"Values: {choices_text(MapKind)} (small-area estimates, direct "
        "estimates, administrative rates, change between years).",
    ),
    territories: Path | None = typer.Option(
        None,
        "--territories",
        help="Territories file (territory, urban_area, is_qpv) to draw the rest of each QPV's urban area around it.",
    ),
    lang: str = typer.Option("fr", "--lang", help="Language of the map's text: fr or en."),
    max_cv: float = typer.Option(0.3, "--max-cv", help="Small-area estimates with a larger CV are hatched."),
    overwrite: bool = overwrite_option("Replace an existing image (inputs never are)."),
) -> None:
    """Draw the map of one right's territory values (hatched: unreliable; grey: suppressed)."""
    from ..errors import InputError, OptionError, message
    from ..io import check_outputs, read_table, write_bytes
    from ..report.maps import TEXT, VALUE_FILES, choropleth, map_values, read_outlines, territory_shapes

    kind = check_option("--kind", kind, MapKind)
    fmt = check_option("--out", out.suffix.lower().lstrip("."), MapFormat)
    if lang not in TEXT:
        raise OptionError(message("unknown language", where="--lang", expected=" or ".join(TEXT), found=repr(lang)))
    inputs = [p for p in (results, contours, territories, outlines) if p is not None]
    check_outputs({"--out": out}, inputs, overwrite=overwrite, tables=())  # before any work
    table_path = results / VALUE_FILES[kind] if results.is_dir() else results
    if results.is_dir() and not table_path.is_file() and (results / "publication" / VALUE_FILES[kind]).is_file():
        table_path = results / "publication" / VALUE_FILES[kind]  # a study's results/: its publication/ tables
    if not table_path.is_file():
        raise InputError(
            message(
                f"no {VALUE_FILES[kind]} in the results folder",
                where="RESULTS",
                hint="give the table itself, or the --kind the run wrote",
            )
        )
    values = map_values(read_table(table_path, option="RESULTS"), kind, right, max_cv=max_cv)
    terr = read_table(territories, option="--territories") if territories is not None else None
    base = read_outlines(outlines) if outlines is not None else None
    image = choropleth(
        values,
        territory_shapes(contours, terr),
        kind=kind,
        right=right,
        departement=departement,
        lang=lang,
        fmt=fmt,
        max_cv=max_cv,
        outlines=base,
    )
    write_bytes(image, out, inputs=inputs)
    typer.echo(str(out))


def register(app: typer.Typer) -> None:
    app.command(
        "map", help="Map one right's territory values (PNG or SVG) over the QPV contours and the département outlines."
    )(map_command)
