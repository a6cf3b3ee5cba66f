"""The canary: a row pgsandbox writes into each database it prepares and checks at the end.

If the row is gone at the end of the run, something rebuilt or truncated the database
while tests were using it (a "migrate and TRUNCATE once" hook racing with itself, say).
The table lives in pgsandbox's own schema, so the application's autogenerate comparisons
and table listings do not see it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from pgsandbox._admin import conninfo
from pgsandbox._faults import LIMIT, trouble_of

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["CANARY_MESSAGE", "CanaryResult", "check_canary", "write_canary"]

CANARY_MESSAGE = "database was rebuilt or truncated during the run"
_LIMIT_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class CanaryResult:
    """Whether the canary of one database survived."""

    database: str
    survived: bool
    detail: str = ""
    #: False when the canary could not be read (server gone, or at its connection limit):
    #: then it was not found missing either, and raises no alarm.
    checked: bool = True

    @property
    def alarm(self) -> bool:
        """The canary was read and found missing: something rebuilt the database."""
        return self.checked and not self.survived


def write_canary(server_url: URL, database: str, run_id: str) -> None:
    """Write the canary row into a database pgsandbox has just created."""
    with psycopg.connect(autocommit=True, **conninfo(server_url, database=database)) as conn:
        conn.execute(
            "INSERT INTO pgsandbox.canary (database, run_id) VALUES (%s, %s) "
            "ON CONFLICT (database) DO UPDATE SET run_id = EXCLUDED.run_id, written_at = now()",
            (database, run_id),
        )


def check_canary(
    server_url: URL,
    database: str,
    run_id: str,
    *,
    remove: bool,
    limit_wait_s: float = _LIMIT_WAIT_S,
) -> CanaryResult:
    """Check that the canary row of this run is still there; optionally remove it.

    A server at its connection limit is given ``limit_wait_s`` to free a slot (workers
    that just ended are still closing theirs). A canary that cannot be read is returned
    with ``checked=False``: unknown, not missing.
    """
    deadline = time.monotonic() + limit_wait_s
    while True:
        try:
            with psycopg.connect(
                autocommit=True, **conninfo(server_url, database=database)
            ) as conn:
                row = conn.execute(
                    "SELECT run_id FROM pgsandbox.canary WHERE database = %s", (database,)
                ).fetchone()
                if remove:
                    conn.execute("DELETE FROM pgsandbox.canary WHERE database = %s", (database,))
            break
        except psycopg.errors.UndefinedTable:
            return CanaryResult(database, survived=False, detail="canary table dropped")
        except psycopg.OperationalError as exc:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
            if trouble_of(str(exc)) == LIMIT and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            return CanaryResult(
                database, survived=False, detail=f"not checked: {detail}", checked=False
            )
    if row is None:
        return CanaryResult(database, survived=False, detail="canary row deleted")
    if row[0] != run_id:
        return CanaryResult(database, survived=False, detail=f"canary rewritten by run {row[0]}")
    return CanaryResult(database, survived=True)
