"""Blanking of published tables: rows of suppressed cells emptied, and the tables that depend on them.

Once the suppression engine (:mod:`nonrecours.publication.suppression`) has
decided which cells are hidden, every table computed from them hides them
too: an estimate table its ``suppressed`` rows (:func:`blank_suppressed`), a
table of gaps every gap involving a hidden estimate (:func:`blank_gaps`), a
change or trend table the rows of hidden cells and the counts below the
threshold (:func:`blank_changes`), a model the coefficients resting on too
few respondents (:func:`blank_model_terms`), a table by the domains of a
protected one its hidden cells (:func:`hidden_cells`, :func:`blank_hidden`,
:func:`published_n`, :func:`publishable_changes`). :func:`blank_rows` is the one way
a row is emptied (labels kept, integer columns kept as integers with missing
values), and :func:`code_key` the one way domain codes are compared across
files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "blank_rows",
    "blank_suppressed",
    "blank_gaps",
    "blank_gap_rights",
    "blank_changes",
    "blank_did",
    "blank_model_terms",
    "hidden_cells",
    "blank_hidden",
    "publishable_changes",
    "published_n",
    "code_key",
]


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
    return _blank(
        table, ((table[flag] == "suppressed") & (pd.to_numeric(table["n"], errors="coerce") > 0)).to_numpy(), flag
    )


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
        sides = [
            gaps[by + [side, "right"]].astype(str).set_axis(by + [gap, "right"], axis=1)
            for side in ("domain_a", "domain_b")
        ]
    index = pd.MultiIndex.from_frame(key)
    hide = np.logical_or.reduce([pd.MultiIndex.from_frame(s).isin(index) for s in sides])
    if not hide.any():
        return gaps
    out = gaps.copy()
    for c in out.columns:
        if c not in by + ["right", "domain_a", "domain_b"]:
            out[c] = np.where(hide, np.nan, pd.to_numeric(out[c], errors="coerce"))
    return out


def blank_gap_rights(gaps: pd.DataFrame, estimates: pd.DataFrame, flag: str = "flag") -> pd.DataFrame:
    """A gap table by right (e.g. QPV minus the rest) with the gaps of the rights that have a suppressed estimate
    in ``estimates`` blanked (only ``right``, ``domain_a`` and ``domain_b`` kept).

    Examples
    --------
    >>> est = pd.DataFrame({"q": [1, 0, 1, 0], "right": ["a", "a", "b", "b"],
    ...                     "flag": ["ok", "suppressed", "ok", "ok"]})
    >>> gaps = pd.DataFrame({"right": ["a", "b"], "domain_a": [1, 1], "domain_b": [0, 0], "gap": [0.1, 0.2]})
    >>> blank_gap_rights(gaps, est)["gap"].tolist()
    [nan, 0.2]
    """
    supp = set(estimates.loc[estimates[flag] == "suppressed", "right"].astype(str))
    hide = gaps["right"].astype(str).isin(supp).to_numpy()
    out = gaps.copy()
    for c in out.columns:
        if c not in ("right", "domain_a", "domain_b") and hide.any():
            out[c] = np.where(hide, np.nan, pd.to_numeric(out[c], errors="coerce"))
    return out


def hidden_cells(table: pd.DataFrame, col: str, flag: str = "flag") -> set[tuple[str, str]]:
    """(level of ``col``, right) of the suppressed rows of a protected estimate table.

    Examples
    --------
    >>> hidden_cells(pd.DataFrame({"g": [1, 2], "right": "r", "flag": ["suppressed", "ok"]}), "g")
    {('1', 'r')}
    """
    sup = table[table[flag] == "suppressed"]
    return set(zip(sup[col].astype(str), sup["right"].astype(str)))


def blank_hidden(
    table: pd.DataFrame,
    hidden: set[tuple[str, str]],
    col: str,
    *,
    rights: pd.Series | None = None,
    keep: Sequence[str] | None = None,
    flag: str = "flag",
) -> pd.DataFrame:
    """``table`` with the rows of its ``hidden`` cells (:func:`hidden_cells` of a protected table by ``col``)
    emptied.

    Parameters
    ----------
    table : DataFrame
        A table by ``col`` and ``right``.
    hidden : set of (level, right)
    col : str
    rights : Series, optional
        The right of each row, when it is not the ``right`` column (e.g. ``cmuc`` for ``cmuc:takers``).
    keep : sequence of str, optional
        Without it, ``table`` is an estimate table: hidden rows are flagged ``suppressed`` and blanked as
        :func:`blank_suppressed` does. With it, every column but ``keep`` is emptied (:func:`blank_rows`).

    Examples
    --------
    >>> t = pd.DataFrame({"g": [1, 2], "right": "r:takers", "n": [40, 30], "estimate": [5.0, 6.0], "flag": "ok"})
    >>> blank_hidden(t, {("1", "r")}, "g", rights=pd.Series(["r", "r"]))["flag"].tolist()
    ['suppressed', 'ok']
    """
    right = table["right"].astype(str) if rights is None else rights
    hide = np.fromiter(
        ((lv, r) in hidden for lv, r in zip(table[col].astype(str), right)), dtype=bool, count=len(table)
    )
    if keep is not None:
        return blank_rows(table, hide, keep=keep)
    out = table.copy()
    out[flag] = np.where(hide, "suppressed", out[flag].to_numpy(dtype=object))
    return blank_suppressed(out, flag)


def published_n(table: pd.DataFrame, published: pd.DataFrame, col: str) -> pd.DataFrame:
    """``table``'s ``n`` (respondents per ``col`` x right) as the protected estimate table ``published`` shows it.

    A domain whose estimate is suppressed there keeps its count hidden here too (empty, not 0: a count of 1 to
    ``min_n - 1`` is never published, nor a secondary cell's); 0 is published only for a domain without an
    eligible respondent (no row in ``published``), which describes no one. ``table`` has a ``territory``
    column for the domains ``col`` of ``published``.
    """
    pub = published.rename(columns={col: "territory"})
    pub = pub.assign(territory=pub["territory"].astype(str), right=pub["right"].astype(str))[
        ["territory", "right", "n"]
    ]
    keys = table[["territory", "right"]].astype(str)
    n = keys.merge(pub, on=["territory", "right"], how="left")["n"]
    known = keys.merge(pub.assign(_in=True), on=["territory", "right"], how="left")["_in"].notna().to_numpy()
    n = pd.array(pd.to_numeric(n, errors="coerce"), dtype="Int64")
    n[~known] = 0  # no eligible respondent in the sample: no row in the published table
    return table.assign(n=n)


def publishable_changes(
    changes: pd.DataFrame,
    published: Sequence[pd.DataFrame | None],
    col: str,
    *,
    min_n: int,
    small: np.ndarray | None = None,
) -> pd.DataFrame:
    """The rows of a change table by the domains ``col`` that may be published, ``n_both`` left out.

    A row is kept when its (domain, right) is published (not suppressed) in each table of ``published`` (the
    two years' tables by ``col``; ``None``: none that year) and both its ``n_1`` and ``n_2`` reach ``min_n``.
    ``n_both``, the respondents of both years in a domain, is mostly below ``min_n`` in small domains and would
    sum to a coarser domain's: it is not published per domain. ``small`` (optional, one value per row): rows
    left out besides, e.g. :meth:`~nonrecours.estimation.change.ChangeResult.small_cells` (fewer than ``min_n``
    takers or non-takers in a wave).

    Examples
    --------
    >>> ch = pd.DataFrame({"t": ["a", "b", "c"], "right": "r", "n_1": [40, 5, 30], "n_2": [40, 40, 30],
    ...                    "n_both": [3, 2, 20], "change": 0.1})
    >>> pub = pd.DataFrame({"t": ["a", "b", "c"], "right": "r", "flag": ["ok", "ok", "suppressed"]})
    >>> publishable_changes(ch, [pub, None], "t", min_n=11)["t"].tolist()
    ['a']
    """
    shown = np.ones(len(changes), dtype=bool)
    for pub in published:  # a domain hidden in either year's table stays hidden
        if pub is not None:
            ok = pub[pub["flag"].astype(str) != "suppressed"]
            keys = set(zip(code_key(ok[col]), ok["right"].astype(str)))
            shown &= np.fromiter(
                ((t, r) in keys for t, r in zip(code_key(changes[col]), changes["right"].astype(str))),
                dtype=bool,
                count=len(changes),
            )
    if small is not None:
        shown &= ~np.asarray(small, dtype=bool)
    return changes[shown & (changes["n_1"] >= min_n).to_numpy() & (changes["n_2"] >= min_n).to_numpy()].drop(
        columns="n_both"
    )


def blank_did(did: pd.DataFrame, rights: set[str], gap: str) -> pd.DataFrame:
    """A difference-in-differences table (:meth:`~nonrecours.estimation.change.ChangeResult.did`) with the rows
    of ``rights`` emptied: no change of a gap is published from a hidden domain of that gap."""
    return blank_rows(
        did,
        did["right"].astype(str).isin(rights).to_numpy(),
        keep=("gap", "level_a", "level_b", "right", "year_from", "year_to", gap),
    )


def blank_changes(
    changes: pd.DataFrame,
    by: Sequence[str],
    *,
    min_n: int,
    hidden: set | None = None,
    trend: pd.DataFrame | None = None,
    small: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Change (and trend) tables with every row of a suppressed cell emptied, and ``n_both`` below ``min_n`` too.

    A row is hidden when its (domain, right) is in ``hidden`` (:func:`protect_series`), or when its
    ``n_1`` or ``n_2`` (a change table of ``nonrecours change``) is 1 to ``min_n - 1``. ``n_both``, the
    respondents of both waves, is emptied where it is 1 to ``min_n - 1`` (only the labels are kept). ``small``
    (optional, one value per row of ``changes``): rows hidden besides, e.g.
    :meth:`~nonrecours.estimation.change.ChangeResult.small_cells` (fewer than ``min_n`` takers or non-takers
    in a wave).

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

    hidden_rows = hide(changes)
    if small is not None:
        hidden_rows |= np.asarray(small, dtype=bool)
    out = blank_rows(changes, hidden_rows, keep=labels)
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
    >>> a, b = np.r_[np.ones(5), np.zeros(25)], np.r_[np.zeros(5), np.ones(20), np.zeros(5)]
    >>> X = np.column_stack([np.ones(30), a, b])
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
