"""A worker's side of a run: its database, the shared one, and per-test clones.

Workers never migrate and never touch the template except to clone it. Each worker gets
its assignment from the controller (``workerinput`` under xdist).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from pgsandbox._admin import AdminConnection, connect
from pgsandbox._clone_pool import CLONE_POOL_SIZE, ClonePool
from pgsandbox._faults import ConnectionBudget, per_worker_connections, remember_budget
from pgsandbox._naming import test_database_name

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
        if self._clones is None:
            self._clones = ClonePool(
                size=self._spare_clones(),
                open_admin=lambda: self._open_admin("clones"),
                server_url=self._server_url,
                template=self.assignment.template,
                next_name=lambda: test_database_name(
                    self.run_id, self.worker_id, next(self._serial)
                ),
                meta={"kind": "test", "run": self.run_id, "worker": self.worker_id},
            )
        return self._clones.take()

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
        return CLONE_POOL_SIZE if row is not None and row[0] == "off" else 0

    @property
    def clone_waits(self) -> list[float]:
        """Seconds each ``database`` test waited for its clone (the first always waits)."""
        live = self._clones.waits if self._clones is not None else []
        return [*self._closed_pool_waits, *live]

    def drop_test_database(self, name: str) -> None:
        """Drop a clone made by :meth:`clone_for_test` (in the background)."""
        if self._clones is not None:
            self._clones.release(name)
        else:
            self._connection().drop(name)

    def close(self) -> None:
        """Finish the clone pool's drops and close the worker's maintenance connections."""
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
