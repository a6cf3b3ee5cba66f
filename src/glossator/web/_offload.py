"""CPU-heavy work (importing, page rendering) in worker processes, under a time limit.

The web app is one asyncio event loop: while a request computes, no other request is
answered. Importing a file (sanitising with nh3, rendering Markdown) and rendering a large
document can take seconds, and hostile input can take much longer or crash the sanitiser.
So that work runs in a small pool of worker *processes*:

* processes, not threads: nh3 and ``re`` hold the GIL for the whole call, so a thread
  would block the loop as surely as running inline; a process can also be killed, which a
  thread cannot, and its crash (a stack overflow in the sanitiser) takes nothing else down;
* every call has a time limit; when it runs out, the worker process is killed (SIGKILL)
  and the caller gets :class:`WorkTimedOut`, a 422 that says what took too long; a worker
  that dies is :class:`WorkerCrashed` (422 too: the input did it);
* workers are started with ``spawn`` (no ``fork`` of a process with threads and open
  database connections), lazily, and reused; at most ``size`` run at once, later calls
  wait for a free one (waiting does not count against the time limit);
* the waiting happens in the pool's own threads (one per worker), so the event loop only
  awaits a future.

Functions and arguments cross the process boundary by pickle: pass module-level
functions and plain data. Errors raised in the worker come back as they are when they
are glossator errors; anything else is a :class:`WorkerError` (a bug: a 500).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeVar

from glossator.errors import GlossatorError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

__all__ = [
    "DEFAULT_POOL_SIZE",
    "WorkTimedOut",
    "WorkerCrashed",
    "WorkerError",
    "WorkerPool",
    "close_shared_pool",
    "shared_pool",
]

_T = TypeVar("_T")

#: Worker processes of the shared pool: the machines glossator runs on have few cores.
DEFAULT_POOL_SIZE: Final = max(1, min(2, os.cpu_count() or 1))
#: Seconds a worker gets to exit after its pipe closes before it is killed.
_STOP_GRACE: Final = 2.0


class WorkTimedOut(ValidationError):
    """The work ran past its time limit; its worker process was killed."""


class WorkerCrashed(ValidationError):
    """The worker process died while working (the input crashed the sanitiser, say)."""


class WorkerError(RuntimeError):
    """The work raised an error that is not glossator's: a bug, with the worker's traceback."""


def _worker_main(connection: Connection) -> None:
    """A worker process: run ``(function, args)`` requests until the pipe closes."""
    while True:
        try:
            function, args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, object] = ("ok", function(*args))
        except GlossatorError as error:
            reply = ("error", error)
        except Exception:
            reply = ("bug", traceback.format_exc())
        try:
            payload = pickle.dumps(reply)
            pickle.loads(payload)  # noqa: S301 - our own bytes; proves the error round-trips
        except Exception:
            payload = pickle.dumps(("bug", traceback.format_exc()))
        connection.send_bytes(payload)


class _Worker:
    """One worker process and our end of its pipe."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        ours, theirs = context.Pipe(duplex=True)
        self.connection = ours
        self.process: BaseProcess = context.Process(  # type: ignore[attr-defined] # BaseContext has Process at runtime
            target=_worker_main, args=(theirs,), name="glossator-cpu-worker", daemon=True
        )
        self.process.start()
        theirs.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
            self.process.join(_STOP_GRACE)
        with contextlib.suppress(OSError):
            self.connection.close()

    def stop(self) -> None:
        # Closing the pipe ends the worker's loop; kill it if it does not go.
        with contextlib.suppress(OSError):
            self.connection.close()
        self.process.join(_STOP_GRACE)
        if self.process.is_alive():
            self.kill()


class WorkerPool:
    """A few worker processes that run functions with a time limit (see the module docs).

    Args:
        size: How many calls may run at once (one worker process each).
    """

    def __init__(self, size: int = DEFAULT_POOL_SIZE) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {size}")
        self.size = size
        self._context = multiprocessing.get_context("spawn")
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="glossator-cpu")
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    async def run(
        self, function: Callable[..., _T], *args: Any, time_limit: float, what: str
    ) -> _T:
        """Run ``function(*args)`` in a worker process and return its result.

        Args:
            function: A module-level function (it is pickled by name).
            *args: Its arguments (pickled).
            time_limit: Seconds the call may run; the worker is killed after that.
            what: What the work is, for error messages ("importing the file").

        Raises:
            WorkTimedOut: It ran longer than ``time_limit``.
            WorkerCrashed: The worker process died.
            WorkerError: The function raised an error that is not a glossator error.
            GlossatorError: The function raised it (passed on as it is).
        """
        loop = asyncio.get_running_loop()
        result: _T = await loop.run_in_executor(
            self._threads, self._run_blocking, function, args, time_limit, what
        )
        return result

    def _run_blocking(
        self, function: Callable[..., _T], args: tuple[Any, ...], time_limit: float, what: str
    ) -> _T:
        worker = self._check_out()
        try:
            worker.connection.send((function, args))
            if not worker.connection.poll(time_limit):
                raise WorkTimedOut(
                    f"{what} took longer than {time_limit:g} s and was stopped; the document "
                    "is too large or too complex, split it or simplify it"
                )
            status, value = pickle.loads(worker.connection.recv_bytes())  # noqa: S301 - from our worker
        except (EOFError, OSError, BrokenPipeError) as error:
            self._discard(worker)
            raise WorkerCrashed(
                f"{what} failed: the worker process stopped ({type(error).__name__}); the "
                "file is probably malformed in a way the converter cannot handle"
            ) from None
        except BaseException:
            self._discard(worker)
            raise
        self._check_in(worker)
        if status == "ok":
            return value  # type: ignore[no-any-return] # the worker returns function's result
        if status == "error":
            raise value
        raise WorkerError(f"{what} failed in a worker process:\n{value}")

    def _check_out(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            while self._idle:
                worker = self._idle.pop()
                if worker.process.is_alive():
                    self._busy.add(worker)
                    return worker
                worker.kill()
        worker = _Worker(self._context)
        with self._lock:
            self._busy.add(worker)
        return worker

    def _check_in(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            if not self._closed:
                self._idle.append(worker)
                return
        worker.stop()

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
        worker.kill()

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (idle and busy), for tests and diagnostics."""
        with self._lock:
            workers = [*self._idle, *self._busy]
        return [w.process.pid for w in workers if w.process.pid is not None]

    def close(self) -> None:
        """Stop every worker (busy ones are killed) and the waiting threads."""
        with self._lock:
            self._closed = True
            idle, busy = self._idle, list(self._busy)
            self._idle = []
        for worker in idle:
            worker.stop()
        for worker in busy:
            worker.kill()  # its waiting thread sees the pipe close and returns
        self._threads.shutdown(wait=True, cancel_futures=True)


_shared: WorkerPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """The server process's pool of :data:`DEFAULT_POOL_SIZE` workers, made on first use."""
    global _shared  # noqa: PLW0603 - one pool per server process, created on first use
    with _shared_lock:
        if _shared is None:
            _shared = WorkerPool(DEFAULT_POOL_SIZE)
        return _shared


def close_shared_pool() -> None:
    """Stop the shared pool's workers (the app's lifespan calls it at shutdown)."""
    global _shared
    with _shared_lock:
        pool, _shared = _shared, None
    if pool is not None:
        pool.close()
