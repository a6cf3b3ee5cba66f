"""A worker's warm pool of template clones for ``database``-isolation tests.

``CREATE DATABASE … TEMPLATE`` costs 10-30 ms, and the first connection to a fresh
database pays again for building its relation cache. A test that waited for both would
spend most of its time there. Instead, a background thread keeps a few clones ready
(created, marked as pgsandbox's, and connected to once), replaces each one a test takes,
and drops the clones tests are done with, so a test takes a ready database and its
teardown returns at once. The thread has a maintenance connection of its own; psycopg
releases the GIL while it waits for the server, so the tests keep running meanwhile.

Used clones are dropped in batches of ``DROP_BATCH``, all at the same moment, each on a
connection of its own. PostgreSQL 15 makes every ``DROP DATABASE`` wait for a checkpoint,
and one checkpoint answers every request made before it started, so drops sent together
share a few checkpoints instead of forcing one each. On a server that syncs to disk that
is most of a clone's cost: dropping one at a time took 69-72 ms per database there,
eight at once 6-8 ms per database. The thread waits for its batch before it makes the
next clone: a checkpoint writes and syncs every clone alive when it runs, while one
dropped before any checkpoint never reaches the disk. On the disk server, 100
``database`` tests took 8.6 s instead of 16.7 s at ``-n 0`` and 7.3 s instead of 13.9 s
at ``-n 2`` (docs/benchmarks.md).

Plain Python with no pytest import.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

import psycopg

from pgsandbox._admin import conninfo

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import URL

    from pgsandbox._admin import AdminConnection

__all__ = ["CLONE_POOL_SIZE", "DROP_BATCH", "ClonePool"]

#: Clones kept ready per worker (on servers without fsync; see WorkerDatabases). Two
#: cover a test that takes longer than one clone.
CLONE_POOL_SIZE = 2
#: Used clones dropped together (see the module's docstring); fewer wait for the pool's
#: close. The worker holds this many extra connections while a batch runs.
DROP_BATCH = 8
_STOP = ("stop", "")


class ClonePool:
    """Clones of the template made ahead of time, and dropped after use, in a thread.

    Args:
        open_admin: opens the thread's own maintenance connection (called in the thread).
        server_url: the server, to connect to each fresh clone once.
        template: the template to clone.
        next_name: returns the name of the next clone.
        meta: pgsandbox's ownership comment for every clone.
        size: how many clones to keep ready; with 0 each :meth:`take` waits for its clone
            (drops still happen in the background).
        drop_batch: used clones dropped together (1 drops each one at once).
        prepare: run on the first connection to each fresh clone (autocommit), in the
            thread: installs the tracking of recycled clones (see ``_recycle``).
    """

    def __init__(
        self,
        *,
        open_admin: Callable[[], AdminConnection],
        server_url: URL,
        template: str,
        next_name: Callable[[], str],
        meta: dict[str, Any],
        size: int = CLONE_POOL_SIZE,
        drop_batch: int = DROP_BATCH,
        prepare: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> None:
        """Start the thread and ask it for ``size`` clones."""
        self._open_admin = open_admin
        self._dropper = _BatchDropper(open_admin, drop_batch)
        self._server_url = server_url
        self._template = template
        self._next_name = next_name
        self._meta = meta
        self._prepare = prepare
        self._jobs: queue.Queue[tuple[str, str]] = queue.Queue()
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._closing = threading.Event()
        #: Seconds each :meth:`take` waited for a clone (the first one always waits).
        self.waits: list[float] = []
        self._thread = threading.Thread(target=self._work, name="pgsandbox-clone-pool", daemon=True)
        self._thread.start()
        #: Clones ordered and not yet taken (made or being made); only :meth:`take` and
        #: this constructor, both in the caller's thread, change it.
        self._ordered = size
        for _ in range(size):
            self._jobs.put(("create", ""))

    def take(self, *, replace: bool = True) -> str:
        """Return a ready clone (waiting for one if none is), and order its replacement.

        Without ``replace`` no replacement is made: the worker's recycled clone serves
        test after test, so a spare would only be made, and dropped, for nothing.

        Raises:
            Exception: whatever creating the clone raised in the thread.
        """
        started = time.perf_counter()
        if replace or not self._ordered:
            self._jobs.put(("create", ""))
            self._ordered += 1
        item = self._ready.get()
        self._ordered -= 1
        self.waits.append(time.perf_counter() - started)
        if isinstance(item, BaseException):
            raise item
        return item

    def release(self, name: str) -> None:
        """Drop a clone a test is done with, in the background."""
        self._jobs.put(("drop", name))

    def close(self) -> None:
        """Drop the used clones still pending and those nobody took; stop the threads."""
        self._closing.set()  # clones still ordered would only be dropped again
        self._jobs.put(_STOP)
        self._thread.join()

    # ------------------------------------------------------------------ the thread
    def _work(self) -> None:
        admin: AdminConnection | None = None
        try:
            while True:
                kind, name = self._jobs.get()
                if (kind, name) == _STOP:
                    break
                if kind == "create" and self._closing.is_set():
                    continue
                try:
                    if admin is None:
                        admin = self._open_admin()
                    if kind == "create":
                        self._ready.put(self._create(admin))
                    else:
                        self._dropper.add(name)
                except Exception as exc:  # handed to the test that takes the next clone
                    if kind == "create":
                        self._ready.put(exc)
        finally:
            self._drop_untaken(admin)

    def _create(self, admin: AdminConnection) -> str:
        name = self._next_name()
        admin.create(name, meta=self._meta, template=self._template)
        # The first connection to a new database builds its relation cache file; pay for
        # that here rather than in the test.
        with psycopg.connect(autocommit=True, **conninfo(self._server_url, database=name)) as conn:
            if self._prepare is not None:
                self._prepare(conn)
        return name

    def _drop_untaken(self, admin: AdminConnection | None) -> None:
        while True:
            try:
                item = self._ready.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, str):
                self._dropper.add(item)
        self._dropper.close()
        if admin is not None:
            admin.close()


class _BatchDropper:
    """Drops databases ``batch`` at a time, all at once, each on its own connection.

    Used from the pool's thread only; the drops run in a small thread pool whose threads
    keep their maintenance connection from batch to batch. A drop that fails is left
    for ``python -m pgsandbox reap`` (the database stays marked as pgsandbox's).
    """

    def __init__(self, open_admin: Callable[[], AdminConnection], batch: int) -> None:
        self._open_admin = open_admin
        self._batch = max(1, batch)
        self._pending: list[str] = []
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._opened: list[AdminConnection] = []
        self._opened_lock = threading.Lock()

    def add(self, name: str) -> None:
        """Queue a drop; send the batch once it is full."""
        self._pending.append(name)
        if len(self._pending) >= self._batch:
            self._flush()

    def close(self) -> None:
        """Send what is pending, wait for every drop, close the connections."""
        self._flush()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        for admin in self._opened:
            with contextlib.suppress(Exception):
                admin.close()

    def _flush(self) -> None:
        names, self._pending = self._pending, []
        if not names:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._batch, thread_name_prefix="pgsandbox-drop"
            )
        # Waited for, so the pool's next clone is made after the batch's checkpoint: a
        # checkpoint writes and syncs every live clone, a dropped one never reaches disk.
        wait([self._executor.submit(self._drop, name) for name in names])

    def _drop(self, name: str) -> None:
        admin: AdminConnection | None = getattr(self._local, "admin", None)
        if admin is None:
            admin = self._open_admin()
            self._local.admin = admin
            with self._opened_lock:
                self._opened.append(admin)
        try:
            admin.drop(name)
        except Exception:  # left for reap (class docstring); the next drop reconnects
            self._local.admin = None
            with contextlib.suppress(Exception):
                admin.close()
