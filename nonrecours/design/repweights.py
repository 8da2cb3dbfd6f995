r"""Replicate weights supplied with the data (R survey's ``svrepdesign``).

A data producer may publish replicate weights instead of strata and PSUs. The
columns are picked by a pattern (``rw_*``) or listed, and combined as R's
``svrepdesign(type =, scale =, rscales =, rho =, mse =)`` does with
``combined.weights = TRUE`` (the columns are full replicate weights, not
multipliers):

=========================  ====================================  ===========
type                       scale (default)                       rscales
=========================  ====================================  ===========
``JK1``                    :math:`(R-1)/R`                       1
``JKn``                    1                                     required
``BRR``                    :math:`1/R` (fixed)                   1
``Fay``                    :math:`1/(R(1-\rho)^2)` (fixed)        1
``bootstrap``              :math:`1/(R-1)`                       1
``successive-difference``  :math:`4/R` (fixed)                   1
=========================  ====================================  ===========

and :math:`v = \text{scale}\sum_r \text{rscales}_r(\hat\theta_r - c)^2`, with
:math:`c` the full-sample estimate (``mse``) or the mean of the replicates.

References
----------
Wolter, K. (2007). *Introduction to Variance Estimation*, 2nd ed., Springer (ch. 3-5, 8).
Fay, R. E. and Train, G. F. (1995). Aspects of survey and model-based postcensal estimation of income
and poverty characteristics for states and counties. *ASA Proc. Gov. Stat.*, 154-159 (successive differences).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._checks import check_columns
from ..errors import OptionError, message
from ..options import RepWeightsType, check_option
from .survey_design import Replicates

__all__ = ["replicate_columns", "supplied_replicates"]

_FIXED_SCALE = ("brr", "fay", "successive-difference")


def replicate_columns(data: pd.DataFrame, columns: str | Sequence[str]) -> list[str]:
    """The replicate weight columns: a glob pattern (``rw_*``) in the data's column order, or a list.

    Examples
    --------
    >>> replicate_columns(pd.DataFrame(columns=["w", "rw_1", "rw_2", "y"]), "rw_*")
    ['rw_1', 'rw_2']
    """
    if isinstance(columns, str) and any(ch in columns for ch in "*?["):
        found = [c for c in map(str, data.columns) if fnmatch.fnmatchcase(c, columns)]
        if not found:
            raise OptionError(
                message(
                    "no column matches the replicate weights pattern",
                    where="repweights",
                    expected="columns such as rw_1, rw_2, ...",
                    found=f"pattern {columns!r}",
                )
            )
        return found
    cols = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else list(columns)
    check_columns(data, cols, role="replicate weight column", source="the sample")
    return cols


def supplied_replicates(
    data: pd.DataFrame,
    columns: str | Sequence[str],
    *,
    type: RepWeightsType | str,
    scale: float | None = None,
    rscales: Sequence[float] | np.ndarray | None = None,
    rho: float | None = None,
    mse: bool = False,
) -> Replicates:
    """Replicates from weight columns of ``data`` (R's ``svrepdesign(repweights =, type =, ...)``).

    Parameters
    ----------
    data : DataFrame
    columns : str or list of str
        A glob pattern (``"rw_*"``) or the columns (a list or comma-separated).
    type : {"jk1", "jkn", "brr", "fay", "bootstrap", "successive-difference"}
        Case-insensitive (R's spellings JK1, JKn, BRR, Fay).
    scale : float, optional
        Overall multiplier (JK1, JKn, bootstrap); the others fix their own.
    rscales : array of R floats, optional
        Per-replicate multipliers: required by JKn, 1 otherwise.
    rho : float, optional
        Fay's coefficient, required by (and only by) ``Fay``, 0 <= rho < 1.
    mse : bool
        Centre on the full-sample estimate instead of the mean of the replicates.

    Returns
    -------
    Replicates
        To attach with :meth:`SurveyDesign.with_replicates`.

    Examples
    --------
    >>> df = pd.DataFrame({"rw_1": [0.0, 2.0], "rw_2": [2.0, 0.0]})
    >>> supplied_replicates(df, "rw_*", type="JK1").scale
    0.5
    """
    kind = check_option("type", type.lower() if isinstance(type, str) else type, RepWeightsType)
    cols = replicate_columns(data, columns)
    W = np.column_stack([pd.to_numeric(data[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan) for c in cols])
    R = W.shape[1]
    if kind in _FIXED_SCALE and scale is not None:
        raise OptionError(
            message(
                f"replicate type {type} sets its own scale",
                where="parameter scale",
                found=repr(scale),
                hint="drop the scale (successive-difference: 4/R; BRR: 1/R; Fay: 1/(R (1-rho)^2))",
            )
        )
    if (kind == "fay") != (rho is not None):
        raise OptionError(
            message(
                "Fay's rho goes with replicate type Fay only",
                where="parameter rho",
                found=f"type {kind}, rho {rho!r}",
                hint="e.g. parameter type 'Fay' with parameter rho 0.5",
            )
        )
    if rho is not None and not 0 <= rho < 1:
        raise OptionError(
            message("Fay's rho out of range", where="parameter rho", expected="0 <= rho < 1", found=repr(rho))
        )
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise OptionError(message("replicate scale must be positive", where="parameter scale", found=repr(scale)))
    if kind == "jkn" and rscales is None:
        raise OptionError(
            message(
                "JKn replicate weights need their rscales",
                where="parameter rscales",
                expected=f"{R} values (n_h - 1)/n_h of each replicate's stratum",
                hint="give parameter rscales (one value per replicate)",
            )
        )
    if kind in ("successive-difference",) and rscales is not None:
        raise OptionError(message(f"replicate type {kind} sets its own rscales", where="parameter rscales"))
    r = np.ones(R) if rscales is None else np.asarray(rscales, dtype=float).ravel()
    if r.size not in (1, R) or not (np.isfinite(r) & (r >= 0)).all():
        raise OptionError(
            message(
                "rscales do not fit the replicate weights",
                where="parameter rscales",
                expected=f"{R} non-negative values",
                found=f"{r.size} values",
            )
        )
    if kind == "jk1":
        s = (R - 1) / R if scale is None else scale
    elif kind == "brr":
        s = 1.0 / R
    elif kind == "fay":
        assert rho is not None  # checked above: Fay has its rho
        s = 1.0 / (R * (1 - rho) ** 2)
    elif kind == "bootstrap":
        s = 1.0 / (R - 1) if scale is None else scale
    elif kind == "successive-difference":
        s = 4.0 / R
    else:  # JKn
        s = 1.0 if scale is None else scale
    if np.isnan(W).any():
        raise OptionError(
            message(
                "missing replicate weights",
                where="repweights columns",
                found=f"{int(np.isnan(W).any(axis=1).sum())} rows",
                hint="fill them in (R refuses them too)",
            )
        )
    return Replicates(weights=W, type=kind, scale=s, rscales=r, mse=mse)
