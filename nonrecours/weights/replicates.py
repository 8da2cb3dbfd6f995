"""Replicate weights: JK1, JKn, Rao–Wu bootstrap, BRR and Fay.

Every generator returns ``design.with_replicates(Replicates(W, type, scale,
rscales, mse))`` where ``W`` (n x R) holds full replicate weights (sampling
weight times the replicate multiplier) and the variance of an estimator is
``scale * sum_r rscales_r (theta_r - c)^2`` (R's ``svrVar``), with the
constants of R's ``as.svrepdesign``:

========= =================================== ============================== =======================
type      multiplier of PSU k (stratum h)     scale                          rscales
========= =================================== ============================== =======================
JK1       0 if k deleted, else n/(n-1)        (1 - n/N)(n-1)/n               1
JKn       0 if k deleted, n_h/(n_h-1) in h,   1                              (1 - n_h/N_h)(n_h-1)/n_h
          1 elsewhere
bootstrap 1 - a_h + a_h n_h/(n_h-1) r_hk      1/(B-1)                        1
BRR/Fay   2 - rho or rho by Hadamard sign     1/(R (1-rho)^2)                1
========= =================================== ============================== =======================

``r_hk`` is the number of times PSU k is drawn among ``n_h - 1`` draws with
replacement, ``a_h = sqrt(1 - n_h/N_h)`` (1 without FPC): the Rao–Wu (1988)
rescaling bootstrap with ``m_h = n_h - 1`` (R's ``subbootweights`` without
FPC; with FPC, Rao, Wu & Yue 1992). For BRR, strata of two PSUs each are
matched to rows 2..H+1 of a Sylvester Hadamard matrix of order
``2^ceil(log2(H+1))`` (full orthogonal balance; R uses other Hadamard
matrices, so its BRR replicates differ but give the same variances for linear
statistics). BRR and Fay drop the FPC, as R does.

When the design is calibrated, pass the :class:`CalibrationResult`: each
replicate is then re-calibrated to the same totals (all replicates solved at
once), as R's ``calibrate`` on a replicate design.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import scipy.linalg

from .._parallel import check_workers, chunks, ordered_map, spawn
from ..design.survey_design import Replicates
from ..errors import DesignError, NonrecoursWarning, OptionError, message
from ..options import ReplicateType, check_option
from .calibration import recalibrate_replicates

if TYPE_CHECKING:  # pragma: no cover
    from ..design.survey_design import SurveyDesign
    from .calibration import CalibrationResult

__all__ = ["make_replicates", "replicate_multipliers", "replicate_weights", "sylvester_hadamard"]

R_NAMES = {"jk1": "JK1", "jkn": "JKn", "bootstrap": "bootstrap", "brr": "BRR", "fay": "Fay"}

#: Largest n x R replicate matrix built (float64 cells); beyond, use the bootstrap with fewer replicates.
MAX_CELLS = 400_000_000


def sylvester_hadamard(size: int) -> np.ndarray:
    """Sylvester Hadamard matrix of the smallest power-of-2 order >= ``size``."""
    k = 1 << max(0, int(np.ceil(np.log2(max(size, 1)))))
    return scipy.linalg.hadamard(k)


def _lonely(st, rule: str, where: str) -> np.ndarray:
    """Strata with one PSU; raise under rule 'fail'."""
    lonely = st.n_h == 1
    if lonely.any() and rule == "fail":
        labels = ", ".join(map(str, st.stratum_labels[lonely][:10]))
        raise DesignError(
            message(
                "strata with a single PSU",
                where=where,
                found=f"{int(lonely.sum())} strata ({labels})",
                hint="choose lonely_psu='remove', 'certainty', 'average' or 'adjust', or merge strata",
            )
        )
    return lonely


def _check_boot(replicates) -> int:
    if not isinstance(replicates, (int, np.integer)) or isinstance(replicates, bool) or replicates < 2:
        raise OptionError(
            message("the bootstrap needs at least 2 replicates", where="parameter replicates", found=repr(replicates))
        )
    return int(replicates)


@dataclass(frozen=True, eq=False)
class _RaoWu:
    """What every chunk of Rao–Wu bootstrap multipliers needs (the unit of work of a worker)."""

    U: int
    lo: np.ndarray
    size: np.ndarray
    order: np.ndarray | None
    slope: np.ndarray
    base: np.ndarray | None

    def run(self, nb: int, rng: np.random.Generator) -> np.ndarray:
        """Multipliers (nb, U) of ``nb`` replicates drawn from ``rng``."""
        U = self.U
        u = rng.random((nb, self.lo.size))
        u *= self.size
        pos = u.astype(np.int64)  # floor (u >= 0), exactly as lo + floor(u * size) in floats
        pos += self.lo
        draws = pos if self.order is None else self.order[pos]  # PSU code of each draw
        draws += (np.arange(nb) * U)[:, None]
        r = np.bincount(draws.ravel(), minlength=nb * U).reshape(nb, U)
        mult = np.multiply(r, self.slope, dtype=float)
        if self.base is not None:
            mult += self.base
        return mult


def _bootstrap_chunks(design: SurveyDesign, B: int, seed, *, cells: int = 2_000_000, workers: int = 1):
    """Yield ``(b0, mult)``: Rao–Wu multipliers (nb, n_psu) of replicates b0 .. b0+nb-1, PSU-code order.

    Each stratum h draws ``n_h - 1`` of its PSUs with replacement (uniform
    floats mapped to PSU positions, all strata and replicates of a chunk in
    one vectorised draw); the counts come from one ``np.bincount``. Chunks stay
    small (``cells``) so that their temporaries are reused, not page-faulted anew.
    Chunk k draws from the k-th stream spawned from ``seed``
    (``SeedSequence.spawn``), its size fixed by the design alone: the
    multipliers are the same whatever the number of ``workers`` running the chunks.
    """
    workers = check_workers(workers)
    st = design.structure
    H, U, N_h, n_h = st.n_strata, st.n_psu, st.N_h, st.n_h
    lonely = _lonely(st, design.lonely_psu, "bootstrap replicates")
    order = np.argsort(st.psu_stratum, kind="stable")  # PSU codes grouped by stratum
    start = np.concatenate([[0], np.cumsum(n_h)[:-1]]).astype(np.int64)
    m_h = np.where(lonely, 0, n_h - 1).astype(np.int64)
    slot_h = np.repeat(np.arange(H), m_h)  # stratum of each draw
    with np.errstate(divide="ignore", invalid="ignore"):
        a_h = np.where(np.isfinite(N_h), np.sqrt(np.clip(1 - n_h / N_h, 0, 1)), 1.0)
    a_h = np.where(lonely, 0.0, a_h)
    k_h = np.where(lonely, 0.0, n_h / np.maximum(n_h - 1, 1))
    base = (1 - a_h)[st.psu_stratum]
    slope = (a_h * k_h)[st.psu_stratum]
    identity = bool(np.array_equal(order, np.arange(U)))
    # without FPC: multiplier = slope * r exactly (adding +0.0 changes nothing)
    draw = _RaoWu(
        U=U,
        lo=start[slot_h],
        size=n_h[slot_h].astype(float),
        order=None if identity else order,
        slope=slope,
        base=base if base.any() else None,
    )
    chunk = max(1, min(B, cells // max(U, slot_h.size, 1)))
    pieces = chunks(B, chunk)
    rngs = spawn(seed, len(pieces))
    tasks = [(len(p), rng) for p, rng in zip(pieces, rngs)]
    for p, mult in zip(pieces, ordered_map(draw.run, tasks, workers=workers)):
        yield p.start, mult


def replicate_multipliers(
    design: SurveyDesign,
    type: ReplicateType | str,
    *,
    replicates: int = 500,
    rho: float = 0.5,
    seed=None,
    workers: int = 1,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Per-PSU replicate multipliers (n_psu, R), scale and rscales (see module docstring)."""
    check_option("type", type, ReplicateType)
    st = design.structure
    H, U = st.n_strata, st.n_psu
    N_h, n_h = st.N_h, st.n_h
    where = f"{R_NAMES[type]} replicates"
    if type == "jk1":
        if H > 1:
            raise DesignError(
                message(
                    "JK1 is for unstratified designs",
                    where=where,
                    found=f"{H} strata",
                    hint="use jkn for a stratified design",
                )
            )
        n = U
        if n < 2:
            raise DesignError(message("JK1 needs at least two PSUs", where=where, found=f"{n}"))
        f = (N_h[0] - n) / N_h[0] if np.isfinite(N_h[0]) else 1.0
        if f == 0:
            raise DesignError(message("every PSU of the population is sampled: no sampling variance", where=where))
        M = np.full((U, U), n / (n - 1))
        np.fill_diagonal(M, 0.0)
        return M, f * (n - 1) / n, np.ones(U)
    if type == "jkn":
        lonely = _lonely(st, design.lonely_psu, where)
        fpc = np.where(np.isfinite(N_h), (N_h - n_h) / np.where(np.isfinite(N_h), N_h, 1.0), 1.0)
        has_rep = (n_h >= 2) & (fpc > 0)
        psu_rep = has_rep[st.psu_stratum]
        reps = np.flatnonzero(psu_rep)  # one replicate per PSU of such strata, PSU order
        rep_h = st.psu_stratum[reps]
        M = np.where(
            rep_h[None, :] == st.psu_stratum[:, None], (n_h / np.maximum(n_h - 1, 1))[st.psu_stratum][:, None], 1.0
        )
        M[reps, np.arange(reps.size)] = 0.0
        rscales = (fpc * (n_h - 1) / np.maximum(n_h, 1))[rep_h]
        scale = 1.0
        rule = design.lonely_psu
        if lonely.any() and rule == "adjust":
            for h in np.flatnonzero(lonely):  # R: the lonely PSU deleted, all others scaled by H/(H-1)
                col = np.where(st.psu_stratum == h, 0.0, H / (H - 1))[:, None]
                M = np.hstack([M, col])
                rscales = np.append(rscales, (H - 1) / H)
        elif lonely.any() and rule == "average":
            scale = U / M.shape[1]
        if M.shape[1] == 0:
            raise DesignError(message("no stratum gives a replicate (all fully sampled or lonely)", where=where))
        return M, scale, rscales
    if type == "bootstrap":
        B = _check_boot(replicates)
        M = np.empty((U, B))
        for b0, mult in _bootstrap_chunks(design, B, seed, workers=workers):
            M[:, b0 : b0 + mult.shape[0]] = mult.T
        return M, 1.0 / (B - 1), np.ones(B)
    # BRR / Fay
    if type == "brr":
        rho = 0.0
    elif not (0 < rho < 1):
        raise OptionError(message("Fay's rho must be in (0, 1)", where="parameter rho", found=repr(rho)))
    if np.any(n_h != 2):
        bad = ", ".join(f"{lab} ({int(k)})" for lab, k in zip(st.stratum_labels[n_h != 2][:10], n_h[n_h != 2][:10]))
        raise DesignError(
            message(
                "BRR and Fay need exactly two PSUs per stratum",
                where=where,
                found=f"{int(np.sum(n_h != 2))} strata otherwise: {bad}",
                hint="pair PSUs into strata of two, or use jkn or bootstrap",
            )
        )
    if st.has_fpc:
        warnings.warn(
            "finite population correction dropped for BRR/Fay replicates (as R does)", NonrecoursWarning, stacklevel=3
        )
    Hd = sylvester_hadamard(H + 1)
    R = Hd.shape[0]
    order = np.argsort(st.psu_stratum, kind="stable")
    first = np.zeros(U, dtype=bool)
    first[order[0::2]] = True  # first PSU (in code order) of each stratum
    sign = Hd[1 + st.psu_stratum]  # (U, R)
    on = np.where(first[:, None], sign > 0, sign < 0)
    M = np.where(on, 2.0 - rho, rho)
    return M, 1.0 / (R * (1 - rho) ** 2), np.ones(R)


