"""The rows of a workbook's sheets written as XML text, byte for byte as openpyxl writes them.

openpyxl builds a Python object per cell and serialises each through ElementTree: about 2 CPU seconds for the
demo's 67,000 cells. The publication workbook is built by openpyxl without its data rows (the headers, one row
of styled empty cells that registers the columns' formats in the order openpyxl would, the notes sheet), saved,
and the data rows are then written here as text into each sheet's ``<sheetData>``: the same bytes as the
workbook openpyxl writes with every row (``tests/test_report_lang.py`` compares the two on unusual values).

The cells written here are those openpyxl 3.1 writes for ``None``, ``bool``, ``int``, ``float`` and plain text
(inline strings, ``t="inlineStr"``). Any other value (a date, bytes, a text openpyxl reads as a formula or an
error code, or with a control character it refuses) raises :class:`Unusual`, and the caller lets openpyxl write
the whole workbook.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["Unusual", "sheet_rows", "splice"]

_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")  # openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE
_ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"))


class Unusual(Exception):
    """A cell value that this writer does not write as openpyxl does (the caller falls back to openpyxl)."""


def _letters(n: int) -> list[str]:
    """Column letters A, B, ..., Z, AA... of the first ``n`` columns."""
    out = []
    for j in range(1, n + 1):
        s = ""
        while j:
            j, r = divmod(j - 1, 26)
            s = chr(65 + r) + s
        out.append(s)
    return out


def _text(v: str) -> str:
    """A text cell's ``<is>`` element: ElementTree's escaping, ``xml:space`` as openpyxl's ``whitespace``."""
    v = v[:32767]  # openpyxl truncates
    if (len(v) > 1 and v[0] == "=") or v in _ERROR_CODES or _ILLEGAL.search(v):
        raise Unusual(v[:0])  # a formula, an error code or a refused character: openpyxl's own handling
    esc = v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    stripped = v.strip()
    if stripped and stripped != v:
        return f'<is><t xml:space="preserve">{esc}</t></is>'
    return f"<is><t>{esc}</t></is>"


def _cell(ref: str, style: str, v: Any, safe_string: Callable[[Any], str]) -> str:
    """One ``<c>`` element as openpyxl's ``etree_write_cell`` writes it (``style``: ``' s="3"'`` or ``''``;
    ``safe_string``: openpyxl's, imported by the caller)."""
    t = type(v)
    if t is str:
        if v == "":
            return f'<c r="{ref}"{style} t="inlineStr" />'
        return f'<c r="{ref}"{style} t="inlineStr">{_text(v)}</c>'
    if t is float or t is int:
        text = safe_string(v)  # empty for NaN and infinities
        return f'<c r="{ref}"{style} t="n"><v>{text}</v></c>' if text else f'<c r="{ref}"{style} t="n"><v /></c>'
    if t is bool:
        return f'<c r="{ref}"{style} t="b"><v>{int(v)}</v></c>'
    if v is None:  # an empty cell: written only when styled
        return f'<c r="{ref}"{style} t="n" />' if style else ""
    raise Unusual(t.__name__)


def sheet_rows(rows: Sequence[Sequence[Any]], header_style: int, styles: Sequence[int]) -> tuple[str, str]:
    """The ``<sheetData>`` element and the dimension of a sheet: a header row, then ``rows``.

    Parameters
    ----------
    rows : sequence of sequences
        The rows of cell values, header first (plain Python values: ``None``, ``bool``, ``int``, ``float``, ``str``).
    header_style : int
        Style index of the header cells (0: none).
    styles : sequence of int
        Style index of each column's data cells (0: none).

    Returns
    -------
    sheet_data, dimension : str
        The element, and the ``ref`` of ``<dimension>`` (``A1:L5``).

    Raises
    ------
    Unusual
        A value this writer does not write as openpyxl does.
    """
    from openpyxl.compat import safe_string  # openpyxl's text of a number: 16 significant digits

    width = max(len(r) for r in rows)
    letters = _letters(width)
    head = f' s="{header_style}"' if header_style else ""
    attrs = [f' s="{s}"' if s else "" for s in styles]
    parts = ["<sheetData>"]
    for i, row in enumerate(rows, start=1):
        n = str(i)
        st = [head] * len(row) if i == 1 else attrs
        parts.append(f'<row r="{n}">')
        parts.append("".join([_cell(letters[j] + n, st[j], v, safe_string) for j, v in enumerate(row)]))
        parts.append("</row>")
    parts.append("</sheetData>")
    return "".join(parts), f"A1:{letters[-1]}{len(rows)}"


_SHEET_DATA = re.compile(rb"<sheetData>.*</sheetData>|<sheetData />", re.S)
_DIMENSION = re.compile(rb'<dimension ref="[^"]*" />')


def splice(data: bytes, sheets: Mapping[str, tuple[str, str]]) -> bytes:
    """The .xlsx ``data`` with the ``<sheetData>`` and dimension of the members named in ``sheets`` replaced."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:  # compressed once, by the caller's normalise_zip
        for info in src.infolist():
            member = src.read(info.filename)
            if info.filename in sheets:
                rows, ref = sheets[info.filename]
                member = _DIMENSION.sub(f'<dimension ref="{ref}" />'.encode(), member, count=1)
                start, end = _SHEET_DATA.search(member).span()  # type: ignore[union-attr]  # openpyxl writes one
                member = member[:start] + rows.encode() + member[end:]
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=info.date_time), member)
    return buf.getvalue()
