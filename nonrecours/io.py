"""Reading and writing tables by file suffix, atomically.

Reading
-------
:func:`read_table` reads what statisticians actually have on their desks:

- CSV, with its separator (``,``, ``;`` or tab), decimal mark (``.`` or
  ``,``) and encoding (UTF-8 with or without BOM, else cp1252/latin-1)
  detected, or set by :class:`ReadOptions` (the ``--sep``, ``--decimal`` and
  ``--encoding`` options of the command line, the ``[input]`` section of a
  study file). A file that could be read two ways is refused with an error
  naming the option that settles it;
- Parquet (pyarrow), JSON records;
- Excel ``.xlsx`` (openpyxl; ``--sheet``), Stata ``.dta``, SPSS ``.sav``, SAS
  ``.sas7bdat`` and ``.xpt`` (pyreadstat) — the optional ``files`` extra,
  whose absence is named in the error.

Whatever the format, code columns (:data:`STRING_COLUMNS`) come back as text
and empty cells as missing values, so the same table read from any of these
formats gives the same DataFrame.

Writing
-------
Outputs are written to a temporary file in the target folder and renamed,
so that an error never leaves a partial file; an output that would replace
one of the command's inputs is refused. Tables go to CSV (optionally with
``;`` and decimal commas), Parquet, JSON or Excel ``.xlsx``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError, OptionError, OutputError, message
from .options import DecimalMark, Separator, choices

if TYPE_CHECKING:  # pandas is imported where a table is read or written (fast command line)
    import pandas as pd

__all__ = [
    "read_table",
    "write_table",
    "write_json",
    "write_text",
    "write_bytes",
    "as_read_back",
    "ReadOptions",
    "WriteOptions",
    "check_output",
    "check_outputs",
    "check_table_output",
    "TABLE_SUFFIXES",
    "OUTPUT_SUFFIXES",
    "STRING_COLUMNS",
    "SEPARATORS",
    "DECIMALS",
    "NA_MARKERS",
    "check_writable",
    "detect_encoding",
    "detect_csv",
    "normalise_zip",
]

#: Suffixes read; the statistical-package formats need the optional ``files`` extra.
TABLE_SUFFIXES = (".csv", ".parquet", ".json", ".xlsx", ".dta", ".sav", ".sas7bdat", ".xpt")
#: Suffixes written.
OUTPUT_SUFFIXES = (".csv", ".parquet", ".json", ".xlsx")
#: Column separators recognised in CSV files (``tab`` is accepted for a tab on the command line).
SEPARATORS = choices(Separator)
#: Decimal marks recognised in CSV files.
DECIMALS = choices(DecimalMark)

#: Columns always read as text (codes with leading zeros such as département "01").
STRING_COLUMNS = (
    "id",
    "territory",
    "departement",
    "benefit",
    "age_band",
    "household",
    "housing",
    "stratum",
    "psu",
    "ssu",
    "status",
    "right",
    "domain",
    "area",
)

#: Missing-value markers read as missing (besides the empty cell) where they cannot be a value: R's ``write.csv``
#: writes ``NA``, SAS and Stata exports write ``.``.
NA_MARKERS = ("NA", ".")

_FILES_HINT = "pip install 'nonrecours[files]' (openpyxl and pyreadstat)"
_SNIFF_LINES = 200


def _sep_name(sep: str) -> str:
    return "tab" if sep == "\t" else repr(sep)


def _check_sep(sep: str | None, option: str) -> str | None:
    if sep is None:
        return None
    s = "\t" if sep.strip().lower() in ("tab", "\\t") or sep == "\t" else sep.strip()
    if s not in SEPARATORS:
        raise OptionError(
            message("unknown column separator", where=option, expected="',', ';' or tab", found=repr(sep))
        )
    return s


def _check_na(na: tuple[str, ...] | str | None) -> tuple[str, ...]:
    if na is None:
        return NA_MARKERS
    items = na.split(",") if isinstance(na, str) else list(na)
    if not all(isinstance(m, str) for m in items):
        raise OptionError(
            message(
                "missing-value markers are text",
                where="parameter na",
                expected="a comma-separated list such as 'NA,.'",
                found=repr(na),
            )
        )
    markers = tuple(dict.fromkeys(m.strip() for m in items if m.strip()))
    numbers = [m for m in markers if _is_number(m)]
    if numbers:
        raise OptionError(
            message(
                "a missing-value marker is a number",
                where="parameter na",
                expected="text markers such as NA or '.'",
                found=", ".join(map(repr, numbers)),
                hint="a number is a value: recode it to an empty cell before reading",
            )
        )
    return markers


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ReadOptions:
    """How to read an input table; ``None`` means detect.

    Parameters
    ----------
    sep : {",", ";", "\\t"} or None
        CSV column separator (``"tab"`` is accepted for a tab).
    decimal : {".", ","} or None
        CSV decimal mark.
    encoding : str or None
        Text encoding of a CSV (any Python codec name, e.g. ``utf-8``,
        ``cp1252``, ``latin-1``); also passed to pyreadstat for old
        Stata/SAS files.
    sheet : str or None
        Excel sheet: its name, or its position counted from 1 (default: the
        first sheet).
    na : tuple of str or str
        Missing-value markers besides the empty cell (a comma-separated
        string is split): by default :data:`NA_MARKERS`, ``NA`` (R's
        ``write.csv``) and ``.`` (SAS and Stata exports). A marker is read as
        missing only in a column it cannot be a value of: a column whose
        other cells are all numbers (CSV, Excel). Text columns keep it as
        text. ``()`` reads only empty cells as missing; a marker that is a
        number (``-99``) is refused, being a value.

    Examples
    --------
    >>> ReadOptions(sep="tab").sep == "\\t"
    True
    """

    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    na: tuple[str, ...] | str | None = None  # None: NA_MARKERS

    @property
    def markers(self) -> tuple[str, ...]:
        """The missing-value markers as checked in ``__post_init__`` (always a tuple there)."""
        return self.na if isinstance(self.na, tuple) else ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sep", _check_sep(self.sep, "parameter sep"))
        object.__setattr__(self, "na", _check_na(self.na))
        if self.decimal is not None and self.decimal.strip() not in DECIMALS:
            raise OptionError(
                message(
                    "unknown decimal mark", where="parameter decimal", expected="'.' or ','", found=repr(self.decimal)
                )
            )
        if self.decimal is not None:
            object.__setattr__(self, "decimal", self.decimal.strip())
        if self.encoding is not None:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise OptionError(
                    message(
                        "unknown encoding",
                        where="parameter encoding",
                        expected="a codec name such as utf-8, cp1252 or latin-1",
                        found=repr(self.encoding),
                    )
                ) from None


@dataclass(frozen=True)
class WriteOptions:
    """How to write a CSV output: separator, decimal mark, encoding.

    The defaults give plain international CSV; ``WriteOptions(";", ",")``
    gives the CSV a French spreadsheet opens as numbers. Encoding
    ``utf-8-sig`` adds the BOM some spreadsheets need to recognise UTF-8.
    """

    sep: str = ","
    decimal: str = "."
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sep", _check_sep(self.sep, "parameter sep"))
        if self.decimal not in DECIMALS:
            raise OptionError(
                message(
                    "unknown decimal mark", where="parameter decimal", expected="'.' or ','", found=repr(self.decimal)
                )
            )
        if self.sep == self.decimal:
            raise OptionError(
                message(
                    "the separator and the decimal mark are the same",
                    where="parameters sep / decimal",
                    found=repr(self.sep),
                    hint="use the separator ';' with the decimal mark ','",
                )
            )

    @classmethod
    def like(
        cls,
        read: ReadOptions | None = None,
        *,
        out_sep: str | None = None,
        out_decimal: str | None = None,
        out_encoding: str | None = None,
    ) -> WriteOptions:
        """The CSV style of outputs: as the input's options (``read``), each overridden by the ``out_`` ones.

        What ``read`` leaves to detection defaults to ``,``, ``.`` and UTF-8. A
        separator given alone brings a decimal mark that differs from it
        (``out_sep=","`` after a French input writes ``.``), and a decimal comma
        given alone the separator ``;``: ``like(out_decimal=",")`` is the CSV a
        French spreadsheet opens.

        Examples
        --------
        >>> w = WriteOptions.like(ReadOptions(sep=","), out_decimal=",")
        >>> (w.sep, w.decimal, w.encoding)
        (';', ',', 'utf-8')
        """
        read = read or ReadOptions()
        sep = _check_sep(out_sep, "parameter out_sep")
        if out_decimal is not None and out_decimal.strip() not in DECIMALS:
            raise OptionError(
                message(
                    "unknown decimal mark",
                    where="parameter out_decimal",
                    expected="'.' or ','",
                    found=repr(out_decimal),
                )
            )
        decimal = None if out_decimal is None else out_decimal.strip()
        if sep is not None and decimal is not None and sep == decimal:
            raise OptionError(
                message(
                    "the separator and the decimal mark are the same",
                    where="parameter out_sep / parameter out_decimal",
                    found=repr(sep),
                    hint="use the separator ';' with the decimal mark ','",
                )
            )
        if sep is None:
            sep = read.sep or ","
            if sep == decimal:
                sep = ";"
        if decimal is None:
            decimal = read.decimal or "."
            if decimal == sep:
                decimal = "."
        if out_encoding is not None:
            import codecs

            try:
                codecs.lookup(out_encoding)
            except LookupError:
                raise OptionError(
                    message(
                        "unknown encoding",
                        where="parameter out_encoding",
                        expected="a codec name such as utf-8, utf-8-sig, cp1252 or latin-1",
                        found=repr(out_encoding),
                    )
                ) from None
        return cls(sep=sep, decimal=decimal, encoding=out_encoding or read.encoding or "utf-8")


def _suffix(path: Path, option: str, allowed: tuple[str, ...] = TABLE_SUFFIXES) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise OptionError(
            message(
                "unsupported file type",
                where=f"{option} {str(path)!r}",
                expected="a name ending in " + ", ".join(allowed),
                found=repr(path.suffix or "no suffix"),
            )
        )
    return suffix


# --------------------------------------------------------------------------- detection


def detect_encoding(raw: bytes) -> str:
    """The encoding of a text file's bytes: ``utf-8-sig`` (BOM), ``utf-8``, else ``cp1252`` or ``latin-1``.

    Bytes that decode as UTF-8 are UTF-8 (a cp1252 file with accented letters
    almost never does); otherwise cp1252, the encoding of French Windows
    spreadsheets, unless a byte undefined in cp1252 occurs, then latin-1.

    Examples
    --------
    >>> detect_encoding("Évry".encode("cp1252")), detect_encoding("Évry".encode("utf-8"))
    ('cp1252', 'utf-8')
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        raw.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


