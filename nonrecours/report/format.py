"""The one formatter of the report's numbers, in French and in English.

Every number the report, its sections and the text of the publication
workbook show goes through this module, so that a value reads the same in
every section. One rendering per kind:

========================  =====================  =====================
kind                      French (``fr``)        English (``en``)
========================  =====================  =====================
count (:func:`count`)     ``12 345``             ``12,345``
number (:func:`decimal`)  ``−1 234,50``          ``−1,234.50``
rate (:func:`pct`)        ``65,3 %``             ``65.3 %``
change (:func:`pts`)      ``−5,0 pts``           ``−5.0 pts``
interval (:func:`ci`)     ``[61,0 ; 69,4]``      ``[61.0, 69.4]``
p-value (:func:`pvalue`)  ``< 0,001``, ``0,042``  ``< 0.001``, ``0.042``
in a sentence             ``p < 0,001``          ``p < 0.001``
missing                   ``–``                  ``–``
========================  =====================  =====================

French numbers have a decimal comma and a narrow no-break space (U+202F,
:data:`NNBSP`) between thousands, before ``%`` and before ``pts``; an
interval's bounds are separated by ``" ; "`` (unbreakable) since the comma is
the decimal mark. Negative numbers carry the minus sign U+2212 (:data:`MINUS`)
in both languages, and a value that rounds to zero carries no sign. Rates,
changes and the bounds of their intervals are in percent (percentage points
for a change); the interval's unit is said by its column header.

The labels and translations stay in :mod:`nonrecours.report.i18n`; this
module only turns numbers into text. It also says what each result column
holds (:func:`column_kind`), for the report's generic tables and the number
formats of the publication workbook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .i18n import check_lang

__all__ = [
    "NNBSP",
    "NBSP",
    "MINUS",
    "DASH",
    "KINDS",
    "COLUMN_KINDS",
    "TABLE_KINDS",
    "is_missing",
    "count",
    "decimal",
    "num",
    "pct",
    "pts",
    "interval",
    "ci",
    "pvalue",
    "p_phrase",
    "cell",
    "column_kind",
    "tick",
    "sort_value",
]

#: Narrow no-break space: French thousands separator, and space before ``%`` and ``pts``.
NNBSP = "\u202f"
#: No-break space (after the ``;`` of a French interval).
NBSP = "\u00a0"
#: The minus sign of negative numbers (U+2212), in both languages.
MINUS = "\u2212"
#: What a missing value shows (an en dash).
DASH = "–"
#: Kinds of values a result column can hold (see :func:`cell`).
KINDS = ("count", "rate", "change", "points", "decimal")

_THOUSANDS = {"fr": NNBSP, "en": ","}
_DECIMAL_MARK = {"fr": ",", "en": "."}
_UNIT_SPACE = {"fr": NNBSP, "en": " "}


def _check(lang: Any) -> str:
    return lang if lang in _THOUSANDS else check_lang(lang)  # raises OptionError for another language


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' missing values (``pd.NA``, ``NaT``)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _localise(text: str, lang: str) -> str:
    """``1,234.5`` (Python's grouping) in ``lang``: thousands separator and decimal mark swapped in French."""
    if lang == "fr":
        return text.replace(",", NNBSP).replace(".", ",")
    return text


def decimal(value: Any, lang: str, digits: int = 2, *, signed: bool = False) -> str:
    """A number with ``digits`` decimals and grouped thousands: ``−1 234,50`` (fr), ``−1,234.50`` (en).

    Parameters
    ----------
    value : float or None
        The number (missing: an en dash; infinite: ``∞`` or ``−∞``).
    lang : {"fr", "en"}
    digits : int
        Decimals shown.
    signed : bool
        Show ``+`` before a positive number (for changes). A number that
        rounds to zero has no sign.

    Examples
    --------
    >>> decimal(-1234.5, "fr", 1) == "\\u22121\\u202f234,5", decimal(1234.5, "en", 1, signed=True)
    (True, '+1,234.5')
    """
    _check(lang)
    if is_missing(value):
        return DASH
    v = float(value)
    if math.isinf(v):
        return "∞" if v > 0 else MINUS + "∞"
    text = f"{abs(v):,.{digits}f}"
    zero = not any(c in "123456789" for c in text)
    sign = "" if zero else MINUS if v < 0 else "+" if signed else ""
    return sign + _localise(text, lang)


def count(value: Any, lang: str) -> str:
    """A count (or a weighted count) rounded to the unit: ``12 345`` (fr), ``12,345`` (en).

    Examples
    --------
    >>> count(12345.4, "fr") == "12\\u202f345", count(12345.4, "en")
    (True, '12,345')
    """
    return decimal(value, lang, 0)


def num(value: Any, lang: str, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (trailing zeros dropped, grouped thousands, no exponent);
    integers, and numbers with ``digits`` or more figures before the decimal mark, rounded to the unit.

    Examples
    --------
    >>> num(12345.0, "en"), num(0.123456, "fr"), num(-0.5, "en"), num(1234.56, "en", 4), num(0.0000123, "en")
    ('12,345', '0,123', '−0.5', '1,235', '0.0000123')
    """
    _check(lang)
    if is_missing(value):
        return DASH
    v = float(value)
    if math.isinf(v) or v == 0 or v == int(v) or abs(v) >= 10**digits:
        return decimal(v, lang, 0)
    places = max(digits - 1 - math.floor(math.log10(abs(v))), 0)
    text = decimal(v, lang, places)
    if places:  # 0.500 -> 0.5, as a significant-digit format would
        text = text.rstrip("0").rstrip(_DECIMAL_MARK[lang])
    return text


def pct(value: Any, lang: str, digits: int = 1) -> str:
    """A proportion as a percentage: ``0.6531`` gives ``65,3 %`` (fr, U+202F before %) or ``65.3 %`` (en).

    Examples
    --------
    >>> pct(0.6531, "fr") == "65,3\\u202f%", pct(0.6531, "en"), pct(None, "en")
    (True, '65.3 %', '–')
    """
    if is_missing(value):
        return DASH
    return decimal(100.0 * float(value), lang, digits) + _UNIT_SPACE[lang] + "%"


def pts(value: Any, lang: str, digits: int = 1, *, signed: bool = True) -> str:
    """A difference of proportions in percentage points: ``-0.05`` gives ``−5,0 pts`` (fr) or ``−5.0 pts`` (en).

    ``signed=True`` (a change, a gap, a bias) shows ``+`` before a positive value;
    ``signed=False`` (a standard error, an RMSE, a width) does not.

    Examples
    --------
    >>> pts(-0.05, "fr") == "\\u22125,0\\u202fpts", pts(0.02, "en"), pts(0.012, "en", 2, signed=False)
    (True, '+2.0 pts', '1.20 pts')
    """
    if is_missing(value):
        return DASH
    return decimal(100.0 * float(value), lang, digits, signed=signed) + _UNIT_SPACE[lang] + "pts"


def interval(low: str, high: str, lang: str) -> str:
    """Two formatted bounds as an interval: ``[a ; b]`` (fr, unbreakable), ``[a, b]`` (en)."""
    if lang == "fr":
        return f"[{low}{NNBSP};{NBSP}{high}]"
    _check(lang)
    return f"[{low}, {high}]"


def ci(low: Any, high: Any, lang: str, digits: int = 1, *, kind: str = "rate") -> str:
    """A confidence interval, its bounds in the unit of ``kind`` without the unit's sign.

    Parameters
    ----------
    low, high : float
        The bounds (either missing: an en dash).
    lang : {"fr", "en"}
    digits : int
        Decimals of the bounds (``kind="count"``: none).
    kind : {"rate", "change", "points", "count", "decimal"}
        ``"rate"`` and ``"points"``: bounds in percent, ``[61,0 ; 69,4]``;
        ``"change"``: in percentage points with their sign, ``[−9,0 ; +1,0]``;
        ``"count"``: rounded to the unit; ``"decimal"``: as they are.

    Examples
    --------
    >>> ci(0.61, 0.694, "en"), ci(-0.09, 0.01, "en", kind="change")
    ('[61.0, 69.4]', '[−9.0, +1.0]')
    """
    if kind not in KINDS:
        from ..errors import OptionError, message

        raise OptionError(
            message(
                "unknown kind of interval",
                where="kind",
                expected=" or ".join(KINDS),
                found=repr(kind),
                hint="'rate' for take-up rates, 'change' for differences",
            )
        )
    if is_missing(low) or is_missing(high):
        _check(lang)
        return DASH
    scale = 100.0 if kind in ("rate", "change", "points") else 1.0
    digits = 0 if kind == "count" else digits
    signed = kind == "change"
    a, b = (decimal(scale * float(v), lang, digits, signed=signed) for v in (low, high))
    return interval(a, b, lang)


def pvalue(value: Any, lang: str) -> str:
    """A p-value in a table cell: three decimals, ``< 0,001`` (fr) / ``< 0.001`` (en) below.

    Examples
    --------
    >>> pvalue(0.0004, "en"), pvalue(0.0423, "fr"), pvalue(1.0, "en")
    ('< 0.001', '0,042', '1.000')
    """
    if is_missing(value):
        _check(lang)
        return DASH
    v = float(value)
    if v < 0.001:
        return "< " + decimal(0.001, lang, 3)
    return decimal(v, lang, 3)


def p_phrase(value: Any, lang: str) -> str:
    """A p-value in a sentence: ``p < 0,001``, ``p = 0,042`` (fr); ``p < 0.001``, ``p = 0.042`` (en).

    Examples
    --------
    >>> p_phrase(0.0004, "en"), p_phrase(0.0423, "en")
    ('p < 0.001', 'p = 0.042')
    """
    text = pvalue(value, lang)
    return "p " + text if text.startswith("<") else f"p = {text}"


def cell(value: Any, kind: str | None, lang: str, digits: int = 4) -> str:
    """A value of a result column of ``kind`` (see :func:`column_kind`); other numbers with ``digits``
    significant digits (:func:`num`)."""
    if kind == "count":
        return count(value, lang)
    if kind == "rate":
        return pct(value, lang)
    if kind in ("change", "points"):
        return pts(value, lang, signed=kind == "change")
    return num(value, lang, digits)


#: What the result columns hold, wherever they appear: ``rate`` (a proportion, shown in percent),
#: ``change`` (a signed difference of proportions, in percentage points), ``points`` (an unsigned quantity in
#: percentage points), ``count`` and ``decimal``; a column not listed is a plain number.
COLUMN_KINDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "estimate",
            "ci_low",
            "ci_high",
            "cv",
            "direct",
            "eblup",
            "synthetic",
            "truth",
            "rate",
            "rate_adjusted",
            "sample_estimate",
            "sample_ci_low",
            "sample_ci_high",
            "admin_rate",
            "admin_rate_adjusted",
            "admin_ci_low",
            "admin_ci_high",
            "estimate_a",
            "estimate_b",
            "coverage",
            "share_number",
            "est_precision",
            "est_recall",
            "true_precision",
            "true_recall",
            "response_rate",
            "ci_low_logit",
            "ci_high_logit",
        ),
        "rate",
    ),
    "gap": "change",
    "halfwidth": "points",
    **dict.fromkeys(
        (
            "n",
            "N_h",
            "n_h",
            "n_eligible",
            "n_takers",
            "n_non_takers",
            "sample_n",
            "admin_n_eligible",
            "n_left",
            "links_number",
            "links_probabilistic",
            "true_links",
            "cells",
            "n_sample",
            "n_respondents",
        ),
        "count",
    ),
    **dict.fromkeys(
        (
            "se",
            "se_direct",
            "rmse",
            "mse",
            "deff",
            "gamma",
            "p_value",
            "p_adjusted",
            "bias",
            "mae",
            "relative_rmse",
            "mean_ci_width",
            "difference",
            "moved",
            "mae_observed",
            "mae_adjusted",
            "mean_error_observed",
            "mean_error_adjusted",
            "takers_adjusted",
            "expected_false_links",
            "expected_missed_links",
            "odds_ratio",
            "or_low",
            "or_high",
            "t",
            "statistic",
            "F",
            "value",
            "ndf",
            "ddf",
            "df",
            "threshold",
        ),
        "decimal",
    ),
}
#: Columns whose meaning differs in one table: weighted counts of takers and non-takers, model coefficients
#: (log odds ratios), differences of rates and errors in percentage points.
TABLE_KINDS: dict[str, dict[str, str]] = {
    "analysis_nontakers": {"estimate": "count", "se": "count", "ci_low": "count", "ci_high": "count"},
    "analysis_model": {"estimate": "decimal", "ci_low": "decimal", "ci_high": "decimal"},
    "admin_comparison": {"difference": "change"},
    "comparison_summary": {"bias": "change", "rmse": "points", "mae": "points", "mean_ci_width": "points"},
}


def column_kind(
    column: str, table: str | None = None, kinds: Mapping[str, Mapping[str, str]] = TABLE_KINDS
) -> str | None:
    """What a result column holds (one of :data:`KINDS`), in ``table`` when given; None when unknown."""
    return kinds.get(table or "", {}).get(column) or COLUMN_KINDS.get(column)


def tick(value: float, lang: str) -> str:
    """An axis tick label: the shortest form of the number (``2,5``, ``−1``; ``g`` format) in ``lang``."""
    return _localise(f"{value:g}", lang).replace("-", MINUS)


def sort_value(value: Any) -> str:
    """A value as the page's sort reads it (not shown): plain decimal text, empty when missing."""
    return "" if is_missing(value) else f"{float(value):.6f}"
