"""Fellegi–Sunter training on counts of comparison patterns: ``u`` and the EM sessions in a few statements.

A Fellegi–Sunter model only sees a pair through its comparison vector
(``gamma``: the level each comparison reached). The ``u`` probabilities are
the shares of each level among random pairs, and an EM session's E and M
steps are sums over the pairs of a block: both only need the number of pairs
per pattern of levels. The engine counts the patterns (one ``GROUP BY`` per
sample of pairs, the ``CASE`` expressions rendered by Splink from the
model's own comparisons, in the engine's SQL dialect); the iterations run in
numpy on the few hundred patterns. Counts are integers: the same on any
number of threads, so the trained parameters are the same to the last bit on
every run.

The EM follows Splink's ``estimate_parameters_using_expectation_maximisation``
with ``estimate_without_term_frequencies=True`` and ``u`` fixed (Splink 4/5,
``internals/expectation_maximisation.py`` and ``em_training_session.py``):
comparisons whose columns the session's blocking rule uses are not estimated;
the session starts from the model's prior raised by the Bayes factors of the
exact-match levels the rule implies; each iteration scores the patterns
(match weight ``log2(lambda / (1 - lambda)) + sum_k log2(m_k / u_k)``), then
sets ``m`` of each level to its share of the expected matches (null levels
excluded) and ``lambda`` to the expected share of matches; it stops when no
parameter moves by ``em_convergence`` or after ``max_iterations``. A level
no pair of the session reached is not estimated; the ``m`` of a level
estimated in several sessions is the median of its estimates.

References
----------
Fellegi, I. P. and Sunter, A. B. (1969), A theory for record linkage, *JASA* 64, 1183–1210.
Winkler, W. E. (1988), Using the EM algorithm for weight computation in the Fellegi–Sunter model of record linkage.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Patterns", "hoist_similarities", "pattern_sql", "read_patterns", "u_from_patterns", "em_session", "train_m"]


@dataclass(frozen=True)
class Patterns:
    """Pairs counted per comparison pattern.

    Attributes
    ----------
    gamma : ndarray of int, shape (n_patterns, n_comparisons)
        Each pattern's level per comparison (Splink's comparison vector values: ``-1`` the null level).
    n : ndarray of float, shape (n_patterns,)
        Pairs with that pattern.
    """

    gamma: np.ndarray
    n: np.ndarray


def pattern_sql(comparisons: list, left: str, right: str, on: str) -> str:
    """SQL counting the pairs of ``left`` x ``right`` joined on ``on`` per pattern of the comparisons' levels.

    Parameters
    ----------
    comparisons : list of splink Comparison
        The model's comparisons (``linker._settings_obj.comparisons``): their ``CASE`` expressions are Splink's own,
        in the linker's dialect.
    left, right : str
        Tables (or parenthesised queries) of the two sides, aliased ``l`` and ``r``.
    on : str
        The join condition on ``l.`` and ``r.`` columns (``1 = 1``: every pair).

    Returns
    -------
    str
        A query with one column ``gamma_<comparison>`` per comparison and ``n``, one row per pattern.
    """
    cols: dict[str, str] = {}
    for cc in comparisons:
        for col in cc._input_columns_used_by_case_statement:
            cols[col.name_l] = f"l.{col.name} as {col.name_l}"
            cols[col.name_r] = f"r.{col.name} as {col.name_r}"
    cases, hoisted = hoist_similarities([cc._case_statement for cc in comparisons])
    gammas = ", ".join(cc._gamma_column_name for cc in comparisons)
    pairs = f"select {', '.join(cols.values())} from {left} as l join {right} as r on {on}"
    if hoisted:
        pairs = f"select *{''.join(f', {e} as {n}' for n, e in hoisted)} from ({pairs}) as h"
    case_sql = ",\n".join(cases)
    return f"select {gammas}, count(*) as n from (select {case_sql} from ({pairs}) as p) as g group by {gammas}"


def hoist_similarities(columns: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Splink's comparison columns with each Jaro–Winkler similarity computed once per pair instead of once per level.

    A level ``jaro_winkler_similarity("x_l", "x_r") >= t`` repeats the similarity at each threshold: the pairs
    below the first threshold computed it twice. Where the comparison's ``CASE`` tests ``"x_l" = "x_r"`` first,
    the similarity becomes a column ``__jw_x`` of the pairs, computed where the two differ (where the ``CASE``
    reaches it), and the ``CASE`` reads that column: the same values, the same levels.
    """
    out, hoisted = [], {}
    for col in columns:
        for a, b in sorted(set(re.findall(r'jaro_winkler_similarity\("(\w+)_l", "(\w+)_r"\)', col))):
            call = f'jaro_winkler_similarity("{a}_l", "{b}_r")'
            equal = col.find(f'WHEN "{a}_l" = "{b}_r" THEN')
            if a != b or col.count(call) < 2 or not 0 <= equal < col.find(call):
                continue
            name = f'"__jw_{a}"'
            hoisted[name] = f'case when "{a}_l" <> "{a}_r" then {call} end'
            col = col.replace(call, name)
        out.append(col)
    return out, list(hoisted.items())


def read_patterns(frame: Any, comparisons: list) -> Patterns:
    """The patterns of :func:`pattern_sql`'s result, in lexicographic order (the engine's row order is not fixed)."""
    gamma = np.column_stack([frame[cc._gamma_column_name].to_numpy(dtype=np.int64) for cc in comparisons])
    n = frame["n"].to_numpy(dtype=float)
    order = np.lexsort(gamma.T[::-1]) if len(n) else np.arange(0)
    return Patterns(gamma=gamma[order].reshape(len(n), len(comparisons)), n=n[order])