_NUM_DOT = re.compile(r"^\s*[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_NUM_COMMA = re.compile(r"^\s*[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?\s*$")
_INT = re.compile(r"^\s*[+-]?\d+\s*$")


def _fields(lines: list[str], sep: str) -> list[int]:
    return [len(row) for row in csv.reader(lines, delimiter=sep) if row]


def detect_csv(
    text: str, *, sep: str | None = None, decimal: str | None = None, where: str = "input"
) -> tuple[str, str]:
    """Separator and decimal mark of a CSV from the start of its text.

    The separator is the one of ``,``, ``;``, tab that splits the header into
    several columns and every following line into as many; the decimal mark
    is ``,`` when the non-code columns hold numbers written with a comma and
    none with a point (only with a ``;`` or tab separator). A text that
    admits two readings raises :class:`~nonrecours.errors.InputError`
    naming ``--sep`` or ``--decimal``.

    Examples
    --------
    >>> detect_csv("id;w\\n1;2,5\\n")
    (';', ',')
    >>> detect_csv("id,w\\n1,2.5\\n")
    (',', '.')
    """
    lines = text.splitlines()[:_SNIFF_LINES]
    lines = [ln for ln in lines if ln.strip()]
    if sep is None:
        header = lines[:1]
        consistent, counts = [], {}
        for cand in SEPARATORS:
            n = _fields(lines, cand)
            counts[cand] = n[0] if n else 0
            if n and n[0] > 1 and all(k == n[0] for k in n):
                consistent.append(cand)
        if len(consistent) > 1:
            raise InputError(
                message(
                    "cannot tell the column separator",
                    where=where,
                    found=" and ".join(map(_sep_name, consistent)) + " both split every line "
                    "into the same number of columns",
                    hint="give the separator: parameter sep, e.g. ';' (sep = \";\" in the study file's [input])",
                )
            )
        if consistent:
            sep = consistent[0]
        elif header and max(counts.values()) <= 1:
            sep = ","  # one column
            if len(lines) > 1 and any(n > 1 for c in SEPARATORS for n in _fields(lines[1:], c)):
                sep = None
        else:
            sep = None
        if sep is None:
            raise InputError(
                message(
                    "cannot tell the column separator: no separator splits every line into "
                    "as many columns as the header",
                    where=where,
                    hint="check the file, or give parameter sep (',', ';' or tab) and parameter decimal",
                )
            )
    if decimal is None:
        decimal = "."
        if sep != "," and len(lines) > 1:
            rows = list(csv.reader(lines, delimiter=sep))
            header, body = rows[0], rows[1:]
            dot = comma = False
            for j, name in enumerate(header):
                if name.strip() in STRING_COLUMNS:
                    continue
                values = [r[j] for r in body if j < len(r) and r[j].strip()]
                if not values:
                    continue
                if any(_NUM_COMMA.match(v) for v in values) and all(
                    _NUM_COMMA.match(v) or _INT.match(v) for v in values
                ):
                    comma = True
                elif any(_NUM_DOT.match(v) for v in values) and all(_NUM_DOT.match(v) or _INT.match(v) for v in values):
                    dot = True
            if comma and dot:
                raise InputError(
                    message(
                        "cannot tell the decimal mark: some columns use commas, others points",
                        where=where,
                        hint="give parameter decimal, ',' or '.' (decimal in the study file's [input])",
                    )
                )
            decimal = "," if comma else "."
    return sep, decimal


# --------------------------------------------------------------------------- reading


def _text_codes(df: pd.DataFrame, text: tuple[str, ...] = STRING_COLUMNS) -> pd.DataFrame:
    """Code columns as text (``1.0`` -> ``'1'``), empty strings as missing: every format gives the same frame."""
    import pandas as pd

    for c in df.columns:
        s = df[c]
        if c in text and not (pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s)):
            vals = s.to_numpy(dtype=object)
            miss = pd.isna(s).to_numpy()
            out = [
                None if m else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
                for v, m in zip(vals, miss)
            ]
            df[c] = pd.Series(out, index=df.index, dtype="str")
        elif pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s):
            df[c] = s.replace("", None) if (s == "").any() else s
    return df


