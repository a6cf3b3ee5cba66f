"""Server-level operations on one maintenance connection: create, clone, mark, drop, lock.

This is plain psycopg (sync, autocommit) with no pytest in sight, so the controller, the
``python -m pgsandbox`` command and the tests can all use it. The only statements it
sends to a database pgsandbox did not create are catalogue reads, advisory locks and
``CREATE DATABASE``; everything that changes or removes a database first checks that the
database carries pgsandbox's comment.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors

from pgsandbox._errors import PgsandboxError, ServerUnavailable
from pgsandbox._faults import LIMIT, limit_message, trouble_of
from pgsandbox._naming import COMMENT_PREFIX, NAME_PREFIX, quote_ident

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import URL

__all__ = [
    "AdminConnection",
    "OwnedDatabase",
    "connect",
    "conninfo",
]

CONNECT_TIMEOUT_S = 5
# CREATE DATABASE ... TEMPLATE fails while anyone else is connected to the template; a
# concurrent run may be holding a short-lived connection to it, so retry for a while.
_TEMPLATE_BUSY_DEADLINE_S = 10.0


def conninfo(url: URL, *, database: str | None = None) -> dict[str, Any]:
    """Return psycopg connection keywords for a SQLAlchemy URL (any driver)."""
    query = dict(url.query)
    params: dict[str, Any] = {
        "host": url.host or query.pop("host", None),
        "port": url.port or query.pop("port", None),
        "user": url.username,
        "password": url.password,
        "dbname": database or url.database or "postgres",
        "connect_timeout": CONNECT_TIMEOUT_S,
    }
    return {key: value for key, value in params.items() if value is not None}


def connect(
    url: URL, *, database: str | None = None, source: str, application_name: str = "pgsandbox"
) -> psycopg.Connection[Any]:
    """Open an autocommit psycopg connection, translating failures into fix-naming errors.

    Args:
        url: the server URL (its database is used unless ``database`` is given).
        database: connect to this database instead.
        source: where the URL came from, quoted in error messages
            (``"--pgsandbox-url"``, ``"PGSANDBOX_URL"``, ``"the ephemeral cluster"``).
        application_name: shown in ``pg_stat_activity``.
    """
    params = conninfo(url, database=database)
    try:
        return psycopg.connect(autocommit=True, application_name=application_name[:63], **params)
    except psycopg.OperationalError as exc:
        raise ServerUnavailable(_explain_connect_failure(url, params, source, exc)) from None


def _explain_connect_failure(
    url: URL, params: dict[str, Any], source: str, exc: psycopg.OperationalError
) -> str:
    shown = url.render_as_string(hide_password=True)
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    text = str(exc).lower()
    if trouble_of(text) == LIMIT:
        return limit_message(f"at {shown} (from {source})", detail)
    if "password authentication failed" in text or "no password supplied" in text:
        return (
            f"pgsandbox: PostgreSQL at {shown} (from {source}) refused the credentials: "
            f"{detail}\n  Fix the user or password in {source}, or {_without(source)} to let "
            "pgsandbox start a private cluster of its own."
        )
    if "role" in text and "does not exist" in text:
        return (
            f"pgsandbox: PostgreSQL at {shown} (from {source}) has no such user: {detail}\n"
            f"  Put an existing role with CREATEDB in {source}."
        )
    if "database" in text and "does not exist" in text:
        return (
            f"pgsandbox: the maintenance database {params.get('dbname')!r} does not exist on "
            f"{shown} (from {source}).\n  Point {source} at a database that exists, such as "
            "'postgres'; pgsandbox only reads it and creates its own databases beside it."
        )
    return (
        f"pgsandbox: cannot reach PostgreSQL at {shown} (from {source}) within "
        f"{CONNECT_TIMEOUT_S} s: {detail}\n  Start the server or fix {source}; or "
        f"{_without(source)} to let pgsandbox start a private cluster from PostgreSQL's "
        "binaries."
    )


def _without(source: str) -> str:
    """How to stop naming a server, for the source that named it."""
    if source == "PGSANDBOX_URL":
        return "unset PGSANDBOX_URL (and leave out --pgsandbox-url)"
    if source.startswith("--"):
        return f"leave out {source} and unset PGSANDBOX_URL"
    return "name no server"


@dataclass(frozen=True, slots=True)
class OwnedDatabase:
    """A database that carries pgsandbox's comment."""

    name: str
    kind: str
    run_id: str | None
    is_template: bool
    meta: dict[str, Any]


