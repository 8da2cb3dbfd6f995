"""Checks at the boundary: columns, options, weights, right columns, random state.

Options are validated once, where they enter (scikit-learn's parameter
validation); inner code trusts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._unique import surely_unique
from .errors import InputError, OptionError, line_list, message, rows_found

__all__ = [
    "check_random_state",
    "check_choice",
    "check_level",
    "check_columns",
    "check_right_column",
    "check_numeric_column",
    "check_positive_weights",
    "check_grouping_column",
    "parse_list",
    "parse_mapping",
]


def check_random_state(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from an int seed or a Generator.

    ``None`` is refused: every random draw in nonrecours is reproducible, so a
    seed must be given explicitly.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise OptionError(
                message(
                    "seed must be a non-negative integer", where="seed", expected="an integer >= 0", found=str(seed)
                )
            )
        return np.random.default_rng(int(seed))
    raise OptionError(
        message(
            "a seed is required for reproducible draws",
            where="seed",
            expected="an integer or numpy.random.Generator",
            found=repr(seed),
            hint="pass seed=1 (or any integer)",
        )
    )


def where_name(name: str) -> str:
    """Where a value was given, for a message: ``option --x`` for a command-line option, ``parameter x`` for a
    library parameter (the command line turns those into its options: :func:`nonrecours.cli._common.in_command_words`).

    Examples
    --------
    >>> where_name("lonely_psu"), where_name("--lonely-psu")
    ('parameter lonely_psu', 'option --lonely-psu')
    """
    return f"option {name}" if name.startswith("-") else f"parameter {name}"


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Check that parameter (or option) ``name`` is one of ``allowed`` and return it."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise OptionError(
            message(
                f"unknown value for {name}" if name.startswith("-") else "unknown value",
                where=where_name(name),
                expected="one of " + ", ".join(map(str, allowed)),
                found=repr(value),
            )
        )
    return value


def check_level(level: Any, option: str = "level") -> float:
    """Check a confidence level (a number strictly between 0 and 1) and return it as a float."""
    ok = isinstance(level, (int, float, np.integer, np.floating)) and not isinstance(level, bool) and 0 < level < 1
    if not ok:
        raise OptionError(
            message(
                "confidence level out of range",
                where=where_name(option),
                expected="a number strictly between 0 and 1, such as 0.95",
                found=repr(level),
            )
        )
    return float(level)


def check_columns(
    data: pd.DataFrame, columns: Iterable[str | None], *, role: str = "column", source: str = "data"
) -> None:
    """Raise :class:`InputError` naming every requested column absent from ``data``."""
    missing = [c for c in columns if c is not None and c not in data.columns]
    if missing:
        avail = ", ".join(map(str, list(data.columns)[:12]))
        more = "" if data.shape[1] <= 12 else f", ... ({data.shape[1]} columns)"
        raise InputError(
            message(
                f"{role} not found in {source}",
                where=", ".join(repr(c) for c in missing),
                expected="a column of the input",
                found=f"columns {avail}{more}",
                hint="check the spelling or the option naming the column",
            )
        )


def check_right_column(data: pd.DataFrame, column: str) -> np.ndarray:
    """Return a right column as float64 with NaN for 'not eligible'.

    Rights are coded 1 = takes up, 0 = eligible but does not, empty = not
    eligible. Anything else raises :class:`InputError` with the row count.
    """
    check_columns(data, [column], role="right column")
    s = data[column]
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":  # numpy floats (a file's 1/0/empty): no coercion
        values = np.array(s.to_numpy(), dtype=float)  # a copy: callers may write into it
        bad = (values != 0) & (values != 1)
        bad &= ~np.isnan(values)
    else:
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = (s.notna().to_numpy() & np.isnan(values)) | (~np.isnan(values) & (values != 0) & (values != 1))
    if bad.any():
        raise InputError(
            message(
                "a right column holds values other than 1, 0 or empty",
                where=f"column {column!r}",
                expected="1 (takes up), 0 (eligible, does not) or empty (not eligible)",
                found=_found_by_kind(s, values, bad),
                hint=_MARKER_HINT if _markers_in(s, bad) else "recode the column before estimating",
            )
        )
    return values


#: Missing-value markers of other software, named when a column holds them as text.
_KNOWN_MARKERS = {
    "NA": "R's missing marker",
    ".": "the SAS and Stata missing marker",
    "NaN": "a missing marker",
    "N/A": "a missing marker",
    "n/a": "a missing marker",
    "#N/A": "Excel's missing marker",
    "-": "a missing marker",
    "null": "a missing marker",
    "NULL": "a missing marker",
}
_MARKER_HINT = (
    "read it as missing: parameter na lists the markers read as missing (default 'NA' and '.', in "
    "columns whose other cells are numbers), or recode the column"
)


def _markers_in(s: pd.Series, bad: np.ndarray) -> list[str]:
    text = s[bad & s.notna().to_numpy()].astype(str)
    return [m for m in _KNOWN_MARKERS if (text == m).any()]


def _found_by_kind(s: pd.Series, values: np.ndarray, bad: np.ndarray) -> str:
    """What a bad right column holds, by kind: known missing markers by name, other text and numbers counted.

    Only the missing markers of other software are quoted; other cells are
    described (``text values (2 distinct)``), never printed.
    """
    parts = []
    number = bad & ~np.isnan(values)
    text = bad & np.isnan(values)
    markers = _markers_in(s, text)
    known = s.astype(str).isin(markers).to_numpy() & text
    for m in markers:
        parts.append(f"text {m!r} ({_KNOWN_MARKERS[m]}) in {rows_found(known & (s.astype(str) == m).to_numpy())}")
    other = text & ~known
    if other.any():
        n = s[other].astype(str).nunique()
        parts.append(f"text values ({n} distinct) in {rows_found(other)}")
    if number.any():
        parts.append(f"numbers other than 0 and 1 in {rows_found(number)}")
    return "; ".join(parts)


def check_numeric_column(
    data: pd.DataFrame, column: str, *, source: str = "data", bounds: tuple[float, float] | None = None
) -> np.ndarray:
    """Return a numeric column as float64 (empty cells NaN); text, or values outside ``bounds``, raise.

    Parameters
    ----------
    data : DataFrame
    column : str
    source : str
        Name of the table in messages (``"truth file"``).
    bounds : (low, high), optional
        Closed interval the non-missing values must lie in (``(0, 1)`` for rates).
    """
    check_columns(data, [column], source=source)
    s = data[column]
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    text = s.notna().to_numpy() & np.isnan(values)
    if text.any():
        raise InputError(
            message(
                "column is not numeric",
                where=f"{source}, column {column!r}",
                expected="numbers or empty cells",
                found=_found_by_kind(s, values, text),
                hint=_MARKER_HINT if _markers_in(s, text) else "fix those cells or leave them empty",
            )
        )
    if bounds is not None:
        lo, hi = bounds
        out = ~np.isnan(values) & ((values < lo) | (values > hi))
        if out.any():
            raise InputError(
                message(
                    "values out of range",
                    where=f"{source}, column {column!r}",
                    expected=f"values in [{lo:g}, {hi:g}]",
                    found=rows_found(out),
                    hint="rates are proportions between 0 and 1, not percentages",
                )
            )
    return values


def check_positive_weights(w: np.ndarray, column: str, *, allow_zero: bool = False) -> np.ndarray:
    """Check weights are finite and positive (or non-negative) and return them as float64."""
    w = np.asarray(w, dtype=float)
    bad_nan = ~np.isfinite(w)
    bad = bad_nan | ((w < 0) if allow_zero else (w <= 0))
    if bad.any():
        exp = ">= 0" if allow_zero else "> 0"
        raise InputError(
            message(
                "weights must be finite and positive",
                where=f"column {column!r}",
                expected=exp,
                found=f"{int(bad.sum())} rows missing or {'negative' if allow_zero else 'not positive'}, "
                f"on {line_list(bad)}",
                hint="fix or drop those rows; non-respondents keep weight 0 only after non-response adjustment",
            )
        )
    return w


def parse_list(text: str | Sequence[str] | None, *, option: str) -> list[str]:
    """Split a comma-separated option into a list of non-empty names."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    out = [t.strip() for t in items if t.strip()]
    if isinstance(text, str) and text.strip() and not out:
        raise OptionError(
            message("empty list", where=where_name(option), expected="comma-separated names", found=repr(text))
        )
    return out