def _integral_floats(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns without missing values whose values are all whole numbers become int64.

    Stata, SPSS and SAS store every number as a double; a CSV of the same
    table reads those columns as integers.
    """
    import numpy as np

    for c in df.columns:
        s = df[c]
        if s.dtype.kind == "f":
            v = s.to_numpy()
            if len(v) and not np.isnan(v).any() and np.all(v == np.round(v)) and np.all(np.abs(v) < 2**53):
                df[c] = v.astype("int64")
    return df


def _read_csv(
    p: Path, opts: ReadOptions, where: str, text: tuple[str, ...], columns: Iterable[str] | None = None
) -> pd.DataFrame:
    return _parse_csv(p.read_bytes(), opts, where, text, columns)


def _parse_csv(
    raw: bytes, opts: ReadOptions, where: str, text: tuple[str, ...], columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """:func:`_read_csv` on the file's bytes (:func:`as_read_back` reads a table written in memory)."""
    import pandas as pd

    encoding = opts.encoding or detect_encoding(raw)
    if encoding.replace("-", "").replace("_", "").lower() in ("utf8",) and raw.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    try:
        head = raw[: 1 << 16].decode(encoding, errors="strict" if len(raw) <= 1 << 16 else "ignore")
        if opts.encoding is not None:
            raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1  # where, by line number (the header is line 1)
        raise InputError(
            message(
                "the file is not in the encoding given",
                where=where,
                expected=encoding,
                found=f"byte {raw[exc.start]:#04x} on line {line}",
                hint="try parameter encoding cp1252 or utf-8, or leave it out to detect it",
            )
        ) from None
    if not head.strip():
        raise InputError(message("cannot read table", where=where, found="an empty file"))
    if len(raw) > 1 << 16 and "\n" in head:
        head = head[: head.rindex("\n")]  # the last line of the sample may be cut
    sep, decimal = detect_csv(head, sep=opts.sep, decimal=opts.decimal, where=where)
    header = next(csv.reader(head.splitlines()[:1], delimiter=sep))
    usecols = None if columns is None else [c for c in header if c in set(columns)]
    dtype = {c: str for c in header if c in text and (usecols is None or c in usecols)}
    df = pd.read_csv(
        io.BytesIO(raw),
        sep=sep,
        decimal=decimal,
        encoding=encoding,
        dtype=dtype,
        keep_default_na=False,
        na_values=[""],
        usecols=usecols,
    )
    marked = _marked_columns(df, opts.markers, text)
    if marked:  # those columns read again by the same parser with the markers missing: numbers parse as without them
        again = pd.read_csv(
            io.BytesIO(raw),
            sep=sep,
            decimal=decimal,
            encoding=encoding,
            usecols=marked,
            keep_default_na=False,
            na_values={c: ["", *opts.markers] for c in marked},
        )
        for c in marked:
            if pd.api.types.is_numeric_dtype(again[c]):
                df[c] = again[c]
    return df


def _marked_columns(df: pd.DataFrame, markers: tuple[str, ...], text: tuple[str, ...]) -> list[str]:
    """Text columns (other than code columns) holding a missing-value marker: candidates for numbers."""
    import pandas as pd

    if not markers:
        return []
    return [
        c
        for c in df.columns
        if c not in text and not pd.api.types.is_numeric_dtype(df[c]) and df[c].isin(markers).any()
    ]


def _markers_missing(df: pd.DataFrame, markers: tuple[str, ...], text: tuple[str, ...]) -> pd.DataFrame:
    """Columns whose cells are numbers or markers become numeric, markers missing (Excel, whose cells are typed)."""
    import pandas as pd

    for c in _marked_columns(df, markers, text):
        s = df[c].mask(df[c].isin(markers))
        num = pd.to_numeric(s, errors="coerce")
        if (num.notna() == s.notna()).all():
            df[c] = num.astype(float)
    return df


def _sheet(sheet: str | None) -> str | int:
    if sheet is None:
        return 0
    s = sheet.strip()
    if s.isdigit():
        if int(s) < 1:
            raise OptionError(message("sheet positions count from 1", where="parameter sheet", found=repr(sheet)))
        return int(s) - 1
    return s


def _read_excel(p: Path, opts: ReadOptions, where: str, text: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd

    try:
        import openpyxl
    except ImportError:
        raise OptionError(message("reading Excel files needs openpyxl", where=where, hint=_FILES_HINT)) from None
    sheet = _sheet(opts.sheet)
    wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    names = wb.sheetnames
    wb.close()
    if (isinstance(sheet, int) and sheet >= len(names)) or (isinstance(sheet, str) and sheet not in names):
        raise OptionError(
            message(
                "no such sheet",
                where=f"parameter sheet for {where}",
                expected="a name among " + ", ".join(map(repr, names)) + f" or a position 1 to {len(names)}",
                found=repr(opts.sheet),
            )
        )
    df = pd.read_excel(
        p, sheet_name=sheet, engine="openpyxl", keep_default_na=False, na_values=[""], dtype={c: str for c in text}
    )
    return _markers_missing(_text_codes(df, text), opts.markers, text)


_STAT_READERS = {".dta": "read_dta", ".sav": "read_sav", ".sas7bdat": "read_sas7bdat", ".xpt": "read_xport"}


def _read_stat(p: Path, suffix: str, opts: ReadOptions, where: str, text: tuple[str, ...]) -> pd.DataFrame:
    try:
        import pyreadstat
    except ImportError:
        raise OptionError(message(f"reading {suffix} files needs pyreadstat", where=where, hint=_FILES_HINT)) from None
    kwargs = {"encoding": opts.encoding} if opts.encoding and suffix in (".dta", ".sas7bdat", ".xpt", ".sav") else {}
    try:
        df, _meta = getattr(pyreadstat, _STAT_READERS[suffix])(str(p), **kwargs)
    except pyreadstat.ReadstatError as exc:
        raise InputError(message("cannot read table", where=where, found=str(exc).splitlines()[0])) from None
    return _integral_floats(_text_codes(df, text))


def read_table(
    path: str | os.PathLike,
    *,
    option: str = "input",
    read: ReadOptions | None = None,
    text_columns: Iterable[str] = (),
    columns: Iterable[str] | None = None,
    categorical: Iterable[str] = (),
) -> pd.DataFrame:
    """Read a table from CSV, Parquet, JSON records, Excel, Stata, SPSS or SAS; code columns as text.

    Parameters
    ----------
    path : path
        The file; its suffix says its format (:data:`TABLE_SUFFIXES`).
    option : str
        The option or argument that named it, for error messages.
    read : ReadOptions, optional
        Separator, decimal mark, encoding (CSV) and sheet (Excel); detected
        when not given.
    text_columns : iterable of str
        Columns read as text besides :data:`STRING_COLUMNS`.
    columns : iterable of str, optional
        Read only those of these columns the file has (CSV and Parquet; the
        caller's column check names any that is missing).
    categorical : iterable of str
        Code columns read from Parquet as categoricals of text: one integer
        code per row instead of one string (national files); CSV reads them
        as text. Parquet dictionary columns stay categorical anyway.

    Returns
    -------
    DataFrame
        Empty cells are missing values (NaN), which in right columns means
        'not eligible'.

    Raises
    ------
    InputError
        File missing or unreadable, or a CSV whose separator or decimal
        mark is ambiguous (the message names ``--sep`` / ``--decimal``).
    OptionError
        Unsupported suffix, or the optional reader (openpyxl, pyreadstat,
        pyarrow) is not installed.
    """
    import pandas as pd

    opts = read or ReadOptions()
    text = STRING_COLUMNS + tuple(c for c in text_columns if c not in STRING_COLUMNS)
    categorical = [c for c in categorical if c in text]
    p = Path(path)
    suffix = _suffix(p, option)
    where = f"{option} {str(p)!r}"
    if not p.is_file():
        raise InputError(message("file not found", where=where, hint="check the path"))
    try:
        if suffix == ".csv":
            return _read_csv(p, opts, where, text, columns)
        if suffix == ".parquet":
            try:
                import pyarrow.parquet as pq

                names = set(pq.read_schema(p).names)
                keep = None if columns is None else [c for c in dict.fromkeys(columns) if c in names]
                dictionary = [c for c in categorical if c in names and (keep is None or c in keep)]
                if dictionary:
                    return pd.read_parquet(p, columns=keep, read_dictionary=dictionary)
                return pd.read_parquet(p, columns=keep)
            except ImportError:
                raise OptionError(
                    message("reading Parquet needs pyarrow", where=where, hint="pip install 'nonrecours[parquet]'")
                ) from None
        if suffix == ".xlsx":
            return _read_excel(p, opts, where, text)
        if suffix in _STAT_READERS:
            return _read_stat(p, suffix, opts, where, text)
        return pd.read_json(p, orient="records", dtype={c: str for c in text})
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        ValueError,
        zipfile.BadZipFile,
        KeyError,
    ) as exc:
        if isinstance(exc, (InputError, OptionError)):
            raise
        found = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = (
            "check the separator and decimal mark (parameter sep, parameter decimal) and the encoding "
            "(parameter encoding)"
            if suffix == ".csv"
            else None
        )
        raise InputError(message("cannot read table", where=where, found=found, hint=hint)) from None


# --------------------------------------------------------------------------- writing


def check_output(
    path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *, option: str = "parameter path"
) -> Path:
    """Refuse an output path that is one of the inputs; return it as a Path."""
    p = Path(path)
    for src in inputs:
        if src is None:
            continue
        s = Path(src)
        if s.exists() and p.exists() and os.path.samefile(s, p):
            raise OutputError(
                message(
                    "the output would overwrite an input file",
                    where=f"{option} {str(p)!r}",
                    hint="choose another output name",
                )
            )
        if not s.exists() and s.resolve() == p.resolve():
            raise OutputError(
                message(
                    "the output would overwrite an input file",
                    where=f"{option} {str(p)!r}",
                    hint="choose another output name",
                )
            )
    if p.parent and not p.parent.is_dir():
        bad = next((a for a in p.parents if a.exists()), None)  # a file on the way ('out.csv/x.csv')
        if bad is not None and not bad.is_dir():
            raise OutputError(
                message(
                    "the output's folder is a file",
                    where=f"{option} {str(p)!r}",
                    found=f"{str(bad)!r} is a file",
                    hint="give a path inside a folder",
                )
            )
        raise OutputError(
            message(
                "output folder does not exist", where=f"{option} {str(p)!r}", hint=f"create {str(p.parent)!r} first"
            )
        )
    check_writable(p.parent, option=option, path=p)
    return p


def check_writable(
    folder: str | os.PathLike, *, option: str = "parameter path", path: str | os.PathLike | None = None
) -> None:
    """Refuse, before any work, an output folder the process cannot write in (read-only folder or file system).

    Outputs are written to a temporary file in their folder and renamed
    (atomic), so the folder itself must be writable, even to replace a
    writable file. ``os.access`` answers for the real user, as the write will
    (root passes permission bits, not a read-only file system).
    """
    folder = Path(folder) if str(folder) else Path(".")
    where = f"{option} {str(path if path is not None else folder)!r}"
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(
            message(
                "the output folder is not writable",
                where=where,
                found=f"{str(folder)!r} read-only",
                hint="choose a folder you can write in, or make it writable (chmod u+w)",
            )
        )


def check_table_output(
    path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *, option: str = "parameter path"
) -> Path:
    """:func:`check_output` for a table, and its suffix (.csv, .parquet, .json, .xlsx) too.

    Commands that write several tables call it on each before any work, so that
    a bad second output never leaves the first one written.
    """
    p = check_output(path, inputs, option=option)
    _suffix(p, option, OUTPUT_SUFFIXES)
    return p


def check_outputs(
    outputs: Mapping[str, str | os.PathLike | None],
    inputs: Iterable[str | os.PathLike | None] = (),
    *,
    overwrite: bool = False,
    tables: Iterable[str] | None = None,
) -> dict[str, Path]:
    """Check every output of a command before any work: the one rule of all commands.

    Parameters
    ----------
    outputs : mapping
        Output path by the option that names it (``{"--out": path, ...}``);
        ``None`` for an output not asked for.
    inputs : iterable of paths
        The command's inputs: never overwritten, with or without ``overwrite``.
    overwrite : bool
        Allow replacing existing output files (the ``--overwrite`` option).
    tables : iterable of str, optional
        Options whose output is a table (suffix .csv, .parquet, .json or .xlsx);
        by default every output.

    Returns
    -------
    dict of str to Path
        The outputs asked for, by option.

    Raises
    ------
    OutputError
        An output is an input, lies in a folder that does not exist, is a
        folder, already exists (without ``overwrite``), or two outputs share a path.
    OptionError
        A table output has an unsupported suffix.

    Examples
    --------
    >>> check_outputs({"--out": "a.csv", "--totals-out": "./a.csv"})
    Traceback (most recent call last):
    ...
    nonrecours.errors.OutputError: --out and --totals-out: two outputs with the same path; found 'a.csv'. Hint: give each output its own name.
    """  # noqa: E501 - the expected error of a doctest is one line
    given = [i for i in inputs if i is not None]
    asked = {opt: Path(p) for opt, p in outputs.items() if p is not None}
    table_opts = set(asked) if tables is None else set(tables)
    seen: dict[Path, str] = {}
    for opt, p in asked.items():
        key = Path(os.path.abspath(p))
        if key in seen:
            raise OutputError(
                message(
                    "two outputs with the same path",
                    where=f"{seen[key]} and {opt}",
                    found=repr(str(p)),
                    hint="give each output its own name",
                )
            )
        seen[key] = opt
    for opt, p in asked.items():
        check_output(p, given, option=opt)
        if opt in table_opts:
            _suffix(p, opt, OUTPUT_SUFFIXES)
        if p.is_dir():
            raise OutputError(message("the output is a folder", where=f"{opt} {str(p)!r}", hint="give a file name"))
        if p.exists() and not overwrite:
            raise OutputError(
                message(
                    "the output file already exists",
                    where=f"{opt} {str(p)!r}",
                    hint="choose another name, or set parameter overwrite to replace it",
                )
            )
    return asked


def _atomic(path: Path, write) -> None:
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as exc:  # checked before the work (check_output); a folder changed since lands here
        raise OutputError(
            message(
                "cannot write in the output folder",
                where=repr(str(path)),
                found=exc.strerror or type(exc).__name__,
                hint="choose a folder you can write in",
            )
        ) from None
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def normalise_zip(data: bytes) -> bytes:
    """A zip archive (an .xlsx) with fixed member timestamps, so that the same workbook gives the same bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the time of saving
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            dst.writestr(fixed, data)
    return buf.getvalue()


def _cell(v: Any) -> Any:
    """A pandas/numpy value as an openpyxl cell value (missing -> empty cell)."""
    import pandas as pd

    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    return v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v


def excel_bytes(sheets: dict[str, pd.DataFrame], *, option: str = "parameter path") -> bytes:
    """An .xlsx workbook with one sheet per table (plain cells, no styling), reproducible to the byte."""
    try:
        import openpyxl
    except ImportError:
        raise OptionError(message("writing Excel files needs openpyxl", where=option, hint=_FILES_HINT)) from None
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, df in sheets.items():
        ws = wb.create_sheet(name[:31])
        ws.append([str(c) for c in df.columns])
        for row in df.itertuples(index=False):
            ws.append([_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return normalise_zip(buf.getvalue())


def write_table(
    df: pd.DataFrame,
    path: str | os.PathLike,
    *,
    option: str = "parameter path",
    inputs: Iterable[str | os.PathLike] = (),
    csv_style: WriteOptions | None = None,
) -> Path:
    """Write ``df`` as CSV, Parquet, JSON (records) or Excel by suffix, atomically.

    ``csv_style`` sets the separator, decimal mark and encoding of a CSV
    (default: ``,``, ``.``, UTF-8).
    """
    p = check_output(path, inputs, option=option)
    suffix = _suffix(p, option, OUTPUT_SUFFIXES)
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise OptionError(
                message(
                    "writing Parquet needs pyarrow",
                    where=f"{option} {str(p)!r}",
                    hint="pip install 'nonrecours[parquet]'",
                )
            ) from None
        _atomic(p, lambda t: df.to_parquet(t, index=False))
    elif suffix == ".csv":
        data = _csv_bytes(df, csv_style or WriteOptions())
        _atomic(p, lambda t: Path(t).write_bytes(data))
    elif suffix == ".xlsx":
        data = excel_bytes({p.stem: df}, option=f"{option} {str(p)!r}")
        _atomic(p, lambda t: Path(t).write_bytes(data))
    else:
        _atomic(p, lambda t: df.to_json(t, orient="records", indent=1, double_precision=15))
    return p


def _csv_bytes(df: pd.DataFrame, style: WriteOptions) -> bytes:
    """The bytes :func:`write_table` writes for ``df`` as CSV."""
    try:
        text = df.to_csv(index=False, lineterminator="\n", sep=style.sep, decimal=style.decimal)
        return text.encode(style.encoding)
    except UnicodeEncodeError:
        raise OptionError(
            message(
                "the table has characters the output encoding cannot hold",
                where=f"parameter encoding {style.encoding!r}",
                hint="use the encoding utf-8 or utf-8-sig",
            )
        ) from None


def as_read_back(df: pd.DataFrame, *, option: str = "output") -> pd.DataFrame:
    """``df`` as :func:`read_table` reads it back once :func:`write_table` has written it as CSV (default style),
    without a file: the same values and dtypes (a run's report is rendered from its tables read back; what is
    drawn from them before they are written must see the same values).

    Examples
    --------
    >>> import pandas as pd
    >>> back = as_read_back(pd.DataFrame({"territory": [1, 2], "rate": [0.5, None]}))
    >>> back["territory"].tolist(), back["rate"].isna().tolist()  # a code column is text, as read_table gives it
    (['1', '2'], [False, True])
    """
    return _parse_csv(_csv_bytes(df, WriteOptions()), ReadOptions(), f"{option} (in memory)", STRING_COLUMNS)


def write_text(
    text: str, path: str | os.PathLike, *, option: str = "parameter path", inputs: Iterable[str | os.PathLike] = ()
) -> Path:
    """Write text atomically (UTF-8)."""
    p = check_output(path, inputs, option=option)
    _atomic(p, lambda t: Path(t).write_text(text, encoding="utf-8"))
    return p


def write_bytes(
    data: bytes, path: str | os.PathLike, *, option: str = "parameter path", inputs: Iterable[str | os.PathLike] = ()
) -> Path:
    """Write bytes atomically."""
    p = check_output(path, inputs, option=option)
    _atomic(p, lambda t: Path(t).write_bytes(data))
    return p


def write_json(
    obj: Any, path: str | os.PathLike, *, option: str = "parameter path", inputs: Iterable[str | os.PathLike] = ()
) -> Path:
    """Write an object as indented JSON, atomically."""
    return write_text(
        json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", path, option=option, inputs=inputs
    )
