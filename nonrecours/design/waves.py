r"""Samples across waves: independent, panel and rotating designs by permanent random numbers.

Every wave is a stratified simple random sample without replacement drawn by
*sequential SRS with permanent random numbers* (PRN; Ohlsson, 1995): each
recipient carries a uniform number :math:`u_i` computed from its identifier and
a PRN key, and stratum *h* takes the :math:`n_h` units with the smallest
:math:`(u_i - s_h) \bmod 1`, :math:`s_h` the stratum's starting point. Since
the :math:`u_i` are independent uniforms, every wave is exactly a stratified SRS
(:math:`\pi_i = n_h / N_h`) whatever the scheme; the scheme only sets how much
two waves overlap:

- ``independent``: a new PRN key (the ``seed``): the waves are independent.
- ``panel``: the previous key and starting points: the same recipients stay in
  the sample as long as they remain in the frame and in their stratum; a share
  ``share`` of the previous sample is lost by *attrition* at this wave and
  replaced by the next units in PRN order.
- ``rotating``: the previous key, the starting points shifted by
  ``share * n_h / N_h``: about a share ``share`` of each stratum's sample is
  renewed each wave.

The sample records ``prn_seed`` and ``prn_start`` (to draw the next wave),
``in_previous`` (1 when the recipient id was in the previous sample: the
overlap) and ``scheme``.

References
----------
Ohlsson, E. (1995). Coordination of samples using permanent random numbers.
In *Business Survey Methods*, Wiley, ch. 9.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._checks import check_columns, check_random_state
from ..errors import InputError, OptionError, message
from ..options import WaveScheme, check_option, choices
from ._strata import index_strata
from .allocation import Allocation
from .selection import Sample, _assemble, _ids, _sizes_for

__all__ = ["Scheme", "SCHEMES", "WAVE_COLUMNS", "select_wave", "prn"]

Scheme = WaveScheme
SCHEMES = choices(WaveScheme)
#: Columns added by :func:`select_wave` besides those of :func:`~nonrecours.design.selection.select`.
WAVE_COLUMNS = ("prn_seed", "prn_start", "in_previous", "scheme")


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (Steele, Lea & Flood, 2014): a bijective avalanche of 64-bit integers."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _utf8_matrix(ids) -> np.ndarray:
    """UTF-8 bytes of each identifier as an n x L matrix, zero-padded (L the longest)."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is optional
        text = pd.Series(ids).astype(str).to_numpy(dtype=str)
        raw = np.char.encode(text, "utf-8") if text.size else np.zeros(0, dtype="S1")
        return raw.view(np.uint8).reshape(raw.size, raw.dtype.itemsize)
    s = pd.Series(ids)
    arr = getattr(s.array, "_pa_array", None)
    a = pa.chunked_array(arr).combine_chunks() if arr is not None else pa.array(s.astype(str).to_numpy(dtype=object))
    if isinstance(a, pa.ChunkedArray):  # pragma: no cover
        a = a.combine_chunks()
    a = a.cast(pa.large_string())
    off = np.frombuffer(a.buffers()[1], dtype=np.int64)[a.offset : a.offset + len(a) + 1]
    data = np.frombuffer(a.buffers()[2], dtype=np.uint8) if a.buffers()[2] is not None else np.zeros(1, np.uint8)
    lengths = np.diff(off)
    L = max(int(lengths.max()) if lengths.size else 1, 1)
    pos = off[:-1, None] + np.arange(L)[None, :]
    inside = np.arange(L)[None, :] < lengths[:, None]
    return np.where(inside, data[np.where(inside, pos, 0)], 0).astype(np.uint8)