def u_from_patterns(patterns: Patterns, n_levels: list[int]) -> list[np.ndarray]:
    """Share of each (non-null) level among the pairs, per comparison (``u`` on random pairs; 0: not reached).

    ``n_levels[k]`` is the number of non-null levels of comparison ``k`` (values ``0 .. n_levels[k] - 1``).
    """
    out = []
    for k, size in enumerate(n_levels):
        g = patterns.gamma[:, k]
        ok = g >= 0
        counts = np.bincount(g[ok], weights=patterns.n[ok], minlength=size)
        total = counts.sum()
        out.append(counts / total if total > 0 else np.zeros(size))
    return out


def em_session(
    patterns: Patterns,
    m: list[np.ndarray],
    u: list[np.ndarray],
    lam: float,
    active: list[bool],
    max_iterations: int,
    em_convergence: float,
) -> tuple[list[np.ndarray], float, int]:
    """One EM session on pattern counts, ``u`` fixed: ``m`` of the active comparisons and ``lambda``.

    Parameters
    ----------
    patterns : Patterns
        The session's blocked pairs counted per pattern (every comparison, active or not).
    m, u : list of ndarray
        Per comparison, the probabilities of its non-null levels (index: the comparison vector value).
    lam : float
        The session's starting share of matches among its pairs.
    active : list of bool
        The comparisons estimated (those the session's blocking rule does not use).
    max_iterations, em_convergence : int, float
        At most ``max_iterations`` iterations; stop once no ``m`` nor ``lambda`` moves by ``em_convergence``.

    Returns
    -------
    m : list of ndarray
        The trained ``m`` of the active comparisons (NaN for a level no pair reached); the others' as given.
    lam : float
        The session's last ``lambda``.
    iterations : int

    Notes
    -----
    E step: ``p = 1 / (1 + 2^-w)``, ``w = log2(lambda / (1 - lambda)) + sum_k log2(m_k(g_k) / u_k(g_k))`` over the
    active comparisons (null levels weigh 0). M step, with ``n`` the pairs of each pattern:
    ``m_k(j) = sum_{g_k = j} p n / sum_{g_k >= 0} p n``, ``lambda = sum p n / sum n``.
    """
    m = [a.astype(float).copy() for a in m]
    idx = [k for k, a in enumerate(active) if a]
    g, n = patterns.gamma, patterns.n
    seen = {k: np.bincount(g[:, k][g[:, k] >= 0], minlength=len(m[k])) > 0 for k in idx}
    iterations = 0
    if not n.sum():  # no pair in the session's blocks: nothing to estimate (Splink refuses such a session)
        return [np.full(len(a), np.nan) if k in idx else a for k, a in enumerate(m)], lam, 0
    for _ in range(max_iterations):
        iterations += 1
        # a level with u = 0 (m = 0) weighs +inf (-inf), as in Splink
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.full(len(n), np.log2(np.float64(lam) / (1 - lam)))
            for k in idx:
                lw = np.concatenate(([0.0], np.log2(m[k] / u[k])))  # position 0: the null level
                w = w + lw[g[:, k] + 1]
        with np.errstate(over="ignore"):
            p = np.where(w >= 0, 1.0 / (1.0 + np.exp2(-w)), np.exp2(w) / (1.0 + np.exp2(w)))
        pn = p * n
        new_lam = float(pn.sum() / n.sum())
        change = abs(new_lam - lam)
        for k in idx:
            ok = g[:, k] >= 0
            mc = np.bincount(g[ok, k], weights=pn[ok], minlength=len(m[k]))
            new = np.where(seen[k], mc / mc.sum(), np.nan)
            # Splink compares a level it could not estimate as 1e-6
            change = max(change, float(np.max(np.abs(np.nan_to_num(new, nan=1e-6) - np.nan_to_num(m[k], nan=1e-6)))))
            m[k] = new
        lam = new_lam
        if change < em_convergence:
            break
    return m, lam, iterations


def _bayes_factor_prior(lam: float, factors: list[float]) -> float:
    bf = lam / (1 - lam) if lam != 1 else math.inf
    for f in factors:
        bf *= f
    return bf / (1 + bf)


def train_m(
    sessions: list[tuple[Patterns, list[bool], list[tuple[int, int]]]],
    m: list[np.ndarray],
    u: list[np.ndarray],
    lam: float,
    max_iterations: int,
    em_convergence: float,
) -> list[np.ndarray]:
    """The EM sessions one after the other, as Splink's linker chains them: the model's ``m`` after them.

    Parameters
    ----------
    sessions : list of (Patterns, active, exact_levels)
        Per session its pattern counts, the comparisons it estimates and the (comparison, level) pairs of the
        exact-match levels its blocking rule implies (their Bayes factors raise the session's starting prior).
    m, u : list of ndarray
        The starting ``m`` (Splink's defaults) and the fixed ``u``, per comparison and level.
    lam : float
        The model's prior (not changed by the sessions).

    Returns
    -------
    list of ndarray
        Each level's ``m``: the median of its sessions' estimates, the starting value if no session estimated it.
    """
    start = [a.astype(float).copy() for a in m]
    trained: list[list[list[float]]] = [[[] for _ in a] for a in m]
    current = [a.copy() for a in start]
    for patterns, active, exact in sessions:
        lam0 = _bayes_factor_prior(lam, [current[k][j] / u[k][j] for k, j in exact])
        got, _, _ = em_session(patterns, current, u, lam0, active, max_iterations, em_convergence)
        for k, on in enumerate(active):
            if not on:
                continue
            for j, v in enumerate(got[k]):
                if not np.isnan(v):
                    trained[k][j].append(float(v))
        current = [
            np.array([float(np.median(t)) if t else current[k][j] for j, t in enumerate(trained[k])])
            for k in range(len(m))
        ]
    return current
