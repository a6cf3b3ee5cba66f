"""A worker's side of a run: its database, the shared one, and per-test clones.

Workers never migrate and never touch the template except to clone it. Each worker gets
its assignment from the controller (``workerinput`` under xdist).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from pgsandbox._admin import AdminConnection, connect
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
        self._server_url = assignment.url
        self._admin: AdminConnection | None = None
        self._serial = itertools.count(1)

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
        return self._server_url.set(drivername=driver, database=database)

    @property
    def worker_database(self) -> str:
        """This worker's clone of the template (``transaction`` tests run in it)."""
        return self.assignment.worker_database

    @property
    def shared_database(self) -> str:
        """The run-wide database ``shared`` tests commit into."""
        return self.assignment.shared_database

    def clone_for_test(self) -> str:
        """Create a fresh clone of the template for one ``database``-isolation test."""
        name = test_database_name(self.run_id, self.worker_id, next(self._serial))
        meta = {"kind": "test", "run": self.run_id, "worker": self.worker_id}
        self._connection().create(name, meta=meta, template=self.assignment.template)
        return name

    def drop_test_database(self, name: str) -> None:
        """Drop a clone made by :meth:`clone_for_test`."""
        self._connection().drop(name)

    def close(self) -> None:
        """Close the worker's maintenance connection, if it opened one."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def _connection(self) -> AdminConnection:
        if self._admin is None:
            self._admin = AdminConnection(
                connect(
                    self._server_url,
                    source=self.assignment.server_source,
                    application_name=f"pgsandbox/{self.run_id}/{self.worker_id}/admin",
                )
            )
        return self._admin