def prn(ids: pd.Series | np.ndarray, key: int) -> np.ndarray:
    """Permanent random numbers in (0, 1) of the identifiers ``ids`` under PRN key ``key``.

    The UTF-8 bytes of each identifier are hashed by 64-bit FNV-1a, mixed with
    the key by the splitmix64 finaliser and mapped to ``((h >> 11) + 0.5) / 2**53``:
    the same id and key always give the same number (on every platform), and
    different ids behave as independent uniforms. Vectorised over ids (one
    pass per character position).

    Examples
    --------
    >>> u = prn(np.array(["R0000001", "R0000002"]), 1)
    >>> bool(u[0] != u[1]) and bool(np.all((0 < u) & (u < 1)))
    True
    """
    b = _utf8_matrix(ids)
    h = np.full(b.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
    width = b.shape[1]
    prime = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for j in range(width):  # loop over character positions, vectorised over ids
            c = b[:, j].astype(np.uint64)
            h = np.where(c != 0, (h ^ c) * prime, h)
        h = _mix(h ^ _mix(np.asarray(np.uint64(int(key) % 2**64) + np.uint64(0x9E3779B97F4A7C15))))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53


def _previous(previous: pd.DataFrame | None, scheme: str, id_col: str) -> tuple[int | None, dict, np.ndarray]:
    """PRN key, starting point per stratum label and ids of the previous sample."""
    if previous is None:
        return None, {}, np.zeros(0, dtype=object)
    check_columns(previous, [id_col], role="id column", source="the previous sample")
    ids = previous[id_col].astype(str).to_numpy(dtype=object)
    if scheme == "independent":
        return None, {}, ids
    missing = [c for c in ("prn_seed", "prn_start", "stratum") if c not in previous.columns]
    if missing:
        raise InputError(
            message(
                "the previous sample was not drawn with a wave scheme",
                where="parameter previous",
                expected="columns prn_seed, prn_start and stratum",
                found=f"no column {', '.join(missing)}",
                hint="draw the first wave with the scheme panel or rotating (parameter scheme)",
            )
        )
    keys = pd.to_numeric(previous["prn_seed"], errors="coerce").dropna().unique()
    if keys.size != 1:
        raise InputError(
            message(
                "the previous sample must have one PRN key",
                where="column 'prn_seed'",
                expected="one value",
                found=f"{keys.size} values",
            )
        )
    starts = previous.groupby(previous["stratum"].astype(str))["prn_start"].first().astype(float).to_dict()
    return int(keys[0]), starts, ids


def coordinate(
    codes: np.ndarray,
    N: np.ndarray,
    n: np.ndarray,
    ids: np.ndarray,
    *,
    scheme: str,
    seed: int,
    share: float,
    key: int | None,
    start: np.ndarray,
    previous_ids: np.ndarray,
    has_previous: bool,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Rows selected by PRN sequential SRS (the array core of :func:`select_wave`).

    Parameters
    ----------
    codes, N, n : ndarray
        Stratum code of each frame row, population and sample size of each stratum.
    ids : ndarray of str
        Identifiers of the frame rows.
    scheme, seed, share
        As in :func:`select_wave`.
    key : int or None
        PRN key of the previous sample (None: a new key, ``seed``).
    start : ndarray
        Starting point of each stratum in the previous wave (0 for new strata).
    previous_ids : ndarray of str
        Identifiers of the previous sample (empty without one).
    has_previous : bool
        Whether a previous sample is given.

    Returns
    -------
    rows, start, key, in_previous
        Selected rows (frame order), the starting points used, the PRN key, and
        for every frame row whether its id was in the previous sample.
    """
    if key is None:
        key = int(seed)
    if scheme == "rotating" and has_previous:
        start = np.mod(start + share * n / np.maximum(N, 1), 1.0)
    in_prev = (pd.Index(previous_ids).get_indexer(ids) >= 0) if previous_ids.size else np.zeros(len(ids), bool)
    v = np.mod(prn(ids, key) - start[codes], 1.0)
    if scheme == "panel" and has_previous and share > 0:
        rng = check_random_state(seed)
        lost_prev = rng.random(previous_ids.size) < share  # one draw per previous-sample row, in file order
        lost = (
            (pd.Index(previous_ids[lost_prev]).get_indexer(ids) >= 0) if lost_prev.any() else np.zeros(len(ids), bool)
        )
        v = np.where(lost, 2.0 + v, v)  # ranked after every other unit of the stratum
    order = np.lexsort((v, codes))
    first = np.concatenate([[0], np.cumsum(N)[:-1]])
    rank = np.empty(len(ids), np.int64)
    rank[order] = np.arange(len(ids)) - first[codes[order]]
    rows = np.flatnonzero(rank < n[codes])
    return rows, start, int(key), in_prev


def select_wave(
    frame: pd.DataFrame,
    sizes: Allocation | pd.Series | Mapping[str, int],
    *,
    strata: list[str],
    scheme: Scheme | str,
    seed: int,
    previous: pd.DataFrame | None = None,
    share: float = 0.0,
    id_col: str = "id",
) -> Sample:
    """Draw the sample of a wave, coordinated with the previous wave's sample.

    Parameters
    ----------
    frame : DataFrame
        This wave's frame, one row per recipient with a unique ``id_col``.
    sizes : Allocation, Series or mapping stratum label -> n_h
        Sample size per stratum.
    strata : list of str
        Stratum columns.
    scheme : {"independent", "panel", "rotating"}
        How the sample relates to ``previous`` (see the module docstring).
    seed : int
        PRN key of a new sample (first wave, or ``independent``) and seed of the
        attrition draws (``panel``).
    previous : DataFrame, optional
        The previous wave's sample (as written by ``nonrecours sample --scheme``);
        without it, the first wave of a series.
    share : float
        ``panel``: share of the previous sample lost by attrition at this wave;
        ``rotating``: share of the sample renewed. Ignored by ``independent``.
    id_col : str
        Recipient identifier, the link between waves.

    Returns
    -------
    Sample
        Columns of :func:`~nonrecours.design.selection.select` (``stratum``,
        ``psu``, ``fpc``, ``pi``, ``weight``) plus :data:`WAVE_COLUMNS`.

    Notes
    -----
    Stratum *h* takes the units with the :math:`n_h` smallest
    :math:`(u_i - s_h) \\bmod 1`; excluded (attrited) units rank last. The
    rotation shifts :math:`s_h` by ``share * n_h / N_h``, so that in a stable
    stratum the oldest ``share`` of the sample leaves (those whose PRN lies in
    the skipped interval) and as many units enter.

    Examples
    --------
    >>> f = pd.DataFrame({"id": [f"R{i}" for i in range(100)], "s": ["a"] * 50 + ["b"] * 50})
    >>> w1 = select_wave(f, {"a": 10, "b": 10}, strata=["s"], scheme="panel", seed=1).data
    >>> w2 = select_wave(f, {"a": 10, "b": 10}, strata=["s"], scheme="panel", seed=2, previous=w1).data
    >>> int(w2["in_previous"].sum())
    20
    """
    scheme = check_option("scheme", scheme, WaveScheme)
    if not (0.0 <= float(share) < 1.0):
        raise OptionError(
            message("share out of range", where="parameter share", expected="a value in [0, 1)", found=repr(share))
        )
    ids = _ids(frame, id_col)
    index = index_strata(frame, strata)
    n = _sizes_for(index, sizes)
    key, prev_start, prev_ids = _previous(previous, scheme, id_col)
    id_text = ids.astype(str).to_numpy(dtype=object)
    labels = index.labels.astype(str)
    start = np.array([prev_start.get(lab, 0.0) for lab in labels], dtype=float)  # loop over strata labels only
    rows, start, key, in_prev = coordinate(
        index.codes,
        index.N,
        n,
        id_text,
        scheme=scheme,
        seed=seed,
        share=share,
        key=key,
        start=start,
        previous_ids=prev_ids,
        has_previous=previous is not None,
    )
    codes, N = index.codes, index.N
    pi = (n / N)[codes[rows]]
    cols = {
        "stratum": index.labels[codes[rows]],
        "psu": id_text[rows].astype(str).astype(object),
        "fpc": N[codes[rows]].astype(float),
        "pi": pi,
        "weight": 1.0 / pi,
        "prn_seed": np.full(rows.size, key, dtype=np.int64),
        "prn_start": start[codes[rows]],
        "in_previous": in_prev[rows].astype(np.int64),
        "scheme": np.full(rows.size, scheme, dtype=object),
    }
    return Sample(
        _assemble(frame, rows, cols),
        f"prn-{scheme}",
        int(seed),
        "stratified SRS without replacement (fpc = N_h), coordinated by permanent random numbers",
    )
