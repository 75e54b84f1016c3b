"""The worker processes of an import: each with its own context, none outliving the import.

Every worker makes its context once (``make_context()``, e.g. a validator and what it keeps
between batches) and then runs ``step(context, item)`` for the items it is sent. With one worker
the same runs in this process. A bounded window of items is in flight, so memory does not grow
with the input, and results come back in the order of the items.

No worker outlives the process that started it: on Linux each asks the kernel to kill it when
that process dies (``PR_SET_PDEATHSIG``), so even a SIGKILL of the importer leaves none behind;
a SIGTERM ends the import through its ``finally`` blocks (the open transaction rolls back, a
bulk load rebuilds its indexes), and leaving the pool for any exception kills the workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.queues import SimpleQueue
from types import TracebackType
from typing import Any, Generic, TypeVar

Context = TypeVar("Context")
Item = TypeVar("Item")
Result = TypeVar("Result")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# Seconds to wait for a starting worker's pid when the pool is left on an error (a fork takes
# milliseconds; one that never comes only delays the exit by this much).
_STARTING_WORKER_WAIT = 5.0

# The context of this worker process, made once by the pool's initializer (None outside workers).
_worker_context: Any = None

# Bytes of each pipe between the importer and its workers: 1 MiB, the most an unprivileged
# process may ask for by default (/proc/sys/fs/pipe-max-size), instead of Linux's 64 KiB.
# A batch goes through as one message of megabytes (lines out, prepared orders and PDFs back),
# read by a thread of the importer that needs the interpreter lock again after every pipe-full:
# with the writer busy that is up to a switch interval (5 ms) a pipe-full, during which the
# worker waits to send, idle. Sixteen times fewer pipe-fulls, sixteen times fewer waits.
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # <linux/fcntl.h>


def worker_count(setting: int) -> int:
    """Worker processes for an import: ``setting``, or one per core when it is 0."""
    return setting if setting > 0 else max(1, os.cpu_count() or 1)


def _die_with_parent() -> None:
    """Have the kernel kill this process when the process that started it dies (Linux)."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - the portal runs on Linux
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:  # pragma: no cover
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    parent = multiprocessing.parent_process()
    if parent is not None and not parent.is_alive():  # it died before the request was made
        os._exit(1)


def _start_worker(make_context: Callable[[], Any], pids: SimpleQueue, niceness: int = 10) -> None:
    global _worker_context
    _die_with_parent()
    # The importer decides what an interrupt means. A SIGTERM handler it installed before forking
    # must not run here: back to the default, then unblocked (see WorkerPool._submit), so that a
    # SIGTERM sent since the fork ends this process now instead of being lost.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    # The writer (the importer) is the one serial step: workers run at a lower priority so that
    # it gets a core whenever it can run (they otherwise ran ahead and took half its time:
    # measured writer wall time twice its CPU time on 2 cores).
    try:
        if niceness:
            os.nice(niceness)
    except OSError:  # pragma: no cover - not permitted: run at the same priority
        pass
    pids.put(os.getpid())
    _worker_context = make_context()


def _enlarge_pipes(executor: ProcessPoolExecutor) -> None:
    """Give the executor's two pipes (items out, results back) _PIPE_BYTES each, before any
    worker starts. Best effort: where the size cannot be set the pool works as before."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - the portal runs on Linux
        return
    import fcntl  # POSIX only: imported where it is used

    # The executor keeps its queues private; both are made by its constructor.
    for queue in (getattr(executor, "_call_queue", None), getattr(executor, "_result_queue", None)):
        reader = getattr(queue, "_reader", None)
        if reader is not None:
            with contextlib.suppress(OSError):
                fcntl.fcntl(reader.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)


def _run_step(step: Callable[[Any, Any], Any], item: Any) -> Any:
    return step(_worker_context, item)


def _terminated(signum: int, frame: Any) -> None:
    # As the default action would, but through every ``finally`` block on the way out.
    raise SystemExit(128 + signum)


class WorkerPool(Generic[Context]):
    """``with WorkerPool(make_context, workers) as pool: for result in pool.map(step, items)``."""

    def __init__(
        self,
        make_context: Callable[[], Context],
        workers: int,
        *,
        processes: bool = False,
        niceness: int = 10,
    ) -> None:
        """``workers`` processes (one: this process, unless ``processes``), each made with
        ``make_context`` and run ``niceness`` lower in priority than this one (what this
        process does meanwhile comes first; 0 for workers that share the work equally)."""
        self._make_context = make_context
        self._workers = workers
        self._processes = processes
        self._niceness = niceness
        self._context: Context | None = None
        self._executor: ProcessPoolExecutor | None = None
        self._pids: SimpleQueue | None = None
        self._previous_sigterm: Any = None
        self._submitted = False  # the workers are started by the first submit

    def __enter__(self) -> WorkerPool[Context]:
        if self._workers < 1 or (self._workers == 1 and not self._processes):
            self._context = self._make_context()
            return self
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _terminated)
        self._pids = multiprocessing.SimpleQueue()
        self._executor = ProcessPoolExecutor(
            max_workers=self._workers,
            initializer=_start_worker,
            initargs=(self._make_context, self._pids, self._niceness),
        )
        _enlarge_pipes(self._executor)
        return self

    def map(self, step: Callable[[Context, Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        """``step(context, item)`` for each item, in the order of ``items``."""
        if self._executor is None:
            for item in items:
                yield step(self._context, item)  # type: ignore[arg-type]
            return
        window: deque[Future] = deque()
        for item in items:
            window.append(self._submit(step, item))
            if len(window) >= 2 * self._workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()

    def submit(self, step: Callable[[Context, Item], Result], item: Item) -> Future:
        """``step(context, item)`` in a worker: its future (in this process without workers)."""
        if self._executor is None:
            done: Future = Future()
            try:
                done.set_result(step(self._context, item))  # type: ignore[arg-type]
            except Exception as error:  # noqa: BLE001 - handed to whoever asks the future
                done.set_exception(error)
            return done
        return self._submit(step, item)

    def _submit(self, step: Callable[[Context, Item], Result], item: Item) -> Future:
        # A submit may fork a worker. SIGTERM stays blocked meanwhile, so the new process inherits
        # it blocked: one sent to the worker before its initializer has reset the handler it
        # inherited stays pending instead of reaching that handler, which the reset would then
        # make Python drop.
        assert self._executor is not None
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            future = self._executor.submit(_run_step, step, item)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        self._submitted = True
        return future

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._executor is None:
            return
        try:
            if kind is not None and self._submitted:  # do not wait for batches nobody will write
                self._kill_workers()
            self._executor.shutdown(wait=True, cancel_futures=kind is not None)
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            assert self._pids is not None
            self._pids.close()

    def _kill_workers(self) -> None:
        """SIGKILL every worker, waiting briefly for the pid of any still starting.

        A worker left out (its pid not sent yet) would make the shutdown wait until it has
        finished every item already queued for it: seen in about one pool in ten when the
        error came as the first result did."""
        assert self._pids is not None
        killed = 0
        deadline = time.monotonic() + _STARTING_WORKER_WAIT
        while killed < self._workers and time.monotonic() < deadline:
            if self._pids.empty():
                time.sleep(0.005)
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pids.get(), signal.SIGKILL)
            killed += 1
