"""Read-only arrays for the values the package hands out (designs, results).

A frozen dataclass stops attribute assignment but not ``result.se[:] = 0``;
every array a design or a result hands out is therefore flagged read-only
(``setflags(write=False)``), as numpy does for broadcast views.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["readonly", "freeze_arrays", "owned"]


def readonly(a, *, copy: bool = False) -> np.ndarray:
    """Return ``a`` as a read-only array.

    Without ``copy`` a writable array is returned as a read-only *view* (no
    data copied; the caller's own array stays writable). With ``copy`` the
    data are copied first, so that later changes to the caller's array do not
    reach the returned one (use it for arrays received from a caller).

    Examples
    --------
    >>> a = readonly(np.arange(3.0))
    >>> a.flags.writeable
    False
    """
    a = np.array(a, copy=True) if copy else np.asarray(a)
    if a.flags.writeable:
        if not copy:
            a = a.view()
        a.setflags(write=False)
    return a


def owned(a: np.ndarray, given) -> np.ndarray:
    """``a`` (made from the caller's ``given``) read-only, copied only if it shares the caller's memory."""
    return readonly(a, copy=isinstance(given, np.ndarray) and np.may_share_memory(a, given))


def freeze_arrays(obj, *, copy: bool = False) -> None:
    """Replace every ndarray field of the frozen dataclass ``obj`` by a read-only one (in ``__post_init__``)."""
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, np.ndarray):
            object.__setattr__(obj, f.name, readonly(v, copy=copy))