def parse_mapping(text: str | None, *, option: str, value_type: type = float) -> dict[str, Any]:
    """Parse ``'a=1,b=2'`` into ``{'a': 1.0, 'b': 2.0}``."""
    out: dict[str, Any] = {}
    for item in parse_list(text, option=option):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(
                message(
                    "malformed item",
                    where=where_name(option),
                    expected="name=value pairs separated by commas",
                    found=repr(item),
                )
            )
        try:
            out[key.strip()] = value_type(val)
        except ValueError:
            raise OptionError(
                message(
                    "value is not a number",
                    where=f"{where_name(option)}, item {key.strip()!r}",
                    expected=value_type.__name__,
                    found=repr(val),
                )
            ) from None
    return out


def id_column(columns: Iterable[str], id_col: str | None) -> str | None:
    """The id column to check: ``id_col`` when given (``--id-col``), else ``'id'`` if ``columns`` has it, else None."""
    if id_col is not None:
        return id_col
    return "id" if "id" in set(columns) else None


def duplicate_ids_message(column: str, *, source: str, found: str, hint: str | None = None) -> str:
    """The one message of repeated ids (column named, rows pointed at, never an id value), for every engine."""
    return message(
        f"duplicate ids in the {source}",
        where=f"{source}, column {column!r}",
        expected="one row per unit",
        found=found,
        hint=hint or "drop or fix the duplicated rows",
    )


