r"""The first-stage matrix of a PPS-without-replacement design (R survey's ``dcheck``).

For a first stage drawn with unequal probabilities without replacement, the
Horvitz-Thompson variance of the PSU totals :math:`z_i` (already divided by
:math:`\pi_i`: the weighted linearised values summed per PSU) is the quadratic
form :math:`z^\top \check\Delta z` with

.. math:: \check\Delta_{ij} = \frac{\pi_{ij} - \pi_i \pi_j}{\pi_{ij}},\qquad
          \check\Delta_{ii} = 1 - \pi_i,

and the Sen-Yates-Grundy form subtracts :math:`\sum_i z_i^2 \sum_j \check\Delta_{ij}`,
i.e. uses :math:`\check\Delta - \mathrm{diag}(\check\Delta 1)`, which is
:math:`-\tfrac12\sum_{i \ne j}\check\Delta_{ij}(z_i - z_j)^2` (R survey's
``htvar.matrix`` and ``ygvar.matrix``). The joint probabilities come from the
user (``ht``, ``yg``) or from an approximation within strata of :math:`n_h`
sampled PSUs (R survey's ``overton2Dcheck`` and ``HRDcheck``, pairs in
different strata independent):

* Overton: :math:`\check\Delta_{ij} = 1 - (n_h - \bar f_{ij})/(n_h - 1)`,
  :math:`\bar f_{ij} = (\pi_i + \pi_j)/2`;
* Hartley-Rao: :math:`\check\Delta_{ij} = 1 - (n_h - \pi_i - \pi_j + \bar p_h)/(n_h - 1)`,
  :math:`\bar p_h` the mean of the sampled :math:`\pi` of the stratum (R's ``HR()``,
  which estimates :math:`\sum_{U_h}\pi^2/n_h`);

and, as in R, a pair whose :math:`\pi_i + \pi_j` (Hartley-Rao) or
:math:`\bar f_{ij}` (Overton) equals 1 gets 0.

References
----------
Overton, W. S. (1985). A sampling plan for streams in the National Stream Survey. Oregon State University TR 114.
Hartley, H. O. and Rao, J. N. K. (1962). Sampling with unequal probabilities and without replacement.
*Ann. Math. Statist.* 33, 350-374.
Sen, A. R. (1953); Yates, F. and Grundy, P. M. (1953). *JRSS B* 15, 253-261.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._frozen import freeze_arrays
from ..errors import DesignError, InputError, message

__all__ = [
    "JointProbabilities",
    "pps_blocks",
    "pps_matrix",
    "pps_factor",
    "quadratic_factor",
    "joint_path",
    "JOINT_COLUMNS",
]

#: Columns of a joint inclusion probabilities file (one row per pair of PSUs).
JOINT_COLUMNS = ("psu_i", "psu_j", "pi_ij")


def joint_path(sample) -> Path:  # noqa: ANN001
    """``sample.csv`` -> ``sample.joint.csv``: joint probabilities ``nonrecours sample --method sampford`` writes."""
    p = Path(sample)
    return p.with_name(p.stem + ".joint.csv")


@dataclass(frozen=True, eq=False)
class JointProbabilities:
    """Joint inclusion probabilities of pairs of first-stage units.

    Parameters
    ----------
    psu_i, psu_j : array of labels
        The two PSUs of each pair (as in the design's PSU column; compared as text).
    pi_ij : ndarray of float
        Their joint inclusion probability. A pair may be given once or in both orders;
        the diagonal (``psu_i == psu_j``) may be omitted. Pairs of PSUs in different
        strata that are not listed are independent (:math:`\\pi_{ij} = \\pi_i\\pi_j`).
    """

    psu_i: np.ndarray
    psu_j: np.ndarray
    pi_ij: np.ndarray

    def __post_init__(self) -> None:
        i = np.asarray(self.psu_i).astype(str).astype(object)
        j = np.asarray(self.psu_j).astype(str).astype(object)
        p = np.asarray(self.pi_ij, dtype=float).ravel()
        if not (i.size == j.size == p.size):
            raise DesignError(
                message(
                    "joint probabilities are not aligned",
                    where="JointProbabilities",
                    expected="psu_i, psu_j and pi_ij of the same length",
                    found=f"{i.size}, {j.size}, {p.size}",
                )
            )
        bad = ~(np.isfinite(p) & (p > 0) & (p <= 1))
        if bad.any():
            raise DesignError(
                message(
                    "joint inclusion probabilities out of range",
                    where="column 'pi_ij'",
                    expected="0 < pi_ij <= 1",
                    found=f"{int(bad.sum())} pairs",
                )
            )
        object.__setattr__(self, "psu_i", i)
        object.__setattr__(self, "psu_j", j)
        object.__setattr__(self, "pi_ij", p)
        freeze_arrays(self)

    @classmethod
    def from_frame(cls, table: pd.DataFrame, *, source: str = "the joint probabilities") -> JointProbabilities:
        """Read the columns ``psu_i``, ``psu_j``, ``pi_ij`` of ``table``."""
        missing = [c for c in JOINT_COLUMNS if c not in table.columns]
        if missing:
            raise InputError(
                message(
                    "not a joint probabilities table",
                    where=source,
                    expected="columns " + ", ".join(JOINT_COLUMNS),
                    found=f"missing {', '.join(missing)}",
                    hint="one row per pair of sampled PSUs, as 'nonrecours sample --method sampford' "
                    "writes beside the sample",
                )
            )
        p = pd.to_numeric(table["pi_ij"], errors="coerce")
        return cls(table["psu_i"].to_numpy(), table["psu_j"].to_numpy(), p.to_numpy(dtype=float, na_value=np.nan))

    def to_frame(self) -> pd.DataFrame:
        """The pairs as a table with the columns ``psu_i``, ``psu_j``, ``pi_ij``."""
        return pd.DataFrame({"psu_i": self.psu_i, "psu_j": self.psu_j, "pi_ij": self.pi_ij})


def _joint_pairs(joint: JointProbabilities, psu_labels: np.ndarray, pi: np.ndarray, psu_stratum: np.ndarray):
    """Codes and :math:`\\check\\Delta` of the listed pairs of sampled PSUs (each once, i < j), checked."""
    pos = pd.Index(np.asarray(psu_labels).astype(str))
    ci = pos.get_indexer(joint.psu_i)
    cj = pos.get_indexer(joint.psu_j)
    keep = (ci >= 0) & (cj >= 0) & (ci != cj)  # pairs of PSUs outside the sample are not needed
    i, j = np.minimum(ci[keep], cj[keep]), np.maximum(ci[keep], cj[keep])
    pij = joint.pi_ij[keep]
    _key, first = np.unique(i * pi.size + j, return_index=True)
    i, j, pij = i[first], j[first], pij[first]
    over = pij > np.minimum(pi[i], pi[j]) * (1 + 1e-9)
    if over.any():
        raise DesignError(
            message(
                "joint inclusion probabilities larger than a single one",
                where="column 'pi_ij'",
                expected="pi_ij <= min(pi_i, pi_j)",
                found=f"{int(over.sum())} pairs",
                hint="the FPC column must hold the PSUs' inclusion probabilities",
            )
        )
    # every pair of non-certainty PSUs of a stratum must be listed (a certainty PSU: pi_ij = pi_j)
    st = np.asarray(psu_stratum)
    free = pi < 1
    m = np.bincount(st[free], minlength=int(st.max()) + 1).astype(np.int64)
    need = int((m * (m - 1) // 2).sum())
    have = int(np.count_nonzero((st[i] == st[j]) & free[i] & free[j]))
    if have < need:
        raise DesignError(
            message(
                "joint probabilities missing for pairs of PSUs of the same stratum",
                where="joint probabilities",
                expected="every pair of sampled PSUs of a stratum",
                found=f"{need - have} pairs missing",
                hint="give psu_i, psu_j, pi_ij for each pair (PSU labels as in the PSU column)",
            )
        )
    return i, j, (pij - pi[i] * pi[j]) / pij


def pps_blocks(
    method: str,
    pi: np.ndarray,
    psu_stratum: np.ndarray,
    *,
    joint: JointProbabilities | None = None,
    psu_labels: np.ndarray | None = None,
    p2bar: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The matrix :math:`M` of the first-stage variance :math:`z^\\top M z` as diagonal blocks.

    Parameters
    ----------
    method : {"overton", "hartley-rao", "ht", "yg"}
    pi : ndarray (U,)
        Inclusion probability of each sampled PSU.
    psu_stratum : ndarray of int (U,)
        Stratum of each PSU.
    joint : JointProbabilities, optional
        Required by ``ht`` and ``yg``.
    psu_labels : array (U,), optional
        Labels of the PSU codes (to place the joint probabilities).
    p2bar : ndarray (H,), optional
        ``hartley-rao``: the population's :math:`\\sum_k \\pi_k^2 / n_h` of each stratum
        (R's ``HR(psum)``); without it, the mean of the stratum's sampled probabilities.

    Returns
    -------
    list of (ndarray of PSU codes, ndarray block)
        One block per stratum (PSUs of different strata are independent:
        :math:`\\check\\Delta_{ij} = 0`), or a single block when the joint probabilities
        make PSUs of different strata dependent. A block is :math:`\\check\\Delta`
        (Horvitz-Thompson form), or for ``yg`` :math:`\\check\\Delta - \\mathrm{diag}(\\check\\Delta 1)`.
    """
    pi = np.asarray(pi, float)
    st = np.asarray(psu_stratum)
    U = pi.size
    if method in ("ht", "yg"):
        assert joint is not None and psu_labels is not None  # required by ht and yg (SurveyDesign checks it)
        i, j, d = _joint_pairs(joint, psu_labels, pi, st)
        cross = (st[i] != st[j]) & (np.abs(d) > 0)
        groups = np.zeros(U, np.int64) if cross.any() else st
    else:
        groups = st
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    members = np.split(order, bounds)
    where = np.empty(U, np.int64)  # position of each PSU within its block
    for idx in members:
        where[idx] = np.arange(idx.size)
    blocks = []
    for idx in members:  # one small dense block per stratum (their sizes differ)
        p = pi[idx]
        k = idx.size
        if method in ("ht", "yg"):
            D = np.zeros((k, k))
            inb = groups[i] == groups[idx[0]]
            a, b = where[i[inb]], where[j[inb]]
            D[a, b] = d[inb]
            D[b, a] = d[inb]
            np.fill_diagonal(D, 1 - p)
            if method == "yg":
                D = D - np.diag(D.sum(axis=1))
        else:
            D = _approximate_block(method, p, None if p2bar is None else float(p2bar[groups[idx[0]]]))
        blocks.append((idx, D))
    return blocks


def _approximate_block(method: str, p: np.ndarray, p2bar: float | None = None) -> np.ndarray:
    """Overton's or Hartley-Rao's :math:`\\check\\Delta` within one stratum of ``p.size`` sampled PSUs (R's dcheck).

    ``p2bar`` is Hartley-Rao's :math:`\\sum_{k \\in U} \\pi_k^2 / n` (R's ``HR(psum)``); None: the mean of ``p``.
    """
    n = float(p.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "overton":
            fbar = (p[:, None] + p[None, :]) / 2
            D = 1 - (n - fbar) / (n - 1)
            zero = fbar == 1
        else:  # hartley-rao: R's HR(), the mean of the sampled pi estimating sum(pi^2)/n
            fsum = p[:, None] + p[None, :]
            D = 1 - (n - fsum + (p.mean() if p2bar is None else p2bar)) / (n - 1)
            zero = fsum == 1
    D[zero] = 0.0
    np.fill_diagonal(D, 1 - p)
    return D


def pps_matrix(
    method: str,
    pi: np.ndarray,
    psu_stratum: np.ndarray,
    *,
    joint: JointProbabilities | None = None,
    psu_labels: np.ndarray | None = None,
    p2bar: np.ndarray | None = None,
) -> np.ndarray:
    """The dense matrix :math:`M` (PSUs x PSUs) of :func:`pps_blocks` (for small designs and tests)."""
    pi = np.asarray(pi, float)
    M = np.zeros((pi.size, pi.size))
    for idx, D in pps_blocks(method, pi, psu_stratum, joint=joint, psu_labels=psu_labels, p2bar=p2bar):
        M[np.ix_(idx, idx)] = D
    return M


def pps_factor(blocks: list[tuple[np.ndarray, np.ndarray]], U: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Sparse P, N (rows x U) with :math:`M = P^\\top P - N^\\top N`, block by block."""
    rows_p: list[tuple] = []
    rows_n: list[tuple] = []
    for idx, D in blocks:
        P, N = quadratic_factor(D)
        for F, out in ((P, rows_p), (N, rows_n)):
            if F.shape[0]:
                r, c = np.nonzero(F)
                out.append((F[r, c], r, idx[c], F.shape[0]))

    def _stack(parts):
        off, data, rr, cc = 0, [], [], []
        for v, r, c, m in parts:
            data.append(v)
            rr.append(r + off)
            cc.append(c)
            off += m
        if not parts:
            return sp.csr_matrix((0, U))
        return sp.csr_matrix((np.concatenate(data), (np.concatenate(rr), np.concatenate(cc))), shape=(off, U))

    return _stack(rows_p), _stack(rows_n)


def quadratic_factor(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factors P, N with :math:`M = P^\\top P - N^\\top N` (from the eigendecomposition of the symmetric M).

    Zero eigenvalues (below :math:`10^{-14}\\max|\\lambda|`) are dropped, so that a
    matrix of rank r gives r rows in all.
    """
    M = (M + M.T) / 2
    lam, Q = np.linalg.eigh(M)
    tol = 1e-14 * max(float(np.abs(lam).max(initial=0.0)), 1e-300)
    pos, neg = lam > tol, lam < -tol
    P = np.sqrt(lam[pos])[:, None] * Q[:, pos].T
    N = np.sqrt(-lam[neg])[:, None] * Q[:, neg].T
    return P, N
