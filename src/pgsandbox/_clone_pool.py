"""A worker's warm pool of template clones for ``database``-isolation tests.

``CREATE DATABASE … TEMPLATE`` costs 10-30 ms, and the first connection to a fresh
database pays again for building its relation cache. A test that waited for both would
spend most of its time there. Instead, a background thread keeps a few clones ready
(created, marked as pgsandbox's, and connected to once), replaces each one a test takes,
and drops the clones tests are done with, so a test takes a ready database and its
teardown returns at once. The thread has a maintenance connection of its own; psycopg
releases the GIL while it waits for the server, so the tests keep running meanwhile.

Plain Python with no pytest import.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

import psycopg

from pgsandbox._admin import conninfo

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import URL

    from pgsandbox._admin import AdminConnection

__all__ = ["CLONE_POOL_SIZE", "ClonePool"]

#: Clones kept ready per worker (on servers without fsync; see WorkerDatabases). Two
#: cover a test that takes longer than one clone.
CLONE_POOL_SIZE = 2
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
    ) -> None:
        """Start the thread and ask it for ``size`` clones."""
        self._open_admin = open_admin
        self._server_url = server_url
        self._template = template
        self._next_name = next_name
        self._meta = meta
        self._jobs: queue.Queue[tuple[str, str]] = queue.Queue()
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._closing = threading.Event()
        #: Seconds each :meth:`take` waited for a clone (the first one always waits).
        self.waits: list[float] = []
        self._thread = threading.Thread(target=self._work, name="pgsandbox-clone-pool", daemon=True)
        self._thread.start()
        for _ in range(size):
            self._jobs.put(("create", ""))

    def take(self) -> str:
        """Return a ready clone (waiting for one if none is), and order its replacement.

        Raises:
            Exception: whatever creating the clone raised in the thread.
        """
        started = time.perf_counter()
        self._jobs.put(("create", ""))
        item = self._ready.get()
        self.waits.append(time.perf_counter() - started)
        if isinstance(item, BaseException):
            raise item
        return item

    def release(self, name: str) -> None:
        """Drop a clone a test is done with, in the background."""
        self._jobs.put(("drop", name))

    def close(self) -> None:
        """Finish pending drops, drop the clones nobody took, and stop the thread."""
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
                        admin.drop(name)
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
        with psycopg.connect(autocommit=True, **conninfo(self._server_url, database=name)):
            pass
        return name

    def _drop_untaken(self, admin: AdminConnection | None) -> None:
        while True:
            try:
                item = self._ready.get_nowait()
            except queue.Empty:
                break
            if admin is not None and isinstance(item, str):
                with contextlib.suppress(Exception):
                    admin.drop(item)
        if admin is not None:
            admin.close()
