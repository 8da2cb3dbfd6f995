"""Parallel Monte Carlo with results that do not depend on the number of workers.

Every unit of random work (a replication, a chunk of bootstrap replicates)
gets its own generator, spawned from the user's seed with
:meth:`numpy.random.SeedSequence.spawn` (through :meth:`numpy.random.Generator.spawn`):
the streams are independent and fixed by the seed and the unit's index alone.
Units run on ``workers`` processes (joblib's loky backend) and their results
come back in unit order, so the caller combines them in the same order
whatever the number of workers: the results are bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ._checks import check_random_state, where_name
from .errors import OptionError, message

__all__ = ["check_workers", "spawn", "ordered_map"]


def check_workers(workers: object, *, option: str = "workers") -> int:
    """The number of worker processes, checked (an integer >= 1)."""
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise OptionError(
            message(
                "the number of workers must be an integer >= 1",
                where=where_name(option),
                found=repr(workers),
                hint="1 runs in this process",
            )
        )
    return int(workers)


def spawn(seed: int | np.random.Generator, n: int) -> list[np.random.Generator]:
    """``n`` independent generators from ``seed`` (``SeedSequence(seed).spawn(n)`` for an int seed).

    Examples
    --------
    >>> a, b = spawn(1, 2)
    >>> bool(a.random() != b.random())
    True
    >>> float(spawn(1, 2)[1].random()) == float(np.random.default_rng(np.random.SeedSequence(1).spawn(2)[1]).random())
    True
    """
    return check_random_state(seed).spawn(int(n))


def ordered_map(fn: Callable[..., Any], tasks: Sequence[tuple], *, workers: int = 1) -> Iterator[Any]:
    """``fn(*task)`` for every task, yielded in task order; on ``workers`` processes when > 1.

    ``fn`` and the tasks must be picklable (a module-level function). With one
    worker nothing is started and the tasks run here, one after the other.
    """
    workers = check_workers(workers)
    if workers == 1 or len(tasks) <= 1:
        return (fn(*task) for task in tasks)
    from joblib import Parallel, delayed

    return Parallel(n_jobs=min(workers, len(tasks)), backend="loky", return_as="generator")(
        delayed(fn)(*task) for task in tasks
    )


def chunks(n: int, size: int) -> list[range]:
    """``range(n)`` cut into consecutive pieces of ``size`` (the last one shorter)."""
    return [range(i, min(i + size, n)) for i in range(0, n, max(1, size))]