def check_unique_ids(data: pd.DataFrame, column: str, *, source: str = "data", hint: str | None = None) -> None:
    """Refuse repeated (or missing) identifiers, pointing at the rows by line number, never by value.

    First a proof without a hash table: integer ids, and the 64-bit
    fingerprints of Arrow strings, sorted, none equal to its neighbour
    (:func:`nonrecours._unique.surely_unique`). Without that proof (a
    repeated fingerprint, or object or categorical ids) the ids are factorized
    once (``pd.factorize(sort=False)``) into integer codes; they are unique
    when the codes number the rows, :math:`\\max(\\text{code}) + 1 = n`. Only when
    they do not are the rows sharing an id found, from the codes' counts
    (``np.bincount``, no second hash of the ids), to give their lines.
    """
    check_columns(data, [column], role="id column", source=source)
    ids = data[column]
    if ids.isna().any():
        raise InputError(
            message(
                "missing ids",
                where=f"{source}, column {column!r}",
                expected="an id on every row",
                found=rows_found(ids.isna(), "empty rows"),
            )
        )
    if surely_unique(ids.array):  # distinct 64-bit fingerprints: no hash table of the ids
        return
    codes, _ = pd.factorize(ids.array, sort=False)
    if len(codes) == 0 or int(codes.max()) + 1 == len(codes):
        return
    dup = np.bincount(codes)[codes] > 1
    if dup.any():
        raise InputError(
            duplicate_ids_message(column, source=source, found=rows_found(dup, "rows share an id"), hint=hint)
        )


def check_ids_if_present(data: pd.DataFrame, id_col: str | None, *, source: str, before: str) -> None:
    """One row per unit: :func:`check_unique_ids` on ``id_col``, or on ``'id'`` when the file has it.

    The check of the commands reading one row per recipient or sampled unit
    (``weight``, ``margins``, ``allocate``, ``estimate``, ``territorial admin``);
    the hint names parameter ``id_col`` (the command line's ``--id-col``), which sets the column.
    """
    column = id_column(data.columns, id_col)
    if column is not None:
        check_unique_ids(
            data,
            column,
            source=source,
            hint=f"drop or fix the duplicated rows before {before} (parameter id_col names the id column)",
        )


def check_grouping_column(
    data: pd.DataFrame,
    columns: str | Sequence[str],
    *,
    name: str,
    min_n: int = 0,
    id_col: str | None = None,
    source: str = "the sample",
) -> None:
    """Refuse grouping columns (domains, groups, strata, categorical covariates, margins) that identify people.

    A grouping column is published through its values (a domain's label, a
    stratum's name in a message): one that identifies people would publish
    them. ``columns`` (their crossing when several) are refused when

    * one of them is the id column (``id_col``, or ``'id'`` when the table has it);
    * their crossing has one row per value (every group a single row), with more than one row;
    * ``min_n > 0``, the table has at least ``min_n`` rows and every group has fewer than ``min_n``
      rows (no group could be published).

    The message names the parameter and the column, and counts rows and groups: it never shows a value.

    Parameters
    ----------
    data : DataFrame
    columns : str or sequence of str
        The grouping columns (checked to exist).
    name : str
        The parameter that named them (``by``, ``strata``, ``covariates``, ``variables``), for the message.
    min_n : int
        The disclosure threshold on the rows of a group (0: only the two first rules).
    id_col : str, optional
        The id column of the table (default ``'id'`` when the table has it).
    source : str
        The table, for the message.

    Examples
    --------
    >>> df = pd.DataFrame({"who": ["a", "b", "c"], "g": ["x", "x", "y"]})
    >>> check_grouping_column(df, "g", name="by")
    >>> check_grouping_column(df, "who", name="by")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nonrecours.errors.InputError: parameter by, column 'who': the column identifies people (one row per value); ...
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    if not cols:
        return
    check_columns(data, cols, role=f"{name} column", source=source)
    where = f"{where_name(name)}, column{'s' if len(cols) > 1 else ''} " + ", ".join(repr(c) for c in cols)
    hint = "group by a column of categories (territory, benefit, is_qpv...), never by an identifier"
    ident = id_column(data.columns, id_col)
    if ident is not None and ident in cols:
        raise InputError(
            message(
                "the id column cannot group rows (its values would be published)",
                where=where,
                expected="a column of categories",
                found=f"the id column {ident!r}",
                hint=hint,
            )
        )
    n = len(data)
    if n <= 1:
        return
    sizes = data.groupby(cols, sort=False, observed=True, dropna=False).size().to_numpy()
    if sizes.max() == 1:
        raise InputError(
            message(
                "the column identifies people (one row per value)",
                where=where,
                expected="groups of several rows each",
                found=f"{sizes.size} values for {n} rows",
                hint=hint,
            )
        )
    if min_n > 0 and n >= min_n and sizes.max() < min_n:
        raise InputError(
            message(
                f"every group has fewer than {min_n} rows (the disclosure threshold)",
                where=where,
                expected=f"groups of at least {min_n} rows",
                found=f"{sizes.size} groups for {n} rows, the largest of {int(sizes.max())}",
                hint=hint,
            )
        )
