"""Selection of a sample from a frame: stratified SRS, systematic, Poisson, PPS, two-stage.

Every method draws all strata at once from one seeded generator and returns a
:class:`Sample` whose table holds the frame columns plus what ``nonrecours
estimate`` reads (docs/architecture.md): ``stratum``, ``psu``, ``fpc`` (when it
applies), ``pi`` and ``weight = 1/pi``; two-stage adds ``ssu``, ``fpc2``,
``pi1``, ``pi2``.

Variance that ``estimate`` then computes, per method:

- ``srswor``, ``systematic``: stratified SRS without replacement, ``fpc = N_h``
  (for systematic, the SRS formula, conservative when the sort order is
  informative: implicit stratification).
- ``poisson`` with equal probabilities: ``fpc = N_h``, i.e. stratified SRS
  conditional on the realised sizes; with sizes (``size=``), no ``fpc``.
- ``pps-systematic``, ``sampford``: no ``fpc``: the with-replacement
  (Hansen-Hurwitz type) approximation, slightly conservative when the
  sampling fractions are small (Särndal et al. 1992, §3.6). Exact
  Sen-Yates-Grundy variances for Sampford need
  :func:`~nonrecours.design.pps.sampford_joint_inclusion`.
- ``two-stage``: ``psu`` = the PSU code, ``fpc`` = number of (non-certainty)
  PSUs in the stratum, ``fpc2`` = PSU population: the first stage is treated
  as SRS without replacement of PSUs (the average-fpc approximation of the
  PPS stage), the second as SRS. A certainty PSU becomes its own stratum
  ``"<stratum>|<psu>"`` whose PSUs are its sampled units (``fpc`` = its
  population, ``fpc2`` = 1), so that it contributes its SRS variance under
  one-stage and multistage variance engines alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._checks import check_columns, check_random_state, check_unique_ids
from ..errors import DesignError, InputError, NonrecoursWarning, OptionError, label_list, line_list, message, rows_found
from ..options import LonelyPSURule, SelectionMethod, check_option
from ._strata import StrataIndex, index_strata
from .allocation import Allocation, bounded_allocation, round_allocation
from .pps import inclusion_probabilities, poisson_draw, sampford_draw, sampford_joint_inclusion, systematic_draw
from .pps_variance import JointProbabilities
from .survey_design import DESIGN_COLUMNS, SurveyDesign

__all__ = ["Sample", "select", "srswor_draw", "first_stage_probabilities"]

_VARIANCE = {
    "srswor": "stratified SRS without replacement (fpc = N_h)",
    "systematic": "stratified SRS without replacement approximation (fpc = N_h)",
    "poisson": "stratified SRS conditional on realised sizes (fpc = N_h)",
    "poisson-pps": "with-replacement approximation within strata (no fpc)",
    "pps-systematic": "with-replacement approximation within strata (no fpc)",
    "sampford": "with-replacement approximation within strata (no fpc)",
    "two-stage": "SRS of PSUs (fpc = PSUs in stratum) then SRS within PSU (fpc2 = PSU size); certainty PSUs as strata",
}


@dataclass(frozen=True)
class Sample:
    """A drawn sample and how it was drawn.

    Attributes
    ----------
    data : DataFrame
        Selected frame rows (in frame order) with ``stratum``, ``psu``,
        ``fpc`` (when it applies), ``pi``, ``weight``; two-stage adds
        ``ssu``, ``fpc2``, ``pi1``, ``pi2``.
    method : str
    seed : int or None
        The integer seed (None when a Generator was passed).
    variance : str
        The variance ``nonrecours estimate`` computes from these columns.
    joint : JointProbabilities or None
        ``sampford``: the exact joint inclusion probabilities of every pair of
        selected units of a stratum (:func:`~nonrecours.design.pps.sampford_joint_inclusion`;
        pairs across strata are independent), for the ``ht`` and ``yg`` variances
        (``SurveyDesign(pps=..., joint=...)``, ``nonrecours estimate --pps yg``).
    """

    data: pd.DataFrame = field(repr=False)
    method: str
    seed: int | None
    variance: str
    joint: JointProbabilities | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of selected units."""
        return len(self.data)

    def to_frame(self) -> pd.DataFrame:
        """The sample table (a copy)."""
        return self.data.copy()

    def to_design(self, *, lonely_psu: LonelyPSURule | str = "fail") -> SurveyDesign:
        """The design of this sample: weights, strata, PSUs, SSUs and FPCs from its own columns.

        Column roles are read once here, from the columns the draw wrote
        (:data:`~nonrecours.design.survey_design.DESIGN_COLUMNS`): ``weight``,
        ``stratum``, ``psu`` and, where the method defines them, ``fpc``,
        ``ssu`` and ``fpc2``.

        Examples
        --------
        >>> f = pd.DataFrame({"id": range(6), "s": list("aaabbb"), "y": [1.0, 0, 1, 1, 0, 1]})
        >>> select(f, {"a": 2, "b": 3}, strata=["s"], seed=1).to_design().n_strata
        2
        """
        roles: dict[str, Any] = {role: col for role, col in DESIGN_COLUMNS.items() if col in self.data.columns}
        return SurveyDesign(self.data, lonely_psu=lonely_psu, **roles)


