"""Work computed on a forked process while this one does the rest: the report's territories section, a study's
stages that the next ones do not read, its administrative phase, the demo's files.

The report's drawing is CPU-bound and Agg holds the GIL while it draws, and most of the rest is pandas: threads
would not run in parallel. :func:`later` forks a process (it inherits the tables: nothing is pickled but the
result) when a core is free, and returns a function that gives the result when it is needed. The result is the
one this process would compute (the work is deterministic); if the child fails in any way, the work is done
again here, so that an error is raised as it would be without the child. A light module (no matplotlib), so
that simulating the sources can use it.

The result crosses the pipe pickled with its arrays' memory out of band (:func:`_put`, :func:`_get`): the
administrative phase's tables (68 MB at 200 territories, gigabytes in the national phase) were copied four times
on their way (NumPy's and Arrow's bytes into the pickle, the pickle into the pipe's reads, those into one buffer,
that into the arrays), each copy into new pages, a fifth of the demo's page faults.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["later", "Later", "cancel", "core_free", "blas_threads"]

T = TypeVar("T")


def core_free() -> bool:
    """Whether a second process would find a free core: at least two usable cores and the 1-minute load average
    below their number minus one half (the rule of :func:`nonrecours.report.maps.choropleths` too)."""
    cores = _cores()
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return cores >= 2 and busy < cores - 0.5


def _cores() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def later(
    fn: Callable[..., T], /, *args: Any, fork: bool | None = None, early: bool = False, **kwargs: Any
) -> Later[T]:
    """Start ``fn(*args, **kwargs)``, on a forked process when a core is free; a function giving its result.

    Parameters
    ----------
    fn : callable
        A deterministic function whose result can be pickled (the HTML of a section).
    *args, **kwargs
        Its arguments (inherited by the child, not pickled).
    fork : bool, optional
        Fork a process (``True``), compute here when the result is asked for (``False``); by default fork
        when :func:`core_free`. Never where the platform does not fork, nor in a daemonic process.
    early : bool
        ``fn`` is also given ``early=<function>``, which it calls with parts of its result as soon as it has them
        (the links of the administrative phase, then the phase before its rates): :meth:`Later.early` gives a
        part without waiting for the end.

    Returns
    -------
    Later
        Called once, with no argument: ``fn``'s result (waiting for the child). If the child fails (an
        exception, a result that cannot be pickled, a signal), ``fn`` runs here and its error is raised.
        :meth:`Later.cancel` ends a child whose result will not be asked for (the caller failed meanwhile).
    """
    import multiprocessing

    if fork is None:
        fork = core_free()
    if not fork or "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
        return Later(fn, args, kwargs, early=early)  # computed here (a daemonic process, a pool's worker, may not fork)
    import gc

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    _widen(send)
    child = ctx.Process(target=_child, args=(send, fn, args, kwargs, early), daemon=False)  # may fork workers
    gc.freeze()  # the child's collections leave the inherited objects alone: their pages are not copied
    try:
        child.start()
    finally:
        gc.unfreeze()
    send.close()
    _beside(child)  # this process's matrix products on half the cores while the child runs
    return Later(fn, args, kwargs, child, receive, early=early)


_NONE: Any = object()  # no value yet


class Later(Generic[T]):
    """The result of :func:`later`: call it once for the value; :meth:`cancel` if it will not be asked for."""

    def __init__(
        self,
        fn: Callable[..., T],
        args: tuple,
        kwargs: dict,
        child: Any = None,
        receive: Any = None,
        *,
        early: bool = False,
    ):
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._child, self._receive = child, receive
        self._early = early
        self._parts: list[Any] = []  # the early parts, in the order given
        self._done: Any = _NONE  # the result, once received or computed here

    def __call__(self) -> T:
        while self._done is _NONE:
            self._next()
        value, self._done = self._done, None  # (given once: not held here after)
        return value

    def early(self, index: int = 0) -> Any:
        """The ``index``-th part of the result ``fn`` gave early (``None`` if it gave none), waiting only for it."""
        while len(self._parts) <= index and self._done is _NONE:
            self._next()
        return self._parts[index] if index < len(self._parts) else None

    def _keep(self, value: Any) -> None:
        self._parts.append(value)

    def _here(self) -> T:
        """``fn`` computed in this process (its early parts kept: the same values as the child's)."""
        self._parts = []
        return self._fn(*self._args, **({**self._kwargs, "early": self._keep} if self._early else self._kwargs))

    def _next(self) -> None:
        """The child's next message (the early part, or the end), or ``fn`` computed here."""
        if self._child is None:
            self._done = self._here()
            return
        try:
            ok, value = _get(self._receive)  # before join: a large result fills the pipe
        except Exception:  # the child ended without a result (or a forked reader took part of it and failed)
            ok, value = False, None
        if ok is None:  # the early part
            self._keep(value)
            return
        self._end(terminate=False)
        self._done = value if ok else self._here()

    def cancel(self) -> None:
        """End the child if it still runs (its result is not needed); nothing if it has been received."""
        self._end(terminate=True)

    def _end(self, *, terminate: bool) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        self._receive.close()
        if getattr(child, "_parent_pid", os.getpid()) != os.getpid():
            # received in a process forked from the one that started the child (a study's stage run beside the
            # others takes the administrative phase): only that one may end and join it
            return
        if terminate and child.is_alive():
            child.terminate()  # SIGTERM: a forked child removes no staging folder (see study.pipeline)
        child.join()
        _beside()


def cancel(sections: Iterable[tuple[Any, ...]]) -> None:
    """:meth:`Later.cancel` every section body ``(id, title, body)`` that is a :class:`Later` (others: nothing)."""
    for *_, body in sections:
        if isinstance(body, Later):
            body.cancel()


def _child(send: Any, fn: Callable[..., Any], args: tuple, kwargs: dict, early: bool = False) -> None:
    try:
        try:
            blas_threads(max(1, _cores() // 2))  # this process works beside its parent: half the cores each
            if early:  # the early part sent as soon as fn has it (None: not the end)
                kwargs = {**kwargs, "early": lambda part: _put(send, (None, part))}
            value = fn(*args, **kwargs)
            _put(send, (True, value))
        except BaseException:  # the parent computes it again and raises the error itself
            _put(send, (False, None))
    except OSError:  # the parent is gone (ended by a signal meanwhile): nobody to tell
        pass
    finally:
        send.close()


#: The functions setting and getting OpenBLAS's threads, by build: OpenBLAS's own, NumPy's and SciPy's bundled
#: copies (``scipy_openblas``, with 64-bit integers: ``64_``).
_BLAS_THREADS = tuple(f"{p}_set_num_threads{s}" for p in ("scipy_openblas", "openblas") for s in ("64_", ""))
_BLAS_GET = tuple(name.replace("_set_", "_get_") for name in _BLAS_THREADS)


def blas_threads(threads: int | dict[str, int]) -> dict[str, int]:
    """Set every OpenBLAS loaded in this process to ``threads`` threads (or each library to its own number, as this
    function returned them); the libraries set and their threads before (none where it cannot tell).

    A forked child of :func:`later` works beside its parent: each takes half the cores for its matrix products
    while both run. OpenBLAS's threads wait for work by spinning, and a product split over more threads than the
    cores left waits for the one that is not running: on 2 cores the demo's analysis stage (on a child) took
    1.4 CPU s on an idle machine and 3 to 7 s on a busy one, nearly all of it in OpenBLAS, and 0.4 s on one
    thread. The products are the same bytes (OpenBLAS splits a product by blocks of its result, each computed
    whole by one thread): the demo's files do not change. A copy loaded later reads ``OPENBLAS_NUM_THREADS``,
    set here to ``threads`` (a number).
    """
    import ctypes

    if isinstance(threads, int):
        os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    try:
        with open("/proc/self/maps") as f:  # the libraries loaded (Linux; elsewhere nothing is set)
            paths = {line.split()[-1] for line in f if "openblas" in line.rpartition("/")[2].lower()}
    except OSError:
        return {}
    before = {}
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same library, not a second copy
        except OSError:
            continue
        get = next((getattr(lib, n) for n in _BLAS_GET if hasattr(lib, n)), None)
        set_ = next((getattr(lib, n) for n in _BLAS_THREADS if hasattr(lib, n)), None)
        if get is None or set_ is None:
            continue
        n = threads if isinstance(threads, int) else threads.get(path)
        if n is not None:
            before[path] = int(get())
            set_(int(n))
    return before


#: By process: its children of :func:`later` that may run, its BLAS threads and ``OPENBLAS_NUM_THREADS`` before the
#: first (a forked process does not count its parent's).
_BESIDE: dict[int, tuple[list[Any], dict[str, int], str | None]] = {}


def _beside(child: Any = None) -> None:
    """A ``child`` started beside this process, or (none) one joined: this process's matrix products on half the
    cores while a child runs (:func:`blas_threads`), on its threads before once none does. A child received in
    another process (the administrative phase, by a stage's process) is not joined here: it counts until it is
    seen ended at the next start or join."""
    pid = os.getpid()
    if pid not in _BESIDE and child is None:
        return
    children, before, env = _BESIDE.get(pid, ([], {}, None))
    children = [c for c in children if c.is_alive()]
    if child is not None:
        if not children and pid not in _BESIDE:
            env = os.environ.get("OPENBLAS_NUM_THREADS")
            before = blas_threads(max(1, _cores() // 2))
        children.append(child)
    if children:
        _BESIDE[pid] = (children, before, env)
        return
    del _BESIDE[pid]
    blas_threads(before)
    if env is None:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)
    else:
        os.environ["OPENBLAS_NUM_THREADS"] = env


#: Buffers smaller than this go inside the pickle (a write and a read each would cost more than their copy).
_OUT_OF_BAND_MIN = 1 << 16
#: The pipe's capacity asked for (Linux; the default is 64 KiB and 1 MiB the most an unprivileged process gets).
_PIPE_SIZE = 1 << 20


def _widen(conn: Any) -> None:
    """Ask for a pipe of :data:`_PIPE_SIZE` bytes: a large result then crosses in a sixteenth of the reads and
    writes (nothing where the platform cannot, or will not, resize it)."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (ImportError, AttributeError, OSError):  # not Linux, or above the system's limit: the pipe as it is
        pass


def _put(conn: Any, message: Any) -> None:
    """Send ``message`` on the pipe ``conn`` to :func:`_get`: pickled (protocol 5) with the memory of its large
    buffers (NumPy arrays, Arrow buffers) out of band, written to the pipe from where it lies.

    With :meth:`Connection.send` each array's bytes were copied into the pickle, then on the other side read in
    64 KiB pieces, gathered into one buffer and copied into the arrays again: four copies, each into new pages.
    Here the sender copies nothing and the receiver reads each buffer once, into the memory that becomes the
    array's. The pickle is made whole before anything is written: a message that cannot be pickled raises here
    and sends nothing.
    """
    raws: list[memoryview] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            raw = buffer.raw()
        except BufferError:  # not contiguous: inside the pickle
            return True
        if raw.nbytes < _OUT_OF_BAND_MIN:
            return True
        raws.append(raw)
        return False

    head = io.BytesIO()
    _Pickler(head, protocol=5, buffer_callback=out_of_band).dump(message)
    conn.send([raw.nbytes for raw in raws])
    conn.send_bytes(head.getbuffer())
    fd = conn.fileno()
    for raw in raws:
        view = raw.cast("B") if raw.format != "B" else raw
        while view.nbytes:
            view = view[os.write(fd, view) :]


class _Pickler(pickle.Pickler):
    """Protocol 5 with the arrays writable on the other side, as :meth:`Connection.send`'s pickle (protocol 4,
    every array copied) gave them: protocol 5 keeps an array's read-only flag, so a read-only array (a view pandas
    handed out) is sent as a writable copy of itself."""

    def reducer_override(self, obj: Any) -> Any:
        np = sys.modules.get("numpy")
        if np is not None and type(obj) is np.ndarray and not obj.flags.writeable:
            return obj.copy().__reduce_ex__(5)
        return NotImplemented


def _get(conn: Any) -> Any:
    """The message :func:`_put` sent on ``conn``: each out-of-band buffer read into memory of its own, which becomes
    its array's."""
    sizes = conn.recv()
    head = conn.recv_bytes()
    buffers: list[Any] = []
    if sizes:
        import numpy as np  # (its large arrays' pages are huge pages where the system allows)

        fd = conn.fileno()
        for size in sizes:
            memory = np.empty(size, dtype=np.uint8)
            view = memory.data  # (a memoryview of its bytes)
            while view.nbytes:
                n = os.readv(fd, [view])
                if n == 0:
                    raise EOFError("the pipe closed before the end of the message")
                view = view[n:]
            buffers.append(memory)
    return pickle.loads(head, buffers=buffers)
