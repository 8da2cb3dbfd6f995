"""Published summaries of individual values: a histogram with no small bar, means instead of extremes.

A minimum, a maximum or a histogram bar of a few respondents shows individual
values (one respondent's weight); these summaries are built from ``min_n``
values or more each (:func:`histogram_edges`, :func:`extreme_means`), as the
report's weight distribution and the manifest's weighting summary need.
"""

from __future__ import annotations

import numpy as np

from .policy import DEFAULT_MIN_N

__all__ = ["histogram_edges", "extreme_means", "middle_mean"]


def histogram_edges(values: np.ndarray, *, bins: int = 40, min_n: int = DEFAULT_MIN_N) -> np.ndarray:
    """Edges of a histogram whose every bar counts ``min_n`` values or more (or no bar at all).

    Equal-width bins over the range are merged from the left until each holds
    ``min_n`` values; a remainder joins the last bar. A report's histogram of
    the respondents' weights then shows no bar of 1 to ``min_n - 1``
    respondents (a tail bar would show one respondent's weight).

    Examples
    --------
    >>> v = np.r_[np.ones(30), 5.0, 9.0, np.full(20, 2.0)]
    >>> e = histogram_edges(v, bins=8, min_n=11)
    >>> np.histogram(v, bins=e)[0].tolist()
    [30, 22]
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < min_n:
        return np.array([], dtype=float)
    counts, edges = np.histogram(v, bins=bins)
    keep = [0]
    acc = 0
    for i, c in enumerate(counts):  # at most `bins` bars
        acc += c
        if acc >= min_n:
            keep.append(i + 1)
            acc = 0
    if keep[-1] != len(counts):  # a remainder below min_n joins the last bar
        keep[-1] = len(counts)
    return edges[keep]


def extreme_means(values: np.ndarray, *, min_n: int = DEFAULT_MIN_N) -> tuple[float, float]:
    """The mean of the ``min_n`` smallest and the mean of the ``min_n`` largest values: a published low and high.

    A minimum or a maximum is one individual's value (the largest weight is
    one respondent's); each figure returned is built from ``min_n``
    individuals, as :func:`histogram_edges` makes every bar. With fewer than
    ``min_n`` values both are the mean of all of them.

    Examples
    --------
    >>> extreme_means(np.r_[np.arange(1.0, 21.0), 100.0], min_n=2)
    (1.5, 60.0)
    """
    v = np.asarray(values, dtype=float)
    v = np.sort(v[np.isfinite(v)])
    k = max(1, min(int(min_n), v.size))
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v[:k].mean()), float(v[-k:].mean())


def middle_mean(values: np.ndarray, *, min_n: int = DEFAULT_MIN_N) -> float:
    """The mean of the ``min_n`` middle values (sorted): a published centre that is no one's value.

    A median is one individual's value (or the mean of two); the mean of the
    ``min_n`` values around it is built from ``min_n`` individuals, like
    :func:`extreme_means`. With fewer than ``min_n`` values it is the mean of all of them.

    Examples
    --------
    >>> middle_mean(np.arange(1.0, 22.0), min_n=3)  # 10, 11, 12
    11.0
    >>> middle_mean(np.r_[1.0, 2.0, 3.0, 100.0], min_n=2)
    2.5
    """
    v = np.asarray(values, dtype=float)
    v = np.sort(v[np.isfinite(v)])
    if v.size == 0:
        return float("nan")
    k = max(1, min(int(min_n), v.size))
    start = (v.size - k) // 2
    return float(v[start : start + k].mean())
