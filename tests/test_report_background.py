"""A part of the report computed on a forked process (``nonrecours._background.later``): the same result as here,
errors raised as here, a child whose result is not needed ended; the report takes a section body given late."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time

import pytest

from nonrecours import _background
from nonrecours.errors import InputError
from nonrecours.report import render_report

forks = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="the platform does not fork")


def _pid_and(x: str) -> tuple[int, str]:
    return os.getpid(), x * 2


def _fails(where: str) -> str:
    raise InputError(f"a bad table ({where})")


def _unpicklable() -> object:
    return lambda: None  # a result the pipe cannot carry


def _sleeps(seconds: float) -> str:
    time.sleep(seconds)
    return "late"


@forks
def test_forked_result_is_the_one_computed_here():
    pid, value = _background.later(_pid_and, "ab", fork=True)()
    assert value == "abab" and pid != os.getpid()  # drawn on another process
    pid, value = _background.later(_pid_and, x="cd", fork=False)()
    assert value == "cdcd" and pid == os.getpid()


@forks
def test_child_failure_is_computed_again_here():
    with pytest.raises(InputError, match=r"a bad table \(maps\)"):
        _background.later(_fails, "maps", fork=True)()
    assert callable(_background.later(_unpicklable, fork=True)())  # the child could not send it: computed here


@forks
def test_cancel_ends_a_child_whose_result_is_not_needed():
    later = _background.later(_sleeps, 60.0, fork=True)
    child = later._child
    start = time.perf_counter()
    _background.cancel([("explore", "title", later), ("other", "title", "<p>ready</p>")])
    assert time.perf_counter() - start < 30 and child is not None and not child.is_alive()
    later.cancel()  # twice: nothing


def _in_a_daemon(queue) -> None:  # noqa: ANN001
    pid, value = _background.later(_pid_and, "ef", fork=True)()
    queue.put((pid == os.getpid(), value))


@forks
def test_a_daemonic_process_computes_it_itself():
    """A pool's worker (daemonic) may not have children: the part is computed in that process."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    worker = ctx.Process(target=_in_a_daemon, args=(queue,), daemon=True)
    worker.start()
    assert queue.get(timeout=60) == (True, "efef")
    worker.join()


def test_report_takes_a_section_body_given_late():
    calls = []

    def body() -> str:
        calls.append(1)
        return "<p>maps</p>"

    html = render_report({}, {"title": "t"}, lang="en", extra_sections=[("explore", "Territories", body)])
    now = render_report({}, {"title": "t"}, lang="en", extra_sections=[("explore", "Territories", "<p>maps</p>")])
    assert html == now and calls == [1]


def _early_then(x: str, seconds: float, fail: bool, *, early) -> tuple[int, str]:  # noqa: ANN001
    early((os.getpid(), x))  # the first part, then the rest of the work
    time.sleep(seconds)
    if fail:
        raise InputError(f"a bad source ({x})")
    return os.getpid(), x * 2


@forks
def test_early_part_comes_before_the_end():
    """The administrative phase's links are received while the phase goes on (``later(early=True)``)."""
    later = _background.later(_early_then, "ab", 3.0, False, fork=True, early=True)
    start = time.perf_counter()
    pid, part = later.early()
    waited = time.perf_counter() - start
    assert part == "ab" and pid != os.getpid() and waited < 2.5  # not the end's 3 seconds
    assert later.early() == (pid, "ab")  # asked again: the same part
    assert later() == (pid, "abab")


@forks
def test_early_part_then_a_failure_is_computed_again_here():
    later = _background.later(_early_then, "cd", 0.0, True, fork=True, early=True)
    assert later.early()[1] == "cd"
    with pytest.raises(InputError, match=r"a bad source \(cd\)"):
        later()


def test_early_part_computed_here_without_fork():
    later = _background.later(_early_then, "ef", 0.0, False, fork=False, early=True)
    assert later.early() == (os.getpid(), "ef")  # the whole function ran here, its early part kept
    assert later() == (os.getpid(), "efef")


def _receive_in_a_fork(later, queue) -> None:  # noqa: ANN001
    try:
        queue.put(("ok", later()))
    except BaseException as e:  # noqa: BLE001 - the test reads what happened
        queue.put(("error", repr(e)))