def replicate_weights(
    design: SurveyDesign,
    type: ReplicateType | str,
    base: np.ndarray,
    *,
    replicates: int = 500,
    rho: float = 0.5,
    seed=None,
    progress=None,
    workers: int = 1,
) -> tuple[np.ndarray, float, np.ndarray]:  # noqa: ANN001
    """Row-level replicate weights ``base_i * multiplier`` (n, R), scale and rscales.

    ``progress``, when given, is called as ``progress(done, total)`` after each
    chunk of bootstrap replicates (the command line draws a progress bar).
    """
    st = design.structure
    base = np.asarray(base, dtype=float)
    if type != "bootstrap":
        M, scale, rscales = replicate_multipliers(design, type, replicates=replicates, rho=rho, seed=seed)
        return base[:, None] * M[st.psu], scale, rscales
    B = _check_boot(replicates)
    W = np.empty((st.n, B))
    for b0, mult in _bootstrap_chunks(design, B, seed, workers=workers):
        block = mult[:, st.psu]  # (nb, n): gathers within one replicate's row (cache-friendly)
        block *= base
        W[:, b0 : b0 + block.shape[0]] = block.T
        if progress is not None:
            progress(b0 + block.shape[0], B)
    return W, 1.0 / (B - 1), np.ones(B)