class AdminConnection:
    """A maintenance connection with the database-level operations pgsandbox needs."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        """Wrap an autocommit connection (see :func:`connect`)."""
        self.conn = conn

    def close(self) -> None:
        """Close the connection (advisory locks it holds are released with it)."""
        self.conn.close()

    # ------------------------------------------------------------------ inspection
    def server_version(self) -> int:
        """Return ``server_version_num`` (for example 150020)."""
        row = self.conn.execute("SHOW server_version_num").fetchone()
        assert row is not None
        return int(row[0])

    def max_connections(self) -> int:
        """Return the server's ``max_connections``."""
        row = self.conn.execute("SHOW max_connections").fetchone()
        assert row is not None
        return int(row[0])

    def connection_count(self) -> int:
        """Return how many client connections the server has now (this one included)."""
        row = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ).fetchone()
        assert row is not None
        return int(row[0])

    def require_createdb(self, source: str) -> None:
        """Fail with a fix-naming message unless the current role may create databases."""
        row = self.conn.execute(
            "SELECT rolsuper OR rolcreatedb, current_user FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
        if row is None or not row[0]:
            user = row[1] if row else "?"
            msg = (
                f"pgsandbox: role {user!r} (from {source}) may not create databases.\n"
                f"  Run ALTER ROLE {user} CREATEDB as a superuser, or use another role."
            )
            raise ServerUnavailable(msg)

    def exists(self, name: str) -> bool:
        """Return whether a database of that name exists."""
        row = self.conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None

    def owned_databases(self) -> list[OwnedDatabase]:
        """List every database that carries pgsandbox's name prefix and comment."""
        rows = self.conn.execute(
            "SELECT datname, datistemplate, shobj_description(oid, 'pg_database') "
            "FROM pg_database WHERE starts_with(datname, %s) ORDER BY datname",
            (NAME_PREFIX,),
        ).fetchall()
        owned = []
        for name, is_template, comment in rows:
            meta = _parse_comment(comment)
            if meta is not None:
                owned.append(
                    OwnedDatabase(
                        name=name,
                        kind=str(meta.get("kind", "?")),
                        run_id=meta.get("run"),
                        is_template=bool(is_template),
                        meta=meta,
                    )
                )
        return owned

    def comment_of(self, name: str) -> dict[str, Any] | None:
        """Return pgsandbox's metadata of a database, or None if it is not ours."""
        row = self.conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
        return None if row is None else _parse_comment(row[0])

    # ------------------------------------------------------------------ create / drop
    def create(self, name: str, *, meta: dict[str, Any], template: str | None = None) -> float:
        """Create a database (optionally cloning ``template``), mark it ours; return seconds.

        An existing database of that name is dropped first only if it is ours.
        """
        started = time.perf_counter()
        if self.exists(name):
            self.drop(name)
        sql = f"CREATE DATABASE {quote_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {quote_ident(template)}"
        deadline = time.monotonic() + _TEMPLATE_BUSY_DEADLINE_S
        while True:
            try:
                self.conn.execute(sql.encode())
                break
            except pg_errors.ObjectInUse:
                # "source database is being accessed by other users": wait for it.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.mark(name, meta)
        return time.perf_counter() - started

    def mark(self, name: str, meta: dict[str, Any]) -> None:
        """Write pgsandbox's ownership comment on a database."""
        comment = COMMENT_PREFIX + json.dumps(meta, sort_keys=True)
        self.conn.execute(
            f"COMMENT ON DATABASE {quote_ident(name)} IS {_literal(comment)}".encode()
        )

    def drop(self, name: str) -> bool:
        """Drop a database pgsandbox created; return False if it was already gone.

        Raises:
            PgsandboxError: the database exists but is not pgsandbox's.
        """
        # One catalogue read instead of three: drops of per-test clones run all the time.
        row = self.conn.execute(
            "SELECT datistemplate, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = %s",
            (name,),
        ).fetchone()
        if row is None:
            return False
        is_template, comment = row
        if _parse_comment(comment) is None or not name.startswith(NAME_PREFIX):
            msg = (
                f"pgsandbox: refusing to drop database {name!r}: it was not created by "
                "pgsandbox (no pgsandbox comment). Nothing was changed."
            )
            raise PgsandboxError(msg)
        ident = quote_ident(name)
        if is_template:
            self.conn.execute(f"ALTER DATABASE {ident} WITH IS_TEMPLATE false".encode())
        self.conn.execute(f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)".encode())
        return True

    def rename(self, old: str, new: str) -> None:
        """Rename one of pgsandbox's databases (nobody may be connected to it)."""
        self.terminate_backends(old)
        self.conn.execute(
            f"ALTER DATABASE {quote_ident(old)} RENAME TO {quote_ident(new)}".encode()
        )

    def make_template(self, name: str) -> None:
        """Mark a database as a template that nobody connects to by accident."""
        self.conn.execute(
            f"ALTER DATABASE {quote_ident(name)} WITH IS_TEMPLATE true "
            "ALLOW_CONNECTIONS false".encode()
        )

    def terminate_backends(self, name: str) -> None:
        """End other sessions connected to one of pgsandbox's databases."""
        if self.comment_of(name) is None:
            return
        self.conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )

    # ------------------------------------------------------------------ advisory locks
    def lock(self, key: int, *, shared: bool = False, timeout_s: float | None = None) -> bool:
        """Take a session-level advisory lock; with a timeout, return False when it expires."""
        func = "pg_advisory_lock_shared" if shared else "pg_advisory_lock"
        if timeout_s is None:
            self.conn.execute(f"SELECT {func}(%s)".encode(), (key,))
            return True
        try_func = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        deadline = time.monotonic() + timeout_s
        while True:
            row = self.conn.execute(f"SELECT {try_func}(%s)".encode(), (key,)).fetchone()
            if row is not None and row[0]:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def try_lock(self, key: int) -> bool:
        """Try an exclusive advisory lock without waiting."""
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        return bool(row and row[0])

    def unlock(self, key: int, *, shared: bool = False) -> None:
        """Release a session-level advisory lock."""
        func = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
        self.conn.execute(f"SELECT {func}(%s)".encode(), (key,))

    def iter_sessions(self, application_prefix: str) -> Iterator[tuple[Any, ...]]:
        """Yield ``(pid, datname, application_name, state, query)`` for tagged sessions."""
        yield from self.conn.execute(
            "SELECT pid, datname, application_name, state, left(query, 200) "
            "FROM pg_stat_activity WHERE starts_with(application_name, %s) "
            "AND pid <> pg_backend_pid() ORDER BY application_name",
            (application_prefix,),
        )


def _parse_comment(comment: str | None) -> dict[str, Any] | None:
    if not comment or not comment.startswith(COMMENT_PREFIX):
        return None
    try:
        meta = json.loads(comment[len(COMMENT_PREFIX) :])
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
