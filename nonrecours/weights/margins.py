"""Calibration margins: categorical counts and numeric totals, and the X matrix.

Margins table (long format, CSV/Parquet/JSON), one row per total::

    variable,category,total
    benefit,RSA,120000
    benefit,AAH,60000
    is_qpv,1,40000
    is_qpv,0,140000
    income,,2.5e9          <- empty category: numeric total of column 'income'
    _population,,180000    <- optional: population size (an intercept column)

Categories are compared as text (``1`` and ``1.0`` are the same code).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_columns, check_grouping_column
from ..errors import InputError, message
from ..options import Coding, check_option
from ._calsolve import SlotMatrix

__all__ = ["Margins", "read_margins", "count_margins", "build_matrix", "as_codes", "POPULATION"]

#: Name of the margins-table row giving the population size (an intercept).
POPULATION = "_population"


@dataclass(frozen=True)
class Margins:
    """Calibration targets.

    Attributes
    ----------
    categorical : tuple of (variable, tuple of (category, total))
        Counts per category, in the order of the margins table.
    numeric : tuple of (variable, total)
        Totals of numeric columns.
    population : float or None
        Population size (adds an intercept column) when given explicitly.
    """

    categorical: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    numeric: tuple[tuple[str, float], ...] = ()
    population: float | None = None

    @classmethod
    def from_frame(cls, table: pd.DataFrame, *, source: str = "margins") -> Margins:
        """Build from a long table with columns ``variable``, ``category``, ``total``."""
        check_columns(table, ["variable", "category", "total"], role="margins column", source=source)
        tot = pd.to_numeric(table["total"], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(tot)
        if bad.any():
            raise InputError(
                message(
                    "margin totals must be numbers",
                    where=f"{source}, column 'total'",
                    found=f"{int(bad.sum())} rows empty or not numeric",
                )
            )
        var = table["variable"].astype(str).str.strip().to_numpy()
        cat = as_codes(table["category"])
        cats: dict[str, list[tuple[str, float]]] = {}
        nums: dict[str, float] = {}
        pop = None
        for v, c, t in zip(var, cat, tot):
            if v == POPULATION:
                pop = float(t)
            elif c is None:
                if v in nums or v in cats:
                    raise InputError(message("variable given twice", where=f"{source}, variable {v!r}"))
                nums[v] = float(t)
            else:
                if v in nums:
                    raise InputError(
                        message("variable given both as numeric and categorical", where=f"{source}, variable {v!r}")
                    )
                lst = cats.setdefault(v, [])
                if c in (k for k, _ in lst):
                    raise InputError(message("category given twice", where=f"{source}, {v}={c}"))
                lst.append((c, float(t)))
        return cls(tuple((v, tuple(lst)) for v, lst in cats.items()), tuple(nums.items()), pop)

    def to_frame(self) -> pd.DataFrame:
        """The margins as a long table (inverse of :meth:`from_frame`)."""
        rows = [(v, c, t) for v, lst in self.categorical for c, t in lst]
        rows += [(v, "", t) for v, t in self.numeric]
        if self.population is not None:
            rows.append((POPULATION, "", self.population))
        return pd.DataFrame(rows, columns=["variable", "category", "total"])

    @property
    def variables(self) -> list[str]:
        return [v for v, _ in self.categorical] + [v for v, _ in self.numeric]


def read_margins(path: str | os.PathLike, *, read=None) -> Margins:  # noqa: ANN001
    """Read a margins table (see module docstring); categories are read as text.

    ``read`` (:class:`~nonrecours.io.ReadOptions`) sets the separator, decimal
    mark and encoding of a CSV, otherwise detected.
    """
    from ..io import read_table

    p = Path(path)
    table = read_table(p, option="parameter margins", read=read, text_columns=("variable", "category"))
    return Margins.from_frame(table, source=f"margins {str(p)!r}")


def count_margins(
    frame: pd.DataFrame,
    variables: list[str],
    *,
    numeric: list[str] = (),  # type: ignore[assignment]
    population: bool = False,
    source: str = "frame",
) -> pd.DataFrame:
    """The margins table of a frame: the count of every category of ``variables``, totals of ``numeric``.

    Parameters
    ----------
    frame : DataFrame
        One row per population unit (the sampling frame).
    variables : list of str
        Categorical columns; one row ``(variable, category, count)`` per
        category, categories as text (``1.0`` is ``'1'``) in sorted order.
    numeric : list of str
        Numeric columns whose sums are totals (empty category).
    population : bool
        Add the ``_population`` row (the number of units).
    source : str
        Name of the frame in error messages.

    Returns
    -------
    DataFrame
        Columns ``variable``, ``category``, ``total``: the input of
        :func:`read_margins` and of ``nonrecours weight --calibrate``.

    Raises
    ------
    InputError
        A column is missing, or holds missing values (a unit without a
        category cannot be calibrated), or a numeric column is not numeric.

    Examples
    --------
    >>> f = pd.DataFrame({"benefit": ["RSA", "AAH", "RSA"], "is_qpv": [1, 0, 0]})
    >>> count_margins(f, ["benefit", "is_qpv"]).to_dict("list")["total"]
    [1.0, 2.0, 2.0, 1.0]
    """
    check_columns(frame, [*variables, *numeric], role="margin column", source=source)
    for col in variables:  # a category per unit would publish every unit's value
        check_grouping_column(frame, col, name="variables", source=source)
    rows: list[tuple[str, str | None, float]] = []
    for col in variables:
        codes = as_codes(frame[col])
        missing = np.array([c is None for c in codes])
        if missing.any():
            raise InputError(
                message(
                    "missing values in a margin variable",
                    where=f"{source}, column {col!r}",
                    found=f"{int(missing.sum())} rows without a category",
                    hint="fill them with their own category, or leave the column out",
                )
            )
        cats, counts = np.unique(codes.astype(str), return_counts=True)
        rows += [(col, str(c), float(n)) for c, n in zip(cats, counts)]
    for col in numeric:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna()
        if bad.any() or values.isna().any():
            raise InputError(
                message(
                    "a numeric total needs numbers in every row",
                    where=f"{source}, column {col!r}",
                    found=f"{int(values.isna().sum())} rows missing or not numeric",
                )
            )
        rows.append((col, None, float(values.sum())))
    if population:
        rows.append((POPULATION, None, float(len(frame))))
    return pd.DataFrame(rows, columns=["variable", "category", "total"])


def as_codes(s: pd.Series) -> np.ndarray:
    """Category codes as text (None for missing/empty); ``1.0`` -> ``'1'``."""
    out = np.empty(len(s), dtype=object)
    for i, v in enumerate(s.tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            out[i] = None
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            out[i] = str(int(v))
        else:
            out[i] = str(v).strip()
    return out


def _codes_fast(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Factorise a column into integer codes (-1 missing) and text levels."""
    codes, uniq = pd.factorize(s, use_na_sentinel=True)
    return codes, as_codes(pd.Series(uniq, dtype=object))


