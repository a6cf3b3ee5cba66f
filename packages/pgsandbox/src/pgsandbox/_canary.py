"""The canary: a row pgsandbox writes into each database it prepares and checks at the end.

If the row is gone at the end of the run, something rebuilt or truncated the database
while tests were using it (a "migrate and TRUNCATE once" hook racing with itself, say).
The table lives in pgsandbox's own schema, so the application's autogenerate comparisons
and table listings do not see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from pgsandbox._admin import conninfo

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["CANARY_MESSAGE", "CanaryResult", "check_canary", "write_canary"]

CANARY_MESSAGE = "database was rebuilt or truncated during the run"


@dataclass(frozen=True, slots=True)
class CanaryResult:
    """Whether the canary of one database survived."""

    database: str
    survived: bool
    detail: str = ""


def write_canary(server_url: URL, database: str, run_id: str) -> None:
    """Write the canary row into a database pgsandbox has just created."""
    with psycopg.connect(autocommit=True, **conninfo(server_url, database=database)) as conn:
        conn.execute(
            "INSERT INTO pgsandbox.canary (database, run_id) VALUES (%s, %s) "
            "ON CONFLICT (database) DO UPDATE SET run_id = EXCLUDED.run_id, written_at = now()",
            (database, run_id),
        )


def check_canary(server_url: URL, database: str, run_id: str, *, remove: bool) -> CanaryResult:
    """Check that the canary row of this run is still there; optionally remove it."""
    try:
        with psycopg.connect(autocommit=True, **conninfo(server_url, database=database)) as conn:
            row = conn.execute(
                "SELECT run_id FROM pgsandbox.canary WHERE database = %s", (database,)
            ).fetchone()
            if remove:
                conn.execute("DELETE FROM pgsandbox.canary WHERE database = %s", (database,))
    except psycopg.errors.UndefinedTable:
        return CanaryResult(database, survived=False, detail="canary table dropped")
    except psycopg.OperationalError as exc:
        return CanaryResult(database, survived=False, detail=f"database unreachable: {exc}")
    if row is None:
        return CanaryResult(database, survived=False, detail="canary row deleted")
    if row[0] != run_id:
        return CanaryResult(database, survived=False, detail=f"canary rewritten by run {row[0]}")
    return CanaryResult(database, survived=True)
