"""Blanking of published tables: rows of suppressed cells emptied, and the tables that depend on them.

Once the suppression engine (:mod:`nonrecours.publication.suppression`) has
decided which cells are hidden, every table computed from them hides them
too: an estimate table its ``suppressed`` rows (:func:`blank_suppressed`), a
table of gaps every gap involving a hidden estimate (:func:`blank_gaps`), a
change or trend table the rows of hidden cells and the counts below the
threshold (:func:`blank_changes`), a model the coefficients resting on too
few respondents (:func:`blank_model_terms`). :func:`blank_rows` is the one way
a row is emptied (labels kept, integer columns kept as integers with missing
values), and :func:`code_key` the one way domain codes are compared across
files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["blank_rows", "blank_suppressed", "blank_gaps", "blank_changes", "blank_model_terms", "code_key"]


def blank_rows(table: pd.DataFrame, hide: np.ndarray, keep: Sequence[str]) -> pd.DataFrame:
    """``table`` with its numeric columns but ``keep`` (labels) emptied in the rows ``hide`` (integer columns stay
    integers, with missing values; text columns are kept)."""
    hide = np.asarray(hide, dtype=bool)
    if not hide.any():
        return table
    out = table.copy()
    for c in out.columns:
        col = out[c]
        if c in keep or pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
            continue
        if pd.api.types.is_integer_dtype(col.dtype):
            arr = pd.array(col, dtype="Int64")
            arr[hide] = pd.NA
            out[c] = arr
        else:
            out[c] = np.where(hide, np.nan, col.to_numpy(dtype=float, na_value=np.nan))
    return out


def blank_suppressed(table: pd.DataFrame, flag: str = "flag") -> pd.DataFrame:
    """An estimate table with its ``suppressed`` rows blanked (``n``, ``df``, ``deff`` too; ``n = 0`` kept)."""
    return _blank(table, ((table[flag] == "suppressed") & (pd.to_numeric(table["n"], errors="coerce") > 0)).to_numpy(),
                  flag)


def blank_gaps(gaps: pd.DataFrame, estimates: pd.DataFrame, gap: str, flag: str = "flag") -> pd.DataFrame:
    """A gap table (:func:`~nonrecours.estimation.gap_between`) with every gap that involves a suppressed
    estimate blanked: its two estimates, the gap, its SE, CI and test (only the labels are kept).

    ``estimates`` is the estimate table the gaps were computed from, with its ``flag`` column; ``gap`` is the
    domain column compared (or ``"right"``: gaps between rights within each domain).

    Examples
    --------
    >>> est = pd.DataFrame({"q": ["0", "1", "0", "1"], "right": ["a", "a", "b", "b"],
    ...                     "flag": ["ok", "suppressed", "ok", "ok"]})
    >>> gaps = pd.DataFrame({"right": ["a", "b"], "domain_a": ["1", "1"], "domain_b": ["0", "0"],
    ...                      "gap": [0.1, 0.2]})
    >>> blank_gaps(gaps, est, "q")["gap"].tolist()
    [nan, 0.2]
    """
    by = list(gaps.columns[: list(gaps.columns).index("right")])  # the other domain columns come first
    supp = estimates[estimates[flag].astype(str) == "suppressed"]
    if supp.empty or gaps.empty:
        return gaps
    if gap == "right":  # the level compared is the right, within the domain of the by columns
        key = supp[by + ["right"]].astype(str)
        sides = [gaps[by + [side]].astype(str).set_axis(by + ["right"], axis=1) for side in ("domain_a", "domain_b")]
    else:
        key = supp[by + [gap, "right"]].astype(str)
        sides = [gaps[by + [side, "right"]].astype(str).set_axis(by + [gap, "right"], axis=1)
                 for side in ("domain_a", "domain_b")]
    index = pd.MultiIndex.from_frame(key)
    hide = np.logical_or.reduce([pd.MultiIndex.from_frame(s).isin(index) for s in sides])
    if not hide.any():
        return gaps
    out = gaps.copy()
    for c in out.columns:
        if c not in by + ["right", "domain_a", "domain_b"]:
            out[c] = np.where(hide, np.nan, pd.to_numeric(out[c], errors="coerce"))
    return out


def blank_changes(changes: pd.DataFrame, by: Sequence[str], *, min_n: int, hidden: set | None = None,
                  trend: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Change (and trend) tables with every row of a suppressed cell emptied, and ``n_both`` below ``min_n`` too.

    A row is hidden when its (domain, right) is in ``hidden`` (:func:`protect_series`), or when its
    ``n_1`` or ``n_2`` (a change table of ``nonrecours change``) is 1 to ``min_n - 1``. ``n_both``, the
    respondents of both waves, is emptied where it is 1 to ``min_n - 1`` (only the labels are kept).

    Examples
    --------
    >>> ch = pd.DataFrame({"q": ["0", "1"], "right": "r", "n_1": [40, 8], "n_2": [45, 30], "n_both": [20, 4],
    ...                    "change": [0.1, 0.2]})
    >>> out, _ = blank_changes(ch, ["q"], min_n=11)
    >>> out["change"].isna().tolist(), out["n_both"].isna().tolist()
    ([False, True], [False, True])
    """
    hidden = set(hidden or ())
    labels = ("year_from", "year_to", "years", *by, "right")

    def hide(table: pd.DataFrame) -> np.ndarray:
        keys = zip(code_key(table[list(by)]) if by else [""] * len(table), table["right"].astype(str))
        h = np.fromiter((k in hidden for k in keys), dtype=bool, count=len(table))
        for c in ("n_1", "n_2"):
            if c in table.columns:
                v = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float)
                h |= (v > 0) & (v < min_n)
        return h

    out = blank_rows(changes, hide(changes), keep=labels)
    if "n_both" in out.columns:
        nb = pd.to_numeric(out["n_both"], errors="coerce").to_numpy(dtype=float)
        out = blank_rows(out, (nb > 0) & (nb < min_n), keep=tuple(c for c in out.columns if c != "n_both"))
    return out, (None if trend is None else blank_rows(trend, hide(trend), keep=labels))


