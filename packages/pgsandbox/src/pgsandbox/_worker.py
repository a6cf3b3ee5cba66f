"""A worker's side of a run: its database, the shared one, and per-test clones.

Workers never migrate and never touch the template except to clone it. Each worker gets
its assignment from the controller (``workerinput`` under xdist).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from typing import TYPE_CHECKING, Any

import psycopg

from pgsandbox._admin import AdminConnection, connect, conninfo
from pgsandbox._clone_pool import CLONE_POOL_SIZE, ClonePool
from pgsandbox._faults import ConnectionBudget, per_worker_connections, remember_budget
from pgsandbox._naming import test_database_name
from pgsandbox._recycle import (
    RESET_CONNECTION_SETUP,
    RecycledClone,
    install_tracking,
    reset_clone,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from pgsandbox._controller import Assignment

__all__ = ["ASYNC_DRIVER", "SYNC_DRIVER", "WorkerDatabases"]

ASYNC_DRIVER = "postgresql+asyncpg"
SYNC_DRIVER = "postgresql+psycopg"


class WorkerDatabases:
    """Names and URLs of one worker's databases, and the per-test clones it makes."""

    def __init__(self, assignment: Assignment) -> None:
        """Take the assignment the controller made for this worker."""
        self.assignment = assignment
        if int(assignment.max_connections):
            remember_budget(
                ConnectionBudget(
                    max_connections=int(assignment.max_connections),
                    per_worker=sum(per_worker_connections().values()),
                    workers=int(assignment.workers),
                )
            )
        self._server_url = assignment.url
        self._admin: AdminConnection | None = None
        self._serial = itertools.count(1)
        self._clones: ClonePool | None = None
        self._closed_pool_waits: list[float] = []
        self._urls: dict[tuple[str, str], URL] = {}
        #: Recycling ``database`` clones (see ``_recycle``): None until first asked.
        self._recycling: bool | None = None
        self._recycled: RecycledClone | None = None
        self._untracked: dict[str, str] = {}  # clone -> why its tracking failed to install
        #: Clones given up after a test (their engines are disposed by the next test).
        self.retired: list[str] = []
        #: ``database`` tests by what they got: "reused", "fresh", and why a clone was
        #: not reused (``recycle_fallbacks``).
        self.recycle_counts: Counter[str] = Counter()
        self.recycle_fallbacks: Counter[str] = Counter()
        self._reused_waits: list[float] = []

    @property
    def run_id(self) -> str:
        """The run this worker belongs to."""
        return self.assignment.run_id

    @property
    def worker_id(self) -> str:
        """``gw0``, ``gw1``, ... or ``main`` without xdist."""
        return self.assignment.worker_id

    def url(self, database: str, driver: str = ASYNC_DRIVER) -> URL:
        """URL of one database on the run's server, with the given driver."""
        url = self._urls.get((database, driver))
        if url is None:
            url = self._server_url.set(drivername=driver, database=database)
            # Every test asks for its database's URLs; clones are used once, so only the
            # worker's and the shared database's are kept.
            if database in (self.worker_database, self.shared_database):
                self._urls[(database, driver)] = url
        return url

    @property
    def worker_database(self) -> str:
        """This worker's clone of the template (``transaction`` tests run in it)."""
        return self.assignment.worker_database

    @property
    def shared_database(self) -> str:
        """The run-wide database ``shared`` tests commit into."""
        return self.assignment.shared_database

    def clone_for_test(self) -> str:
        """Take a fresh clone of the template for one ``database``-isolation test.

        The first call starts the worker's warm pool (see ``_clone_pool``), so runs
        without ``database`` tests never create a spare clone.
        """
        return self._pool().take()

    def _pool(self) -> ClonePool:
        if self._clones is None:
            self._clones = ClonePool(
                prepare=self._install_tracking if self._recycling else None,
                size=self._spare_clones(),
                open_admin=lambda: self._open_admin("clones"),
                server_url=self._server_url,
                template=self.assignment.template,
                next_name=lambda: test_database_name(
                    self.run_id, self.worker_id, next(self._serial)
                ),
                meta={"kind": "test", "run": self.run_id, "worker": self.worker_id},
            )
        return self._clones

    def warm_clones(self, *, recycle: bool) -> None:
        """Start the clone pool before the first ``database`` test asks for a clone.

        Its thread makes the first clones (and their tracking) while other tests run. Any
        trouble is left for that test to report, with its explanation.
        """
        with contextlib.suppress(Exception):
            if recycle:
                self._may_recycle()
            self._pool()

    # ------------------------------------------------------------------ recycled clones
    def take_clone(self, *, recycle: bool) -> tuple[str, RecycledClone | None]:
        """A clone for one ``database`` test: the worker's recycled one when it can be.

        Returns the clone's name and, when it is recycled, its :class:`RecycledClone`
        (hand both back to :meth:`finish_clone`).
        """
        if not recycle or not self._may_recycle():
            return self.clone_for_test(), None
        clone, self._recycled = self._recycled, None
        if clone is not None:
            self._reused_waits.append(0.0)  # ready before the test asked
            clone.epoch += 1
            clone.uses += 1
            self.recycle_counts["reused"] += 1
            return clone.name, clone
        name = self._pool().take(replace=False)
        self.recycle_counts["fresh"] += 1
        failed = self._untracked.pop(name, None)
        if failed is not None:
            self._recycling = False  # it would fail for every clone of this template
            self.recycle_fallbacks[f"tracking could not be installed: {failed}"] += 1
            return name, None
        conn = psycopg.connect(
            autocommit=True,
            application_name=f"pgsandbox/{self.run_id}/{self.worker_id}/recycle",
            **conninfo(self._server_url, database=name),
        )
        conn.execute(RESET_CONNECTION_SETUP)
        return name, RecycledClone(name=name, conn=conn, epoch=1, uses=1)

    def finish_clone(self, name: str, clone: RecycledClone | None) -> None:
        """After a ``database`` test: reset a recycled clone for the next one, or drop it."""
        if clone is None:
            self.drop_test_database(name)
            return
        try:
            why = reset_clone(clone)
        except psycopg.Error as exc:
            why = f"its reset failed: {str(exc).strip().splitlines()[0]}"
        if not why:
            self._recycled = clone
            return
        if why.startswith("busy:"):
            why = "a connection the test opened was still open"
        self.recycle_fallbacks[why.split(" (", 1)[0]] += 1
        with contextlib.suppress(psycopg.Error):
            clone.conn.close()
        self.retired.append(name)
        self.drop_test_database(name)

    def recycle_summary(self) -> dict[str, dict[str, int]]:
        """The worker's counts of reused and fresh ``database`` clones, and why not reused."""
        return {"counts": dict(self.recycle_counts), "fallbacks": dict(self.recycle_fallbacks)}

    def _may_recycle(self) -> bool:
        if self._recycling is None:
            row = (
                self._connection()
                .conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .fetchone()
            )
            self._recycling = bool(row and row[0])
            if not self._recycling:
                self.recycle_fallbacks["pgsandbox's role is not a superuser"] += 1
        return self._recycling

    def _install_tracking(self, conn: psycopg.Connection[Any]) -> None:
        """The clone pool's ``prepare``: install the tracking, or note why it failed."""
        try:
            install_tracking(conn)
        except psycopg.Error as exc:
            self._untracked[conn.info.dbname] = str(exc).strip().splitlines()[0]

    def _spare_clones(self) -> int:
        """Spares to keep ready: none on a server that syncs to disk.

        Measured on PostgreSQL 15 with fsync on (docs/benchmarks.md): every DROP DATABASE
        forces a checkpoint, which writes and syncs every live clone's freshly copied
        pages, while a clone dropped before any checkpoint never reaches the disk. Spares
        are live at every checkpoint, so they tripled the time per test there (1.47 s
        against 0.47 s, and 0.39 s for pytest-postgresql). Clones are still made, and
        dropped in batches, in the background (see ``_clone_pool``).
        """
        row = self._connection().conn.execute("SHOW fsync").fetchone()
        if row is None or row[0] != "off":
            return 0
        # A recycled clone serves test after test: one made ahead is the first test's; a
        # test after one that could not be reset waits for its clone (20-30 ms on tmpfs).
        return 1 if self._recycling else CLONE_POOL_SIZE

    @property
    def clone_waits(self) -> list[float]:
        """Seconds each ``database`` test waited for its clone (the first always waits).

        A test on the worker's reset clone waited for nothing (its reset ran in the last
        test's teardown).
        """
        live = self._clones.waits if self._clones is not None else []
        return [*self._closed_pool_waits, *live, *self._reused_waits]

    def drop_test_database(self, name: str) -> None:
        """Drop a clone made by :meth:`clone_for_test` (in the background)."""
        if self._clones is not None:
            self._clones.release(name)
        else:
            self._connection().drop(name)

    def close(self) -> None:
        """Finish the clone pool's drops and close the worker's maintenance connections."""
        if self._recycled is not None:
            with contextlib.suppress(psycopg.Error):
                self._recycled.conn.close()
            self.drop_test_database(self._recycled.name)
            self._recycled = None
        if self._clones is not None:
            self._clones.close()
            self._closed_pool_waits.extend(self._clones.waits)
            self._clones = None
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def _connection(self) -> AdminConnection:
        if self._admin is None:
            self._admin = self._open_admin("admin")
        return self._admin

    def _open_admin(self, role: str) -> AdminConnection:
        return AdminConnection(
            connect(
                self._server_url,
                source=self.assignment.server_source,
                application_name=f"pgsandbox/{self.run_id}/{self.worker_id}/{role}",
            )
        )
