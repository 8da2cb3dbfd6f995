"""A fast proof that identifiers are unique: 64-bit fingerprints, sorted, none equal to its neighbour.

Equal ids have equal fingerprints, so fingerprints that are all distinct prove
the ids distinct; a repeated fingerprint proves nothing (repeated ids, or two
ids sharing a fingerprint), and the caller then runs its exact check
(:func:`nonrecours._checks.check_unique_ids` factorizes the ids). The
fingerprints of Arrow strings are computed from Arrow's buffers, eight bytes
at a time, without a Python object per id and without hashing the strings
into a table: on 5 million ids of ten characters, a fifth to a third of the
time of ``pd.factorize`` on the same Arrow strings, and about 10 bytes per id
at the peak instead of 150 (the fingerprints, sorted in place; the other
temporaries are one Arrow chunk long). Ids of one byte length (``R000000001``...) are read through strided
views of the data, without index arrays: 0.08 s instead of 0.22 s for those 5 million ids. Measured in
``benchmarks/RESULTS.md``,
section "Administrative id check".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["surely_unique"]

_P = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime: odd, so multiplying by it is a bijection modulo 2**64
_K = np.uint64(0x9E3779B97F4A7C15)  # the golden-ratio constant, to spread the length
#: ``_MASK[r]`` keeps the ``r`` lowest bytes of a little-endian word (r = 0..8)
_MASK = np.array([(1 << (8 * r)) - 1 for r in range(8)] + [2**64 - 1], dtype=np.uint64)


def surely_unique(values: Any) -> bool:
    """True when ``values`` (no missing value) are proved pairwise distinct by sorted 64-bit fingerprints.

    Parameters
    ----------
    values : array-like
        The ids: a pandas array or Series (Arrow-backed strings, integers) or a
        numpy array.

    Returns
    -------
    bool
        True: the values are all distinct. False: not proved (a repeated
        fingerprint, or a kind of values without a fingerprint here: object,
        categorical, floating-point), to be settled by an exact check.

    Notes
    -----
    Integers are their own fingerprint. A string of :math:`L` bytes
    :math:`b_0 \\dots b_{L-1}`, read as little-endian words
    :math:`w_j = \\sum_{k<8} b_{8j+k}\\, 256^k` (bytes beyond :math:`L`
    taken as 0), has the fingerprint

    .. math:: h_0 = L \\cdot K, \\qquad h_{j+1} = (h_j \\oplus w_j) \\cdot P \\bmod 2^{64},

    FNV-1a's recursion (Fowler, Noll and Vo) a word at a time, with :math:`P` its
    64-bit prime; each step is a bijection of :math:`h_j \\oplus w_j`, so strings
    of at most 8 bytes and equal length never share a fingerprint. The
    fingerprints are sorted and each compared with the next: :math:`n \\log n`
    comparisons, no hash table.

    Examples
    --------
    >>> surely_unique(pd.array(["a", "b", "ab"], dtype="str"))
    True
    >>> surely_unique(pd.array(["a", "b", "a"], dtype="str"))
    False
    """
    arr = values.array if isinstance(values, pd.Series) else values
    keys = _fingerprints(arr)
    if keys is None:
        return False
    keys.sort()
    return bool(len(keys) < 2 or not (keys[1:] == keys[:-1]).any())


def _fingerprints(arr: Any) -> np.ndarray | None:
    """Fingerprints of ``arr`` as a fresh ``uint64`` or ``int64`` array (sortable in place), or None."""
    dtype = getattr(arr, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return np.array(arr, copy=True)
    arrow_backed = isinstance(dtype, pd.ArrowDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    )
    if not arrow_backed:  # object, categorical, masked or floating-point values: left to the exact check
        return None
    import pyarrow as pa

    pa_array = pa.chunked_array(arr.__arrow_array__())  # the "str" dtype of pandas 3: its chunks, not copied

    kind = pa_array.type
    if pa.types.is_integer(kind):
        if pa_array.null_count:
            return None
        keys = pa_array.to_numpy()
        return keys if keys.flags.writeable else keys.copy()
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    out = np.empty(len(pa_array), dtype=np.uint64)
    at = 0
    for chunk in pa_array.chunks:
        if chunk.null_count:
            return None
        out[at : at + len(chunk)] = _string_fingerprints(chunk, large=pa.types.is_large_string(kind))
        at += len(chunk)
    return out


def _string_fingerprints(chunk: Any, *, large: bool) -> np.ndarray:
    """The fingerprints of the strings of one Arrow chunk, from its offsets and data buffers (no copy of the data)."""
    _, offsets_buf, data_buf = chunk.buffers()
    n = len(chunk)
    offsets = np.frombuffer(offsets_buf, dtype=np.int64 if large else np.int32)[chunk.offset : chunk.offset + n + 1]
    start = offsets[:-1].astype(np.int64)
    length = np.diff(offsets).astype(np.int64)
    h = length.astype(np.uint64) * _K
    if n == 0:
        return h
    size = 0 if data_buf is None else data_buf.size
    if size < 8:  # too short to read words from: a padded copy (a few bytes)
        data = np.zeros(8, dtype=np.uint8)
        data[:size] = np.frombuffer(data_buf, dtype=np.uint8) if size else []
        size = 8
    else:
        data = np.frombuffer(data_buf, dtype=np.uint8)
    width = int(length[0])
    if width and (length == width).all():  # one length (most id files): each word a strided view, no gather
        return _equal_length_fingerprints(h, data, int(start[0]), width)
    # every 8-byte word starting at any byte of the data, without copying: an unaligned view with a 1-byte stride
    words = np.ndarray(shape=(size - 7,), dtype="<u8", buffer=data, offset=0, strides=(1,))
    last = size - 8
    every = True  # while every string has bytes left, they are read without gathering (most id files: one length)
    j = 0
    with np.errstate(over="ignore"):
        while True:
            if every and (length > 8 * j).all():
                todo: Any = slice(None)
            else:
                every, todo = False, np.flatnonzero(length > 8 * j)
                if not len(todo):
                    break
            pos = start[todo] + 8 * j
            shift = (np.maximum(pos - last, 0) * 8).astype(np.uint64)  # a word running past the data: read it earlier
            np.minimum(pos, last, out=pos)
            w = words[pos]
            w >>= shift
            w &= _MASK[np.minimum(length[todo] - 8 * j, 8)]
            h[todo] = (h[todo] ^ w) * _P
            j += 1
    return h


def _equal_length_fingerprints(h: np.ndarray, data: np.ndarray, first: int, width: int) -> np.ndarray:
    """:func:`_string_fingerprints` of ``len(h)`` strings of ``width`` bytes each, the first at byte ``first``.

    The strings lie end to end, so word :math:`j` of every string is read through one view of the data with
    a stride of ``width`` bytes (no index array, no gather); a word running past its string takes the next
    string's bytes, masked off as in the general case. Only the last strings' words (at most 8) can run past
    the data: they are read from their own bytes.
    """
    n, size = len(h), len(data)
    with np.errstate(over="ignore"):
        for j in range((width + 7) // 8):
            keep = _MASK[min(width - 8 * j, 8)]
            at = first + 8 * j
            whole = min(n, max((size - 8 - at) // width + 1, 0))  # strings whose word lies inside the data
            if whole:
                w = np.ndarray(shape=(whole,), dtype="<u8", buffer=data, offset=at, strides=(width,)) & keep
                h[:whole] = (h[:whole] ^ w) * _P
            for i in range(whole, n):
                word = data[at + i * width : min(at + i * width + 8, first + (i + 1) * width)].tobytes()
                h[i] = (h[i] ^ np.uint64(int.from_bytes(word, "little"))) * _P
    return h