def blank_model_terms(coefs: pd.DataFrame, X: np.ndarray, assign: np.ndarray, *, min_n: int) -> pd.DataFrame:
    """A coefficient table (:meth:`~nonrecours.estimation.logistic.LogisticResult.to_frame`) with every
    coefficient built from fewer than ``min_n`` respondents emptied (only ``term`` kept).

    ``X`` is the model matrix of the fitted rows, ``assign`` the term of each column (0 = intercept).
    A coefficient rests on the respondents where its column is not zero (a factor level, an
    interaction cell); the reference level of a term on those where all its columns are zero:
    when it holds 1 to ``min_n - 1`` respondents, the term's coefficients and the intercept
    (measured on it) are emptied too.

    Examples
    --------
    >>> X = np.column_stack([np.ones(30), np.r_[np.ones(5), np.zeros(25)], np.r_[np.zeros(5), np.ones(20), np.zeros(5)]])
    >>> coefs = pd.DataFrame({"term": ["(Intercept)", "gb", "gc"], "estimate": [0.1, 0.2, 0.3]})
    >>> blank_model_terms(coefs, X, np.array([0, 1, 1]), min_n=11)["estimate"].isna().tolist()
    [True, True, True]
    """
    X = np.asarray(X, dtype=float)
    assign = np.asarray(assign)
    nz = X != 0
    n_col = nz.sum(axis=0)
    hide = (n_col > 0) & (n_col < min_n) & (assign != 0)
    for term in np.unique(assign[assign != 0]):  # loop over the model's terms (a handful)
        cols = assign == term
        n_ref = int((~nz[:, cols].any(axis=1)).sum())
        if 0 < n_ref < min_n:
            hide |= cols | (assign == 0)
    return blank_rows(coefs, hide, keep=("term",))


def code_key(values: pd.Series | pd.DataFrame) -> pd.Series:
    """Domain codes as text comparable across files (``1``, ``1.0`` and ``"1"`` alike); several columns joined."""
    def one(v: pd.Series) -> pd.Series:
        num = pd.to_numeric(v, errors="coerce")
        integral = num.notna() & (num == num.round())
        out = v.astype(str)
        return out.where(~integral.to_numpy(), num.round().astype("Int64").astype(str))

    if isinstance(values, pd.Series):
        return one(values).reset_index(drop=True)
    cols = [one(values[c]).reset_index(drop=True) for c in values.columns]
    out = cols[0]
    for c in cols[1:]:
        out = out + "\x1f" + c
    return out


_BLANKED = ("n", "estimate", "se", "ci_low", "ci_high", "df", "deff", "cv")


def _masked(values: np.ndarray, keep: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64), ~np.asarray(keep, dtype=bool))


def _blank(t: pd.DataFrame, supp: np.ndarray, flag: str) -> pd.DataFrame:
    t = t.copy()
    for c in _BLANKED:
        if c in t.columns:
            if c == "n":
                n = pd.to_numeric(t[c], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
                t[c] = _masked(n, ~supp | (n == 0))
            else:
                t[c] = np.where(supp, np.nan, pd.to_numeric(t[c], errors="coerce").to_numpy(dtype=float))
    t[flag] = np.where(supp, "suppressed", t[flag].to_numpy(dtype=object))
    return t
