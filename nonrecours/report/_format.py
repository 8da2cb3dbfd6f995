"""HTML helpers of the report: escaping, tables, images, publication marks.

Display only: these helpers turn values already in the result tables into
HTML; they compute no statistic. Numbers are formatted by
:mod:`nonrecours.report.format`, the one formatter of the report.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import i18n
from .format import DASH, cell, column_kind, is_missing

__all__ = ["esc", "img", "table", "frame_table", "flag_mark", "WIDE_COLUMNS"]


def esc(value: Any) -> str:
    """HTML-escaped text of a value."""
    return html.escape(str(value), quote=True)


def flag_mark(flag: Any) -> str:
    """The mark shown after an estimate for its publication flag."""
    return {"unreliable": " †", "suppressed": " ‡"}.get(str(flag), "")


def img(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


#: From this many columns a table is "wide": smaller type, headers wrapped, and a horizontal scroll of its own
#: (``div.nr-wide``) rather than a page wider than the screen.
WIDE_COLUMNS = 8


def table(
    rows: Sequence[Sequence[Any]],
    header: Sequence[str],
    *,
    classes: str = "",
    numeric_from: int = 1,
    caption: str | None = None,
) -> str:
    """An HTML table from already-formatted cells (escaped here).

    Columns from ``numeric_from`` on are right-aligned. Every table sits in a ``div.nr-wide`` that scrolls
    horizontally within the page when the screen is narrower than the table (a long hash, many columns); a
    table of :data:`WIDE_COLUMNS` columns or more gets the class ``wide`` too (smaller type, headers wrapped).
    """
    wide = len(header) >= WIDE_COLUMNS
    if wide:
        classes = (classes + " wide").strip()
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td class="{"num" if i >= numeric_from else "txt"}">{esc(c)}</td>' for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    out = f'<table class="{classes}">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="nr-wide">{out}</div>'


def _yes_no(v: Any, lang: str) -> str:
    """A boolean cell: ``oui``/``non`` in French, ``True``/``False`` in English."""
    if lang == "fr":
        return "oui" if bool(v) else "non"
    return str(bool(v))


def frame_table(
    df: pd.DataFrame,
    *,
    name: str | None = None,
    digits: int = 4,
    max_rows: int = 60,
    caption: str | None = None,
    lang: str = "en",
    values: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """A result table as an HTML table, each number formatted by what its column holds.

    Rates, changes, counts (:func:`~nonrecours.report.format.column_kind` of the column in
    table ``name``) are shown as everywhere in the report; other numbers with ``digits``
    significant digits. Headers are the columns' labels in ``lang``
    (:data:`~nonrecours.report.i18n.COLUMN_LABELS`, or ``labels``); ``values`` translates
    text cells (e.g. ``{"direct": "directe"}``).
    """
    values = values or {}
    labels = labels or {}
    kinds = [column_kind(str(c), name) for c in df.columns]
    rows = []
    for rec in df.head(max_rows).itertuples(index=False):
        rows.append(
            [
                _yes_no(v, lang)
                if isinstance(v, (bool, np.bool_))
                else cell(v, kind, lang, digits)
                if isinstance(v, (int, float, np.number))
                else (DASH if is_missing(v) else values.get(str(v), v))
                for v, kind in zip(rec, kinds)
            ]
        )
    note = caption
    if len(df) > max_rows:
        more = (
            f"(les {max_rows} premières lignes sur {len(df)})"
            if lang == "fr"
            else f"(first {max_rows} of {len(df)} rows)"
        )
        note = (caption + " " if caption else "") + more
    numeric = [kind is not None or pd.api.types.is_numeric_dtype(df[c]) for c, kind in zip(df.columns, kinds)]
    first = numeric.index(True) if True in numeric else len(numeric)  # text columns before it stay left-aligned
    return table(
        rows, [labels.get(str(c)) or i18n.label(c, lang) for c in df.columns], caption=note, numeric_from=max(first, 1)
    )