def first_stage_probabilities(table: pd.DataFrame) -> np.ndarray:
    """Inclusion probability of each row's PSU in a table written by :func:`select` (for a PPS variance).

    One-stage methods: ``pi`` (each unit is its own PSU). ``two-stage``: ``pi1``,
    except in a certainty PSU, which is its own stratum whose PSUs are its units,
    drawn with probability ``pi2``.
    """
    if "pi1" in table.columns:
        pi1 = table["pi1"].to_numpy(dtype=float)
        return np.where(pi1 >= 1, table["pi2"].to_numpy(dtype=float), pi1)
    if "pi" not in table.columns:
        raise InputError(
            message(
                "no inclusion probabilities in the sample",
                where="column 'pi'",
                hint="draw the sample with nonrecours sample (it writes pi, or pi1 and pi2)",
            )
        )
    return table["pi"].to_numpy(dtype=float)


def _group_order(codes: np.ndarray, H: int) -> np.ndarray:
    """Rows grouped by stratum, frame order within a stratum (radix sort when H fits in 16 bits)."""
    small = codes.astype(np.int16) if H < 2**15 else codes
    return np.argsort(small, kind="stable")


def srswor_draw(codes: np.ndarray, n: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stratified simple random sampling without replacement, all strata at once.

    Parameters
    ----------
    codes : ndarray of int (N,)
        Stratum of every row, ``0 .. H-1``.
    n : ndarray of int (H,)
        Sample size per stratum, ``0 <= n_h <= N_h``.
    rng : numpy Generator

    Returns
    -------
    ndarray of bool (N,): selected rows.

    Notes
    -----
    Rows are grouped by stratum (one radix sort); in every stratum
    :math:`k_h = \\min(n_h, N_h - n_h)` positions are drawn uniformly, the
    positions drawn twice are redrawn until all are distinct, and the
    complement is taken when :math:`n_h > N_h/2`. The rule deciding which
    draws to repeat looks only at which draws coincide, never at the values,
    so the law of the selected set is invariant under permutations of the
    stratum's units: every :math:`n_h`-subset has probability
    :math:`1/\\binom{N_h}{n_h}` (Tillé 2006, §4.4). Cost O(N + n).
    """
    H = n.size
    Nh = np.bincount(codes, minlength=H)
    n = np.asarray(n, np.int64)
    order = _group_order(codes, H)
    starts = np.concatenate([[0], np.cumsum(Nh)[:-1]])
    comp = n > Nh - n
    k = np.where(comp, Nh - n, n)
    slot = np.repeat(np.arange(H), k)
    pos = np.zeros(slot.size, np.int64)
    todo = np.arange(slot.size)
    while todo.size:
        s = slot[todo]
        pos[todo] = starts[s] + np.floor(rng.random(todo.size) * Nh[s]).astype(np.int64)
        _, first = np.unique(pos, return_index=True)
        again = np.ones(pos.size, bool)
        again[first] = False
        todo = np.flatnonzero(again)
    out = np.zeros(codes.size, bool)
    out[order[pos[~comp[slot]]]] = True
    if comp.any():  # strata drawn by complement: every position but the drawn ones
        hc = np.flatnonzero(comp)
        lens = Nh[hc]
        span = np.arange(lens.sum()) + np.repeat(starts[hc] - (np.cumsum(lens) - lens), lens)
        keep = np.ones(codes.size, bool)
        keep[pos[comp[slot]]] = False
        span = span[keep[span]]
        out[order[span]] = True
    return out


def _sizes_for(index: StrataIndex, sizes: Allocation | pd.Series | Mapping[str, int]) -> np.ndarray:
    """Sample size of every stratum of the frame, checked against the stratum populations."""
    if isinstance(sizes, Allocation):
        sizes = sizes.sizes()
    s = pd.Series(sizes, dtype=object) if isinstance(sizes, Mapping) else sizes
    s.index = s.index.astype(str)
    if s.index.duplicated().any():
        raise InputError(
            message(
                "a stratum appears twice in the allocation",
                where=f"strata {label_list(s.index.to_numpy(), s.index.duplicated())}",
            )
        )
    labels = index.labels
    missing = ~pd.Index(labels).isin(s.index)
    if missing.any():
        raise InputError(
            message(
                "strata of the frame have no sample size",
                where=f"strata {label_list(labels, missing)}",
                expected="one allocation row per stratum of the frame",
                hint="allocate again on this frame with the same strata (parameter strata)",
            )
        )
    extra = ~s.index.isin(labels) & (pd.to_numeric(s, errors="coerce").fillna(1).to_numpy() > 0)
    if extra.any():
        raise InputError(
            message(
                "the allocation names strata absent from the frame",
                where=f"strata {label_list(s.index.to_numpy(), extra)}",
                hint="check that the allocation was made on this frame",
            )
        )
    raw = pd.to_numeric(s.reindex(labels), errors="coerce").to_numpy(float)
    bad = ~np.isfinite(raw) | (raw < 0) | (raw != np.round(raw))
    if bad.any():
        raise InputError(
            message(
                "sample sizes must be non-negative integers",
                where=f"strata {label_list(labels, bad)}",
                found=f"{int(bad.sum())} invalid n_h",
            )
        )
    n = raw.astype(np.int64)
    over = n > index.N
    if over.any():
        raise DesignError(
            message(
                "sample size larger than the stratum population",
                where=f"strata {label_list(labels, over)}",
                expected="n_h <= N_h (n_h = N_h takes the stratum whole)",
                found=", ".join(f"n_h={n[i]} > N_h={index.N[i]}" for i in np.flatnonzero(over)[:3]),
                hint="re-run nonrecours allocate (it caps n_h at N_h: take-all strata)",
            )
        )
    lonely = (n == 1) & (index.N > 1)
    if lonely.any():
        warnings.warn(
            message(
                "strata with a single sampled unit: their variance cannot be estimated",
                where=f"strata {label_list(labels, lonely)}",
                hint="allocate at least 2 per stratum",
            ),
            NonrecoursWarning,
            stacklevel=3,
        )
    return n


def _ids(frame: pd.DataFrame, id_col: str) -> pd.Series:
    check_columns(frame, [id_col], role="id column", source="frame")
    ids = frame[id_col]
    v = ids.to_numpy()
    if v.dtype.kind in "iu" and (v.size < 2 or bool((v[1:] > v[:-1]).all())):
        return ids  # increasing integers (row numbers): unique without hashing 5 M values
    if ids.isna().any():
        raise InputError(message("missing ids", where=f"column {id_col!r}", found=rows_found(ids.isna(), "empty rows")))
    check_unique_ids(frame, id_col, source="frame", hint="drop duplicated rows before sampling")
    return ids


def _sort_order(frame: pd.DataFrame, codes: np.ndarray, sort: Sequence[str]) -> np.ndarray:
    """Rows grouped by stratum, ordered by the ``sort`` columns within (frame order on ties)."""
    check_columns(frame, sort, role="sort column", source="frame")
    keys = [np.arange(codes.size)] + [pd.factorize(frame[c], sort=True)[0] for c in reversed(sort)] + [codes]
    return np.lexsort(tuple(keys))


def _size(frame: pd.DataFrame, size: str | None, method: str) -> np.ndarray:
    if size is None:
        raise OptionError(
            message(f"method {method} needs a size measure", where="parameter size_col", hint="e.g. household_size")
        )
    check_columns(frame, [size], role="size column", source="frame")
    x = pd.to_numeric(frame[size], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(x) & (x > 0))
    if bad.any():
        raise InputError(
            message(
                "size measures must be positive",
                where=f"column {size!r}",
                expected="> 0 on every row",
                found=f"{int(bad.sum())} rows missing or <= 0, on {line_list(bad)}",
                hint="drop units of size 0 from the frame, or give them a small positive size",
            )
        )
    return x


def select(
    frame: pd.DataFrame,
    sizes: Allocation | pd.Series | Mapping[str, int],
    *,
    strata: Sequence[str],
    method: SelectionMethod | str = "srswor",
    seed: int | np.random.Generator,
    size: str | None = None,
    sort: Sequence[str] = (),
    psu: str | None = None,
    n_psu: int | Mapping[str, int] | None = None,
    id_col: str = "id",
) -> Sample:
    """Draw a sample from ``frame``.

    Parameters
    ----------
    frame : DataFrame
        Sampling frame, one row per unit, with a unique ``id_col``.
    sizes : Allocation, Series or mapping stratum label -> n_h
        Sample size per stratum (``n_h = N_h``: take-all stratum).
    strata : list of str
        Stratum columns (labels as in :class:`~nonrecours.design.allocation.Allocation`).
    method : {"srswor", "systematic", "poisson", "pps-systematic", "sampford", "two-stage"}
    seed : int or numpy Generator
        Required; same seed, same sample.
    size : str, optional
        Size measure column: required by ``pps-systematic`` and ``sampford``;
        makes ``poisson`` proportional to size; for ``two-stage``, PSUs are
        drawn proportional to the sum of it (default: their number of rows).
    sort : list of str
        Sort order within strata for ``systematic`` and ``pps-systematic``
        (implicit stratification); frame order otherwise.
    psu : str, optional
        PSU column for ``two-stage`` (e.g. ``territory``, nested in the strata).
    n_psu : int or mapping stratum -> int
        PSUs drawn per stratum at the first stage (``two-stage``, >= 2).
    id_col : str
        Unit identifier (becomes ``psu`` or ``ssu``).

    Returns
    -------
    Sample

    Notes
    -----
    Inclusion probabilities: :math:`n_h/N_h` (SRS, systematic, equal Poisson);
    :func:`~nonrecours.design.pps.inclusion_probabilities` for PPS. Sampford's
    method (rather than conditional Poisson) is the WOR PPS method: it
    attains the target :math:`\\pi_i` exactly without solving for working
    probabilities, its :math:`\\pi_{ij}` have a closed form
    (:func:`~nonrecours.design.pps.sampford_joint_inclusion`), all positive,
    and the Sen-Yates-Grundy variance estimator is non-negative under it
    (Sampford 1967). The variance each design leads to is in the module
    docstring and in ``Sample.variance``.

    Examples
    --------
    >>> f = pd.DataFrame({"id": range(6), "s": list("aaabbb")})
    >>> select(f, {"a": 2, "b": 3}, strata=["s"], seed=1).data["pi"].round(3).tolist()
    [0.667, 0.667, 1.0, 1.0, 1.0]
    """
    check_option("method", method, SelectionMethod)
    rng = check_random_state(seed)
    ids = _ids(frame, id_col)
    index = index_strata(frame, strata)
    n = _sizes_for(index, sizes)
    codes, N = index.codes, index.N
    seed_value = None if isinstance(seed, np.random.Generator) else int(seed)
    if method == "two-stage":
        return _two_stage(frame, index, n, ids, psu, n_psu, size, rng, seed_value)
    fpc: np.ndarray | None = N[codes].astype(float)
    variance = method
    if method == "srswor":
        pi = (n / N)[codes]
        sel = srswor_draw(codes, n, rng)
    elif method == "systematic":
        pi = (n / N)[codes]
        order = _sort_order(frame, codes, sort) if sort else _group_order(codes, N.size)
        sel = systematic_draw(pi, order, codes, n.astype(float), rng)
    elif method == "poisson":
        if size is None:
            pi = (n / N)[codes]
        else:
            pi, fpc, variance = inclusion_probabilities(_size(frame, size, method), n, codes), None, "poisson-pps"
        sel = poisson_draw(pi, rng)
    else:
        pi, fpc = inclusion_probabilities(_size(frame, size, method), n, codes), None
        if method == "pps-systematic":
            order = _sort_order(frame, codes, sort) if sort else _group_order(codes, N.size)
            sel = systematic_draw(pi, order, codes, n.astype(float), rng)
        else:
            sel = sampford_draw(pi, codes, rng)
    rows = np.flatnonzero(sel)
    cols = {"stratum": index.labels[codes[rows]], "psu": ids.to_numpy()[rows].astype(str).astype(object)}
    if fpc is not None:
        cols["fpc"] = fpc[rows]
    cols["pi"] = pi[rows]
    cols["weight"] = 1.0 / pi[rows]
    joint = _sampford_joint(pi, codes, rows, cols["psu"]) if method == "sampford" else None
    return Sample(_assemble(frame, rows, cols), method, seed_value, _VARIANCE[variance], joint)


def _sampford_joint(pi: np.ndarray, codes: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> JointProbabilities:
    """Joint probabilities of the pairs of selected units within each stratum (certainty units: pi_i pi_j)."""
    ii, jj, pij = [], [], []
    for h in np.unique(codes[rows]):  # one small (n_h x n_h) block per stratum
        pop = np.flatnonzero((codes == h) & (pi < 1))
        pos = np.flatnonzero((codes[rows] == h) & (pi[rows] < 1))
        if pos.size < 2:
            continue
        among = np.searchsorted(pop, rows[pos])
        P = sampford_joint_inclusion(pi[pop], among)
        a, b = np.triu_indices(pos.size, 1)
        ii.append(labels[pos[a]])
        jj.append(labels[pos[b]])
        pij.append(P[a, b])
    if not ii:
        return JointProbabilities(np.array([], object), np.array([], object), np.array([]))
    return JointProbabilities(np.concatenate(ii), np.concatenate(jj), np.concatenate(pij))


def _assemble(frame: pd.DataFrame, rows: np.ndarray, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """Selected frame rows plus the design columns (replacing frame columns of the same names)."""
    out = frame.take(rows).reset_index(drop=True)
    out = out.drop(columns=[c for c in cols if c in out.columns])
    for name, val in cols.items():
        out[name] = val
    return out


def _two_stage(
    frame: pd.DataFrame,
    index: StrataIndex,
    n: np.ndarray,
    ids: pd.Series,
    psu: str | None,
    n_psu: int | Mapping[str, int] | None,
    size: str | None,
    rng: np.random.Generator,
    seed_value: int | None,
) -> Sample:
    """Territories by Sampford PPS within strata, then SRS of units within each selected territory."""
    if psu is None or n_psu is None:
        raise OptionError(
            message(
                "two-stage sampling needs the PSU column and the number of PSUs per stratum",
                where="parameters psu_col / n_psu",
                hint="e.g. psu_col territory with n_psu 10",
            )
        )
    pidx = index_strata(frame, [psu], source="frame (PSU column)")
    pcode = pidx.codes
    P = pidx.N.size
    M = pidx.N.astype(float)  # rows per PSU
    h_of = np.full(P, -1, np.int64)
    h_of[pcode] = index.codes
    split = np.bincount(pcode, weights=(index.codes != h_of[pcode]), minlength=P) > 0
    if split.any():
        raise DesignError(
            message(
                "PSUs cut across strata",
                where=f"column {psu!r}, PSUs {label_list(pidx.labels, split)}",
                expected="every PSU inside one stratum",
                hint="use strata that are constant within a PSU (e.g. departement, is_qpv)",
            )
        )
    H = index.N.size
    labels = index.labels
    if isinstance(n_psu, Mapping):
        want = pd.Series(n_psu).rename(index=str).reindex(labels).to_numpy(float)
        if np.isnan(want).any():
            raise InputError(
                message("strata without a number of PSUs", where=f"strata {label_list(labels, np.isnan(want))}")
            )
    else:
        want = np.full(H, float(n_psu))
    NI = np.bincount(h_of, minlength=H)
    if (want < 2).any() or (want != np.round(want)).any():
        raise OptionError(
            message(
                "number of PSUs per stratum must be an integer >= 2",
                where="parameter n_psu",
                found=repr(n_psu),
                hint="two PSUs per stratum are needed to estimate a variance",
            )
        )
    take = np.minimum(want, NI)
    measure = M if size is None else np.bincount(pcode, weights=_size(frame, size, "two-stage"), minlength=P)
    pi1 = inclusion_probabilities(measure, take, h_of)
    sel1 = sampford_draw(pi1, h_of, rng)
    sp = np.flatnonzero(sel1)
    hs = h_of[sp]
    few = (np.bincount(hs, minlength=H) > n) | (n > np.bincount(hs, weights=M[sp], minlength=H))
    if few.any():
        raise DesignError(
            message(
                "stratum sample size does not fit the selected PSUs",
                where=f"strata {label_list(labels, few)}",
                expected="n_psu <= n_h <= population of the selected PSUs",
                hint="change parameter n_psu or the allocation",
            )
        )
    # self-weighting second stage: m_i proportional to M_i / pi1_i, 1 <= m_i <= M_i, sum m_i = n_h
    m = round_allocation(
        bounded_allocation(M[sp] / pi1[sp], n, np.ones(sp.size), M[sp], hs), n, np.ones(sp.size), M[sp], hs
    )
    m_psu = np.zeros(P, np.int64)
    m_psu[sp] = m
    rows_in = np.flatnonzero(sel1[pcode])
    sub = np.unique(pcode[rows_in], return_inverse=True)[1]
    sel2 = srswor_draw(sub, m_psu[np.unique(pcode[rows_in])], rng)
    rows = rows_in[sel2]
    pc = pcode[rows]
    cert = pi1[pc] >= 1
    lonely = np.bincount(hs, weights=pi1[sp] < 1, minlength=H) == 1
    if lonely.any():
        warnings.warn(
            message(
                "strata with a single non-certainty PSU selected: their variance cannot be estimated",
                where=f"strata {label_list(labels, lonely)}",
                hint="raise parameter n_psu",
            ),
            NonrecoursWarning,
            stacklevel=3,
        )
    n_noncert = np.bincount(h_of, weights=pi1 < 1, minlength=H)
    uid = ids.to_numpy()[rows].astype(str).astype(object)
    pi2 = m_psu[pc] / M[pc]
    cols = {
        "stratum": np.where(
            cert, labels[index.codes[rows]].astype(str) + "|" + pidx.labels[pc].astype(str), labels[index.codes[rows]]
        ).astype(object),
        "psu": np.where(cert, uid, pidx.labels[pc]).astype(object),
        "fpc": np.where(cert, M[pc], n_noncert[index.codes[rows]]),
        "ssu": uid,
        "fpc2": np.where(cert, 1.0, M[pc]),
        "pi1": pi1[pc],
        "pi2": pi2,
        "pi": pi1[pc] * pi2,
        "weight": 1.0 / (pi1[pc] * pi2),
    }
    joint = _two_stage_joint(
        pi1, h_of, sp, pidx.labels[sp].astype(str).astype(object), cert, uid, index.codes[rows], pc, m_psu, M
    )
    return Sample(_assemble(frame, rows, cols), "two-stage", seed_value, _VARIANCE["two-stage"], joint)


def _two_stage_joint(pi1, h_of, sp, sp_labels, cert, uid, row_stratum, pc, m_psu, M) -> JointProbabilities:
    """Joint probabilities of the first-stage units of a two-stage sample, as its design codes them.

    Non-certainty PSUs: Sampford's exact :math:`\\pi_{ij}` within each stratum. A certainty
    PSU is its own stratum whose PSUs are its units, drawn by SRS:
    :math:`\\pi_{ij} = m(m-1)/(M(M-1))`.
    """
    ps = _sampford_joint(pi1, h_of, sp, sp_labels)
    parts = [(ps.psu_i, ps.psu_j, ps.pi_ij)]
    if cert.any():
        r = np.flatnonzero(cert)
        order = r[np.argsort(pc[r], kind="stable")]
        g = pc[order]
        a, b = np.triu_indices(order.size, 1)
        same = g[a] == g[b]  # pairs of units of the same certainty PSU
        a, b = a[same], b[same]
        m, Mi = m_psu[g[a]].astype(float), M[g[a]]
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append((uid[order[a]], uid[order[b]], m * (m - 1) / (Mi * (Mi - 1))))
    return JointProbabilities(*(np.concatenate([p[k] for p in parts]) for k in range(3)))