def _positions(s: pd.Series, cats: list[str]) -> np.ndarray:
    """Position in ``cats`` of each row's category as text (:func:`as_codes`); -1 when missing or not in ``cats``.

    A column of numpy integers within a range of at most n + 65,536 values is read through a table indexed by
    value (one pass, no hashing); other columns are factorised.
    """
    pos = {c: j for j, c in enumerate(cats)}
    v = s.to_numpy()
    if v.dtype.kind in "iu" and v.size:
        lo, hi = int(v.min()), int(v.max())
        if hi - lo <= v.size + 65_536:
            table = np.full(hi - lo + 1, -1, dtype=np.intp)
            for c, j in pos.items():
                x = int(c) if c.lstrip("-").isdigit() else None
                if x is not None and str(x) == c and lo <= x <= hi:  # the text of the integer x is c
                    table[x - lo] = j
            return table[v - lo] if lo else table[v]
    codes, levels = _codes_fast(s)
    return np.array([pos.get(lv, -1) for lv in levels] + [-1], dtype=np.intp)[codes]  # code -1: the last entry


def build_matrix(
    data: pd.DataFrame, margins: Margins, d: np.ndarray, *, coding: Coding | str = "dummies", source: str = "margins"
) -> tuple[SlotMatrix, np.ndarray]:
    """Build the calibration matrix (slot form) and the population totals.

    Only rows with ``d > 0`` (respondents) are checked; other rows get zeros.

    Coding
    ------
    ``dummies``: one column per category of the first categorical margin; each
    further categorical margin drops its first category (in margins order),
    which removes the redundancy of equal margin totals. ``treatment``: R's
    ``model.matrix`` with treatment contrasts: an intercept, and each
    categorical margin drops its first level in sorted order. Both span the
    same space, so the calibrated weights and residuals are the same.
    A ``_population`` row adds an intercept in ``dummies`` coding only when
    there is no categorical margin (otherwise it is checked against them).
    """
    check_option("coding", coding, Coding)
    check_columns(data, margins.variables, role="margin variable", source="the sample")
    resp = np.asarray(d) > 0
    every = bool(resp.all())
    n = len(data)
    names: list[str] = []
    totals: list[float] = []
    sums = [(v, sum(t for _, t in lst)) for v, lst in margins.categorical]
    if margins.population is not None:
        sums.append((POPULATION, margins.population))
    intercept = coding == "treatment" or (not margins.categorical and margins.population is not None)
    if intercept and not sums:
        raise InputError(
            message(
                "treatment coding needs a population size",
                where=source,
                hint=f"add a categorical margin or a row '{POPULATION},,N'",
            )
        )
    # slots written in place, one column each (Fortran order, as SlotMatrix keeps them); dropped categories
    # go to the trash column p, known before the loop: every categorical margin but a first one in dummies
    # coding without intercept drops one category
    p = (
        int(intercept)
        + sum(len(lst) for _, lst in margins.categorical)
        + len(margins.numeric)
        - (len(margins.categorical) - (0 if intercept else 1) if margins.categorical else 0)
    )
    k = int(intercept) + len(margins.categorical) + len(margins.numeric)
    cols = np.empty((n, k), dtype=np.intp, order="F")
    vals = np.empty((n, k), order="F")
    indicator: list[bool] = []
    if intercept:
        cols[:, 0], vals[:, 0] = 0, 1.0
        indicator.append(True)
        names.append("(Intercept)")
        totals.append(sums[0][1])
    missing_all: list[str] = []
    unknown_all: list[str] = []
    for m, (var, lst) in enumerate(margins.categorical):
        cats = [c for c, _ in lst]
        mpos = _positions(data[var], cats)  # -1: missing or not in margins
        neg = mpos < 0
        some = bool(neg.any())
        if some:
            bad = resp & neg
            if bad.any():
                text = pd.Series([c if c is not None else "(missing)" for c in as_codes(data[var][bad])])
                missing_all += [f"{var}={c} ({cnt} rows)" for c, cnt in text.value_counts().items()]
            counts = np.bincount(mpos[resp & ~neg], minlength=len(cats))
        else:
            counts = np.bincount(mpos if every else mpos[resp], minlength=len(cats))
        unknown_all += [f"{var}={c}" for c, cnt in zip(cats, counts) if cnt == 0]
        drop = None
        if coding == "treatment":
            drop = cats.index(sorted(cats)[0])
        elif m > 0 or intercept:
            drop = 0
        colmap = np.full(len(cats) + 1, p, dtype=np.intp)  # the last entry for mpos = -1
        for j in range(len(cats)):
            if j != drop:
                colmap[j] = len(names)
                names.append(f"{var}={cats[j]}")
                totals.append(lst[j][1])
        slot = len(indicator)
        cols[:, slot] = colmap[mpos]
        vals[:, slot] = ~neg if some else 1.0
        indicator.append(True)
    if missing_all:
        raise InputError(
            message(
                "sample categories missing from the margins",
                where=source,
                found=", ".join(missing_all[:20]) + (" ..." if len(missing_all) > 20 else ""),
                hint="add these categories to the margins, or recode them in the sample",
            )
        )
    if unknown_all:
        raise InputError(
            message(
                "margins name categories that no respondent has",
                where=source,
                found=", ".join(unknown_all[:20]) + (" ..." if len(unknown_all) > 20 else ""),
                hint="check the spelling, or merge these categories with a neighbour in both files",
            )
        )
    if len(sums) > 1:
        ref = sums[0][1]
        if any(abs(s - ref) > 1e-6 * max(1.0, abs(ref)) for _, s in sums):
            raise InputError(
                message(
                    "categorical margins have different totals",
                    where=source,
                    expected="the same population size in every margin",
                    found=", ".join(f"{v}: {s:.10g}" for v, s in sums),
                    hint="margins must describe the same population",
                )
            )
    for var, total in margins.numeric:
        x = pd.to_numeric(data[var], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = resp & ~np.isfinite(x)
        if bad.any():
            raise InputError(
                message(
                    "numeric margin variable has missing or non-numeric values",
                    where=f"column {var!r}",
                    found=f"{int(bad.sum())} respondent rows",
                    hint="impute or drop this margin",
                )
            )
        slot = len(indicator)
        cols[:, slot] = len(names)
        vals[:, slot] = np.where(resp, np.nan_to_num(x), 0.0)
        indicator.append(False)
        names.append(var)
        totals.append(total)
    if not names:
        raise InputError(message("no calibration margin", where=source, hint="give at least one margin"))
    M = SlotMatrix(cols, vals, names, indicator=indicator)
    return M, np.asarray(totals, dtype=float)
