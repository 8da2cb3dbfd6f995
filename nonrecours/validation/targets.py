"""Estimands of a validation study and their true values, from the population itself.

The truth of every estimand is the finite-population take-up rate of its
domain (takers / eligible recipients), computed from the recipients table in
one ``np.bincount`` pass per domain family and right (no loop over domains).
Domain columns are coded once as integers (``np.unique`` order, the order of
the labels kept here), and the samples carry those codes, so that an
estimate's domain maps to its estimand by integer indexing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..options import ValidationLevel, choices

__all__ = ["FAMILY_COLUMN", "Targets", "build_targets", "code_column"]

#: Domain column of each level estimated by domains (``gap`` is QPV minus non-QPV).
FAMILY_COLUMN = {"national": None, "qpv": "is_qpv", "benefit": "benefit", "territory": "territory"}


def code_column(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (0..L-1, sorted levels) and the text labels of a domain column."""
    codes, uniques = pd.factorize(values, sort=True)
    labels = np.asarray(pd.Index(uniques).astype(str), dtype=object)
    return codes.astype(np.int64), labels


@dataclass(frozen=True, eq=False)
class Targets:
    """The estimands of a study: key table, truth and where each level's block starts.

    Attributes
    ----------
    table : DataFrame
        One row per estimand: ``level``, ``domain``, ``right``, ``truth``.
    offsets : dict of str to int
        First row of each level's block; within a block, row ``offset + d * V + v``
        is domain ``d`` (label order) and right ``v``.
    labels : dict of str to ndarray
        Domain labels of each level (``("all",)`` for national, ``("1 - 0",)`` for the gap).
    rights : tuple of str
    """

    table: pd.DataFrame
    offsets: dict
    labels: dict
    rights: tuple[str, ...]

    @property
    def truth(self) -> np.ndarray:
        """True values, one per estimand."""
        return self.table["truth"].to_numpy(dtype=float)

    def positions(self, level: str, domain_codes: np.ndarray) -> np.ndarray:
        """Rows of the estimands of a result with ``domain_codes`` (one per domain), domain-major, right-minor."""
        V = len(self.rights)
        d = np.asarray(domain_codes, dtype=np.int64)
        return (self.offsets[level] + d[:, None] * V + np.arange(V)[None, :]).ravel()


def _rates(codes: np.ndarray, L: int, values: list[np.ndarray]) -> np.ndarray:
    """Finite-population rates (L, V): takers / eligible by domain code."""
    out = np.empty((L, len(values)))
    for v, y in enumerate(values):  # loop over rights, never over domains
        elig = ~np.isnan(y)
        n = np.bincount(codes[elig], minlength=L)
        t = np.bincount(codes[elig], weights=y[elig], minlength=L)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, v] = np.where(n > 0, t / np.maximum(n, 1), np.nan)
    return out


def build_targets(
    recipients: pd.DataFrame,
    rights: Sequence[str],
    levels: Sequence[str],
    codes: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
) -> Targets:
    """Truth of every level x domain x right of ``levels``.

    Parameters
    ----------
    recipients : DataFrame
        The population (right columns float, NaN = not eligible).
    rights : sequence of str
    levels : sequence of str
        A subset of the :class:`~nonrecours.options.ValidationLevel` values.
    codes, labels : dict
        Integer codes of ``is_qpv``, ``benefit`` and ``territory`` (:func:`code_column`) and their labels.
    """
    values = [recipients[r].to_numpy(dtype=float) for r in rights]
    V = len(rights)
    blocks, offsets, labs, start = [], {}, {}, 0
    for level in choices(ValidationLevel):
        if level not in levels:
            continue
        if level == "national":
            rate, lab = _rates(np.zeros(len(recipients), np.int64), 1, values), np.array(["all"], dtype=object)
        elif level == "gap":
            q = _rates(codes["is_qpv"], len(labels["is_qpv"]), values)
            hi, lo = len(labels["is_qpv"]) - 1, 0  # last minus first level: is_qpv 1 - 0
            rate = (q[hi] - q[lo])[None, :]
            lab = np.array([f"{labels['is_qpv'][hi]} - {labels['is_qpv'][lo]}"], dtype=object)
        else:
            col = FAMILY_COLUMN[level]
            assert col is not None  # the national level is handled above
            lab = labels[col]
            rate = _rates(codes[col], len(lab), values)
        offsets[level], labs[level] = start, lab
        blocks.append(
            pd.DataFrame(
                {
                    "level": level,
                    "domain": np.repeat(lab, V),
                    "right": np.tile(np.asarray(rights, dtype=object), len(lab)),
                    "truth": rate.ravel(),
                }
            )
        )
        start += rate.size
    table = pd.concat(blocks, ignore_index=True)
    return Targets(table=table, offsets=offsets, labels=labs, rights=tuple(rights))
