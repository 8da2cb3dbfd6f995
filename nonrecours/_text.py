"""Set membership and positions of text columns in C.

pandas (3.x) answers ``Series.isin`` on Arrow-backed text by converting every
value of the set to a Python object one at a time (``pa.scalar(v).as_py()``):
about a second per 100,000 values, longer than the rest of a review frame's
work; ``Index.get_indexer`` converts both sides to Python objects first.
:func:`isin_text` and :func:`index_text` ask Arrow's hash-based ``is_in``
and ``index_in`` kernels instead. :func:`release_arrow` gives back the memory
those kernels and Arrow's tables leave in pyarrow's pool.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["isin_text", "index_text", "same_text", "text_of", "factorize_both", "release_arrow"]


def _arrow(values, others):  # noqa: ANN202
    """Both as Arrow large strings (nulls for missing values), or ``None`` without pyarrow."""
    v = pd.Series(values, dtype="str")
    o = pd.Series(others, dtype="str")
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is optional
        return v, o, None
    return v, o, (_one_array(pa.array(v, type=pa.large_string())), _one_array(pa.array(o, type=pa.large_string())))


def _one_array(arr):  # noqa: ANN001, ANN202
    """An Arrow array in one piece (a column of several chunks, as the recipients' ids read from several organisms'
    files, comes as a chunked array: the lookups' value sets take arrays)."""
    import pyarrow as pa

    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def isin_text(values, others) -> np.ndarray:
    """``pd.Series(values, dtype="str").isin(pd.Series(others, dtype="str"))`` as a boolean array, in C.

    Parameters
    ----------
    values, others : array-like of text (missing values allowed)
        Both are read as text (``dtype="str"``) first, as ``Series.isin`` on text columns compares them.

    Returns
    -------
    ndarray of bool
        One per value: whether it is among ``others``; a missing value is found when ``others`` has one, as
        pandas does.

    Notes
    -----
    Arrow's ``is_in`` (a hash table of ``others``, one probe per value) with nulls matched like values
    (``skip_nulls=False``). Without pyarrow: pandas' ``isin``.

    Examples
    --------
    >>> isin_text(["a", "b", None], ["b", "c"]).tolist()
    [False, True, False]
    """
    v, o, arrow = _arrow(values, others)
    if arrow is None:  # pragma: no cover - pyarrow is optional
        return v.isin(o).to_numpy(dtype=bool)
    import pyarrow.compute as pc

    found = pc.is_in(arrow[0], value_set=arrow[1], skip_nulls=False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def index_text(values, others) -> np.ndarray:
    """Position in ``others`` of each of ``values`` (-1 when absent), as ``pd.Index(others).get_indexer(values)``
    on text, in C.

    Parameters
    ----------
    values, others : array-like of text (missing values allowed)
        Read as text (``dtype="str"``). ``others`` should hold each value once: of repeated values, the first
        position is given (``get_indexer`` refuses them).

    Returns
    -------
    ndarray of int64

    Notes
    -----
    Arrow's ``index_in`` (a hash table of ``others``, one probe per value), a missing value found at the
    position of a missing value of ``others``. Without pyarrow: ``Index.get_indexer``.

    Examples
    --------
    >>> index_text(["b", "z", "a"], ["a", "b"]).tolist()
    [1, -1, 0]
    """
    v, o, arrow = _arrow(values, others)
    if arrow is None:  # pragma: no cover - pyarrow is optional
        return pd.Index(o).get_indexer(v).astype(np.int64)
    import pyarrow.compute as pc

    at = pc.index_in(arrow[0], value_set=arrow[1], skip_nulls=False)
    return np.asarray(at.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def same_text(a, b) -> bool:
    """Whether two text columns (read as ``dtype="str"``) hold the same values in the same order, missing values
    alike, compared by Arrow (no Python object per value).

    Examples
    --------
    >>> same_text(["a", None], ["a", None]), same_text(["a", "b"], ["b", "a"])
    (True, False)
    """
    if len(a) != len(b):
        return False
    left, right, arrow = _arrow(a, b)
    if arrow is None:  # pragma: no cover - pyarrow is optional
        return bool(left.reset_index(drop=True).equals(right.reset_index(drop=True)))
    # (a column of several Arrow chunks, a concatenation, comes in one piece: _arrow)
    return bool(arrow[0].equals(arrow[1]))


def factorize_both(
    ids: pd.Series,
    others,  # noqa: ANN001
    *,
    missing_code: bool = False,
) -> tuple[np.ndarray, np.ndarray, int, pd.Index, bool]:
    """The codes of ``pd.factorize(pd.concat([ids, others as text]), use_na_sentinel=not missing_code)`` split in
    two, their number, the labels of the codes up to the last of ``ids``, and whether ``ids`` were proved distinct.

    Ids proved distinct (:func:`~nonrecours._unique.surely_unique`, no missing one: a linkage refuses repeated
    ids) are coded by their positions and ``others`` looked up in Arrow's hash table of them
    (:func:`index_text`), those of no id numbered after them in their order of appearance: the same codes, one
    hash table of the ids instead of one of both columns (at 5.18 million recipients and 5.6 million links the
    factorize of both held 0.9 GiB). Otherwise both are factorized together.
    """
    from ._unique import surely_unique

    others = pd.Series(others, dtype="str")
    n = len(ids)
    if n and not ids.hasnans and surely_unique(ids.array):
        at = index_text(others, ids)
        absent = at < 0 if missing_code else (at < 0) & others.notna().to_numpy()
        extra = 0
        if absent.any():  # texts of no id: codes after the ids', in their order of appearance
            more, kinds = pd.factorize(others[absent], use_na_sentinel=not missing_code)
            at[absent] = n + more
            extra = len(kinds)
        return np.arange(n, dtype=np.int64), at, n + extra, pd.Index(ids.array), True
    codes, labels = pd.factorize(pd.concat([ids, others], ignore_index=True), use_na_sentinel=not missing_code)
    mine = codes[:n]
    return mine, codes[n:], len(labels), labels[: int(mine.max(initial=-1)) + 1], False


def text_of(codes: np.ndarray, labels) -> pd.api.extensions.ExtensionArray:  # noqa: ANN001
    """``labels[codes]`` as a text array (pandas' ``str``), the labels taken by code (no Python string per row)."""
    return pd.array(list(labels), dtype="str").take(codes)


def release_arrow(heap: bool = False) -> None:
    """Give back to the system the memory pyarrow's allocator keeps after its arrays and tables are freed.

    pyarrow's pool (mimalloc) keeps freed blocks for reuse: after reading the 914k recipients' files and keeping a
    third of their columns, 165 MiB of the process's 480 MiB were such blocks. The administrative phase calls it
    between its steps, and the linkage after its checks and copies, so that the next peak does not add up with the
    last one's leftovers.

    ``heap``: also the C library's free heap (glibc's ``malloc_trim``; nothing elsewhere). DuckDB's results come
    through that heap, and glibc gives back only its top on its own: once the eligibility's result was let go at
    5.18 million recipients, 1.0 GiB of free heap stayed resident. Trimming costs the next step the page faults of
    its allocations again, so the phase asks for it on large files only.
    """
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is optional
        pass
    else:
        pa.default_memory_pool().release_unused()
    if heap:
        _trim_heap()


def _trim_heap() -> bool:
    """glibc's ``malloc_trim(0)``; ``False`` where there is no glibc (macOS, musl, Windows)."""
    import ctypes
    import ctypes.util

    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True