@forks
def test_a_process_forked_later_receives_the_childs_result():
    """A study's stage forked beside the others takes the administrative phase from its pipe: it receives the
    value the phase's process computed (it may not join that process, which is not its child)."""
    later = _background.later(_early_then, "gh", 0.5, False, fork=True, early=True)
    assert later.early()[1] == "gh"  # the links, received here
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    stage = ctx.Process(target=_receive_in_a_fork, args=(later, queue))
    stage.start()
    kind, value = queue.get(timeout=60)
    stage.join()
    assert kind == "ok" and value[1] == "ghgh"
    assert value[0] not in (os.getpid(), stage.pid)  # computed by the phase's process, not again by the stage


def test_a_message_crosses_the_pipe_with_its_arrays_out_of_band():
    """:func:`_background._put` and :func:`_background._get`: the values :meth:`Connection.send` gave (a frame with
    Arrow text, writable and read-only arrays, a non-contiguous one: every array writable, as that pickle made them),
    the large arrays' bytes written outside the pickle."""
    import threading
    from multiprocessing.reduction import ForkingPickler

    import numpy as np
    import pandas as pd

    big = np.arange(300_000, dtype=np.float64)
    frozen = np.arange(100_000, dtype=np.int64)
    frozen.flags.writeable = False
    frame = pd.DataFrame({"id": pd.array([f"r{i}" for i in range(50_000)], dtype="str"), "x": np.arange(50_000.0)})
    message = (True, {"big": big, "frozen": frozen, "strided": big[::3], "frame": frame, "small": np.ones(3)})
    receive, send = multiprocessing.get_context().Pipe(duplex=False)
    _background._widen(send)
    sent: list[bytes] = []
    send_bytes = send.send_bytes
    send.send_bytes = lambda b: sent.append(bytes(b)) or send_bytes(b)  # the pickle itself
    writer = threading.Thread(target=_background._put, args=(send, message))  # (larger than the pipe holds)
    writer.start()
    ok, got = _background._get(receive)
    writer.join()
    # the large contiguous arrays' bytes went beside the pickle (the strided one, copied by NumPy, inside)
    assert len(sent[0]) < message[1]["strided"].nbytes + 100_000
    assert ok is True and set(got) == set(message[1])
    for key in ("big", "frozen", "strided", "small"):
        np.testing.assert_array_equal(got[key], message[1][key])
        assert got[key].dtype == message[1][key].dtype
    pd.testing.assert_frame_equal(got["frame"], frame)
    before = pickle.loads(ForkingPickler.dumps(message))[1]  # what Connection.send and recv gave
    assert all(got[k].flags.writeable and before[k].flags.writeable for k in ("big", "frozen", "strided", "small"))
    assert got["frame"]._mgr.blocks[-1].values.flags.writeable == before["frame"]._mgr.blocks[-1].values.flags.writeable
    receive.close()
    send.close()


def _blas_threads() -> list[int]:
    import ctypes

    import numpy as np  # noqa: F401 - its OpenBLAS loaded

    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "openblas" in line.rpartition("/")[2].lower()})
    names = [n.replace("set_", "get_") for n in _background._BLAS_THREADS]
    libs = [ctypes.CDLL(p) for p in paths]
    return [getattr(lib, next(n for n in names if hasattr(lib, n)))() for lib in libs]


@forks
@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="the libraries are found in /proc/self/maps")
def test_a_forked_child_runs_blas_on_half_the_cores():
    """The child works beside its parent: OpenBLAS's threads would spin waiting for a core (this process keeps its
    own)."""
    _background._beside()  # (the children of the tests before, ended: this process's threads back)
    here = _blas_threads()
    if not here:
        pytest.skip("NumPy is not built on OpenBLAS")
    half = max(1, _background._cores() // 2)
    assert _background.later(_blas_threads, fork=True)() == [half] * len(here)
    assert _blas_threads() == here


@forks
@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="the libraries are found in /proc/self/maps")
def test_this_process_runs_blas_on_half_the_cores_while_a_child_runs():
    _background._beside()
    here = _blas_threads()
    if not here:
        pytest.skip("NumPy is not built on OpenBLAS")
    later = _background.later(_sleeps, 0.5, fork=True)
    assert _blas_threads() == [max(1, _background._cores() // 2)] * len(here)
    assert later() == "late"
    assert _blas_threads() == here and os.getpid() not in _background._BESIDE  # its threads back
