"""Reading and writing tables by file suffix, atomically.

Outputs are written to a temporary file in the target folder and renamed,
so that an error never leaves a partial file; an output that would replace
one of the command's inputs is refused.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError, OptionError, OutputError, message

__all__ = ["read_table", "write_table", "write_json", "write_text", "write_bytes",
           "check_output", "check_outputs", "check_table_output", "TABLE_SUFFIXES", "STRING_COLUMNS"]

TABLE_SUFFIXES = (".csv", ".parquet", ".json")

#: Columns always read as text (codes with leading zeros such as département "01").
STRING_COLUMNS = ("id", "territory", "departement", "benefit", "age_band", "household", "housing",
                  "stratum", "psu", "ssu", "status", "right", "domain", "area")


def _suffix(path: Path, option: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise OptionError(message("unsupported file type", where=f"{option} {str(path)!r}",
                                  expected="a name ending in " + ", ".join(TABLE_SUFFIXES), found=repr(path.suffix or "no suffix")))
    return suffix


def read_table(path: str | os.PathLike, *, option: str = "input") -> pd.DataFrame:
    """Read a CSV, Parquet or JSON (records) table; code columns are read as text.

    Empty CSV cells become missing values (NaN), which in right columns means
    'not eligible'.
    """
    p = Path(path)
    suffix = _suffix(p, option)
    if not p.is_file():
        raise InputError(message("file not found", where=f"{option} {str(p)!r}", hint="check the path"))
    try:
        if suffix == ".csv":
            header = pd.read_csv(p, nrows=0).columns
            dtype = {c: str for c in header if c in STRING_COLUMNS}
            return pd.read_csv(p, dtype=dtype, keep_default_na=False, na_values=[""])
        if suffix == ".parquet":
            try:
                return pd.read_parquet(p)
            except ImportError:
                raise OptionError(message("reading Parquet needs pyarrow", where=f"{option} {str(p)!r}",
                                          hint="pip install 'nonrecours[parquet]'")) from None
        return pd.read_json(p, orient="records", dtype={c: str for c in STRING_COLUMNS})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, (InputError, OptionError)):
            raise
        raise InputError(message("cannot read table", where=f"{option} {str(p)!r}", found=str(exc).splitlines()[0])) from None


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *, option: str = "--out") -> Path:
    """Refuse an output path that is one of the inputs; return it as a Path."""
    p = Path(path)
    for src in inputs:
        if src is None:
            continue
        s = Path(src)
        if s.exists() and p.exists() and os.path.samefile(s, p):
            raise OutputError(message("the output would overwrite an input file", where=f"{option} {str(p)!r}",
                                      hint="choose another output name"))
        if not s.exists() and s.resolve() == p.resolve():
            raise OutputError(message("the output would overwrite an input file", where=f"{option} {str(p)!r}",
                                      hint="choose another output name"))
    if p.parent and not p.parent.exists():
        raise OutputError(message("output folder does not exist", where=f"{option} {str(p)!r}",
                                  hint=f"create {str(p.parent)!r} first"))
    return p


def check_table_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *,
                       option: str = "--out") -> Path:
    """:func:`check_output` for a table, and its suffix (.csv, .parquet, .json) too.

    Commands that write several tables call it on each before any work, so that
    a bad second output never leaves the first one written.
    """
    p = check_output(path, inputs, option=option)
    _suffix(p, option)
    return p


def check_outputs(outputs: Mapping[str, str | os.PathLike | None], inputs: Iterable[str | os.PathLike | None] = (),
                  *, overwrite: bool = False, tables: Iterable[str] | None = None) -> dict[str, Path]:
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
        Options whose output is a table (suffix .csv, .parquet or .json);
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
    """
    inputs = [i for i in inputs if i is not None]
    asked = {opt: Path(p) for opt, p in outputs.items() if p is not None}
    table_opts = set(asked) if tables is None else set(tables)
    seen: dict[Path, str] = {}
    for opt, p in asked.items():
        key = Path(os.path.abspath(p))
        if key in seen:
            raise OutputError(message("two outputs with the same path", where=f"{seen[key]} and {opt}",
                                      found=repr(str(p)), hint="give each output its own name"))
        seen[key] = opt
    for opt, p in asked.items():
        check_output(p, inputs, option=opt)
        if opt in table_opts:
            _suffix(p, opt)
        if p.is_dir():
            raise OutputError(message("the output is a folder", where=f"{opt} {str(p)!r}", hint="give a file name"))
        if p.exists() and not overwrite:
            raise OutputError(message("the output file already exists", where=f"{opt} {str(p)!r}",
                                      hint="choose another name, or pass --overwrite to replace it"))
    return asked


def _atomic(path: Path, write) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
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


def write_table(df: pd.DataFrame, path: str | os.PathLike, *, option: str = "--out",
                inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``df`` as CSV, Parquet or JSON (records) by suffix, atomically."""
    p = check_output(path, inputs, option=option)
    suffix = _suffix(p, option)
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise OptionError(message("writing Parquet needs pyarrow", where=f"{option} {str(p)!r}",
                                      hint="pip install 'nonrecours[parquet]'")) from None
        _atomic(p, lambda t: df.to_parquet(t, index=False))
    elif suffix == ".csv":
        _atomic(p, lambda t: df.to_csv(t, index=False, lineterminator="\n"))
    else:
        _atomic(p, lambda t: df.to_json(t, orient="records", indent=1, double_precision=15))
    return p


def write_text(text: str, path: str | os.PathLike, *, option: str = "--out",
               inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write text atomically (UTF-8)."""
    p = check_output(path, inputs, option=option)
    _atomic(p, lambda t: Path(t).write_text(text, encoding="utf-8"))
    return p


def write_bytes(data: bytes, path: str | os.PathLike, *, option: str = "--out",
                inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write bytes atomically."""
    p = check_output(path, inputs, option=option)
    _atomic(p, lambda t: Path(t).write_bytes(data))
    return p


def write_json(obj: Any, path: str | os.PathLike, *, option: str = "--out",
               inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write an object as indented JSON, atomically."""
    return write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", path, option=option, inputs=inputs)
