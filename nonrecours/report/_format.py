"""Formatting helpers of the HTML report: numbers, intervals, tables, images.

Display only: these helpers turn values already in the result tables into
text; they compute no statistic.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import i18n

__all__ = ["esc", "pct", "num", "ci", "img", "table", "is_missing", "flag_mark"]


def esc(value: Any) -> str:
    """HTML-escaped text of a value."""
    return html.escape(str(value), quote=True)


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' missing values."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def pct(value: Any, digits: int = 1, lang: str = "en") -> str:
    """A proportion as a percentage: ``0.6531 -> '65.3 %'`` (see :func:`nonrecours.report.i18n.pct`)."""
    return i18n.pct(value, digits, lang)


def num(value: Any, digits: int = 3, lang: str = "en") -> str:
    """A number with ``digits`` significant digits, integers in full (see :func:`nonrecours.report.i18n.num`)."""
    return i18n.num(value, digits, lang)


def ci(low: Any, high: Any, digits: int = 1, lang: str = "en") -> str:
    """A confidence interval in percentage points: ``[61.0, 69.4]`` (see :func:`nonrecours.report.i18n.ci`)."""
    return i18n.ci(low, high, digits, lang)


def flag_mark(flag: Any) -> str:
    """The mark shown after an estimate for its publication flag."""
    return {"unreliable": " †", "suppressed": " ‡"}.get(str(flag), "")


def img(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def table(rows: Sequence[Sequence[Any]], header: Sequence[str], *, classes: str = "",
          numeric_from: int = 1, caption: str | None = None) -> str:
    """An HTML table from already-formatted cells (escaped here).

    Columns from ``numeric_from`` on are right-aligned.
    """
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td class="{"num" if i >= numeric_from else "txt"}">{esc(c)}</td>'
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<table class="{classes}">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _yes_no(v: Any, lang: str) -> str:
    """A boolean cell: ``oui``/``non`` in French, ``True``/``False`` in English."""
    if lang == "fr":
        return "oui" if bool(v) else "non"
    return str(bool(v))


def frame_table(df: pd.DataFrame, *, digits: int = 4, max_rows: int = 60, caption: str | None = None,
                lang: str = "en", values: dict[str, str] | None = None) -> str:
    """A DataFrame as an HTML table, numbers shown with ``digits`` significant digits.

    Headers are the columns' labels in ``lang`` (:data:`~nonrecours.report.i18n.COLUMN_LABELS`);
    ``values`` translates text cells (e.g. ``{"direct": "directe"}``).
    """
    values = values or {}
    rows = []
    for rec in df.head(max_rows).itertuples(index=False):
        rows.append([_yes_no(v, lang) if isinstance(v, (bool, np.bool_)) else
                     num(v, digits, lang) if isinstance(v, (int, float, np.number)) else
                     ("–" if is_missing(v) else values.get(str(v), v)) for v in rec])
    note = caption
    if len(df) > max_rows:
        more = (f"(les {max_rows} premières lignes sur {len(df)})" if lang == "fr"
                else f"(first {max_rows} of {len(df)} rows)")
        note = (caption + " " if caption else "") + more
    return table(rows, [i18n.label(c, lang) for c in df.columns], caption=note)