def make_replicates(
    design: SurveyDesign,
    type: ReplicateType | str,
    *,
    replicates: int = 500,
    rho: float = 0.5,
    seed=None,
    mse: bool = False,
    calibration: CalibrationResult | None = None,
    workers: int = 1,
) -> SurveyDesign:
    """Attach replicate weights to a design.

    Parameters
    ----------
    design : SurveyDesign
    type : {'jk1', 'jkn', 'bootstrap', 'brr', 'fay'}
    replicates : int
        Number of bootstrap replicates B.
    rho : float
        Fay's coefficient (type 'fay').
    seed : int or numpy.random.Generator
        Required for the bootstrap.
    mse : bool
        Centre the variance on the full-sample estimate (R's ``mse=TRUE``).
    calibration : CalibrationResult, optional
        The calibration that produced the design's weights; each replicate is
        then re-calibrated. By default the one recorded on the design's
        (single) calibration step by :func:`~nonrecours.weights.calibrate`.
    workers : int
        Processes drawing the bootstrap multipliers (chunks on their own
        spawned streams): the replicates are identical whatever their number.

    Returns
    -------
    SurveyDesign
        ``design.with_replicates(Replicates(W, type, scale, rscales, mse))``.

    Notes
    -----
    Rust & Rao (1996), Variance estimation for complex surveys using
    replication techniques, SMMR 5, 283-310; Rao & Wu (1988), JASA 83,
    231-241; Wolter (2007), *Introduction to Variance Estimation*, ch. 3-5.

    Examples
    --------
    >>> # rep = make_replicates(design, "bootstrap", replicates=500, seed=1)
    """
    check_option("type", type, ReplicateType)
    if calibration is None and len(design.calibration) == 1:  # the step records how to replay itself
        calibration = cast("CalibrationResult", design.calibration[0].record)
    if design.calibration and calibration is None:
        raise OptionError(
            message(
                "the design is calibrated: replicates must be re-calibrated",
                where="make_replicates",
                hint="pass calibration=<the CalibrationResult>, or add replicates before calibrating",
            )
        )
    st = design.structure
    B = {"bootstrap": replicates}.get(type)
    n_rep = B if B is not None else (st.n_psu if type in ("jk1", "jkn") else 0)
    if st.n * max(n_rep, 1) > MAX_CELLS:
        raise OptionError(
            message(
                "too many replicate weights to hold in memory",
                where=f"{type} replicates",
                found=f"{st.n} rows x {n_rep} replicates",
                hint="use the bootstrap with fewer replicates, or group units into PSUs",
            )
        )
    base = calibration.d if calibration is not None else design.weights
    W, scale, rscales = replicate_weights(
        design, type, base, replicates=replicates, rho=rho, seed=seed, workers=workers
    )
    if calibration is not None:
        W = recalibrate_replicates(calibration, W)
    return design.with_replicates(Replicates(W, R_NAMES[type], scale, rscales, mse))
