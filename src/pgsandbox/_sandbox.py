"""What one test gets: a database chosen by its isolation mode, and ways into it.

``transaction``: one connection to the worker's database with an outer transaction;
sessions join it through savepoints (``join_transaction_mode="create_savepoint"``), so
code that commits still leaves nothing behind once the outer transaction is rolled back.

``database``: a fresh clone of the template, with an engine of its own; real commits.

``shared``: the run-wide shared database, with real commits that other workers and
subprocesses see; tests stay apart by using unique data.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import sessionmaker
from sqlalchemy.util import await_

from pgsandbox._diagnostics import quote_literal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from sqlalchemy.engine import URL, Connection, Dialect, Engine
    from sqlalchemy.orm import Session

    from pgsandbox._diagnostics import ConnectionTracker

__all__ = [
    "AsyncSandbox",
    "EngineCache",
    "LeakedConnection",
    "TestTarget",
    "open_async_sandbox",
    "open_sync_session",
]


@dataclass(frozen=True, slots=True)
class TestTarget:
    """The database one test uses, chosen by its isolation mode."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    isolation: str
    database: str
    url: URL  # asyncpg form
    sync_url: URL  # psycopg form
    application_name: str
    nodeid: str
    tracker: ConnectionTracker


@dataclass(frozen=True, slots=True)
class AsyncSandbox:
    """The async objects a test gets; all created in, and bound to, the test's loop."""

    engine: AsyncEngine
    connection: AsyncConnection
    sessionmaker: async_sessionmaker[AsyncSession]
    session: AsyncSession


#: Pool of each pgsandbox engine (one per database and event loop in a worker).
POOL_SIZE = 2
MAX_OVERFLOW = 8


def _engine_options(application_name: str) -> dict[str, object]:
    return {"connect_args": {"server_settings": {"application_name": application_name[:63]}}}


class EngineCache:
    """Pooled engines of one event loop, by URL; disposed together in that loop."""

    def __init__(self) -> None:
        """Start empty; engines are created on first use."""
        self._engines: dict[tuple[URL, bool], AsyncEngine] = {}

    def get(self, target: TestTarget) -> AsyncEngine:
        """Return the loop's engine for the target's database, creating it on first use."""
        key = (target.url, target.isolation == "transaction")
        engine = self._engines.get(key)
        if engine is None:
            engine = create_async_engine(
                target.url,
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                # In transaction isolation pgsandbox sends BEGIN and ROLLBACK itself (see
                # open_async_sandbox), so the driver must not begin transactions of its own.
                **({"isolation_level": "AUTOCOMMIT"} if key[1] else {}),
                # Outlives the test: connections start with the worker's idle name.
                **_engine_options(target.tracker.application_name(idle=True)),
            )
            if key[1]:
                send_savepoints_to_the_driver(engine.sync_engine.dialect)
            target.tracker.instrument(engine.sync_engine, f"pooled:{target.database}")
            self._engines[key] = engine
        return engine

    async def dispose(self) -> None:
        """Close every pooled connection (must run in the loop that made them)."""
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.dispose()


def send_savepoints_to_the_driver(dialect: Dialect) -> None:
    """Make one engine's SAVEPOINT, RELEASE and ROLLBACK TO go straight to asyncpg.

    In ``transaction`` isolation every session's transaction is a savepoint, two
    statements per commit. Through ``Connection.execute`` each is compiled, prepared and
    described like a query; sent as text over asyncpg's simple protocol it is one
    round trip and about half the client CPU (a SAVEPOINT and RELEASE pair: 0.41 ms
    against 0.21 ms, docs/benchmarks.md). SQLAlchemy still runs its savepoint events,
    logs the statement when echo is on, and raises its own ``DBAPIError`` subclasses.
    Only the dialect instance of the given engine changes (each engine has its own).
    """
    preparer = dialect.identifier_preparer
    for method, verb in (
        ("do_savepoint", "SAVEPOINT"),
        ("do_release_savepoint", "RELEASE SAVEPOINT"),
        ("do_rollback_to_savepoint", "ROLLBACK TO SAVEPOINT"),
    ):
        fallback = getattr(dialect, method)
        # An instance attribute shadows the class's method for this dialect only.
        vars(dialect)[method] = functools.partial(
            _savepoint_statement, verb=verb, preparer=preparer, fallback=fallback
        )


def _savepoint_statement(
    connection: Connection, name: str, *, verb: str, preparer: Any, fallback: Any
) -> None:
    adapted = connection.connection.dbapi_connection
    driver = getattr(adapted, "_connection", None)
    mutex = getattr(adapted, "_execute_mutex", None)
    if not isinstance(driver, asyncpg.Connection) or mutex is None:
        fallback(connection, name)  # not SQLAlchemy's asyncpg adapter as we know it
        return
    statement = f"{verb} {preparer.format_savepoint(None, name)}"
    # Connection's own logging switch and error handling, as its execute path uses them.
    if connection._echo:
        connection._log_info(statement)
    try:
        await_(_execute_simple(adapted, driver, mutex, statement))
    except Exception as exc:
        connection._handle_dbapi_exception(exc, statement, (), None, None)


async def _execute_simple(
    adapted: Any, driver: asyncpg.Connection[Any], mutex: Any, statement: str
) -> None:
    async with mutex:  # the adapter's lock: one statement at a time per connection
        try:
            await driver.execute(statement)
        except Exception as error:
            adapted._handle_exception(error)  # asyncpg's error as the adapter's DBAPI error


@contextlib.asynccontextmanager
async def open_async_sandbox(
    target: TestTarget, engines: EngineCache
) -> AsyncIterator[AsyncSandbox]:
    """Open the test's connection, sessionmaker and session; undo everything afterwards.

    Raises:
        LeakedConnection: at teardown, the test left a connection checked out or a
            session transaction open (the message says where it was taken).
    """
    session_class = target.tracker.session_class()
    if target.isolation == "database":
        # Pooled, not NullPool: the code under test opens several sessions per test, and
        # each would otherwise connect to the fresh clone anew (a connect plus cold
        # catalogue caches). The engine is disposed when the test ends, before the drop.
        engine = create_async_engine(
            target.url,
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            **_engine_options(target.application_name),
        )
        target.tracker.instrument(engine.sync_engine, f"clone:{target.database}")
        try:
            async with _own_connection(engine, target) as connection:
                maker = async_sessionmaker(
                    engine, expire_on_commit=False, sync_session_class=session_class
                )
                async with _session(maker) as session:
                    yield AsyncSandbox(engine, connection, maker, session)
            _raise_leaks(target)
        finally:
            await engine.dispose()
        return
    engine = engines.get(target)
    if target.isolation == "shared":
        async with _own_connection(engine, target) as connection:
            maker = async_sessionmaker(
                engine, expire_on_commit=False, sync_session_class=session_class
            )
            async with _session(maker) as session:
                yield AsyncSandbox(engine, connection, maker, session)
        _raise_leaks(target)
        return
    problems: list[str] = []
    async with _own_connection(engine, target, tag=False) as connection:
        # pgsandbox runs the outer transaction itself: this engine's driver is in autocommit
        # (EngineCache.get), so neither SQLAlchemy nor asyncpg sends a BEGIN; one simple
        # query opens the transaction and tags it with the test's application_name.
        # That is one round trip where a BEGIN plus a SET took two, and the tag, being
        # SET LOCAL, goes away with the ROLLBACK. A COMMIT on the test's connection
        # cannot end this transaction either: whatever the test does is rolled back.
        driver = _driver_of(connection)
        await driver.execute(
            f"BEGIN; SET LOCAL application_name TO {quote_literal(target.application_name)}"
        )
        outer = await connection.begin()
        try:
            maker = async_sessionmaker(
                bind=connection,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
                sync_session_class=session_class,
            )
            async with _session(maker) as session:
                yield AsyncSandbox(engine, connection, maker, session)
            problems = target.tracker.open_transactions(target.nodeid)
        finally:
            try:
                if not driver.is_closed():
                    await driver.execute("ROLLBACK")
            finally:
                if outer.is_active:
                    await outer.rollback()
    _raise_leaks(target, problems)


def _driver_of(connection: AsyncConnection) -> asyncpg.Connection[Any]:
    """The asyncpg connection under a freshly checked-out connection (no I/O)."""
    sync = connection.sync_connection
    driver = sync.connection.driver_connection if sync is not None else None
    if not isinstance(driver, asyncpg.Connection):  # pragma: no cover - the URL is asyncpg's
        msg = f"pgsandbox expected an asyncpg connection, got {type(driver).__name__}"
        raise TypeError(msg)
    return driver


@contextlib.asynccontextmanager
async def _own_connection(
    engine: AsyncEngine, target: TestTarget, *, tag: bool = True
) -> AsyncIterator[AsyncConnection]:
    """The test's connection, checked out as pgsandbox's own (never reported as a leak)."""
    with target.tracker.internal(tag=tag):
        connection = await engine.connect()
    try:
        yield connection
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def _session(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    session = maker()
    try:
        yield session
    finally:
        await session.close()


class LeakedConnection(Exception):
    """A test ended with a connection checked out or a transaction open."""


def _raise_leaks(target: TestTarget, problems: list[str] | None = None) -> None:
    found = list(problems or [])
    found += [p for p in target.tracker.open_transactions(target.nodeid) if p not in found]
    found += target.tracker.outstanding(target.nodeid)
    if found:
        listed = "\n  ".join(found)
        msg = (
            f"pgsandbox: {target.nodeid} ended with {len(found)} connection(s) or "
            f"transaction(s) still open:\n  {listed}\n"
            "  Close every connection and session the test opens (async with ...), or "
            "await the task that uses it, before the test ends."
        )
        raise LeakedConnection(msg)


@contextlib.contextmanager
def open_sync_session(target: TestTarget, engine: Engine) -> Iterator[Session]:
    """Open a sync (psycopg) session for a sync test, isolated like the async ones."""
    session_class = target.tracker.session_class()
    if target.isolation != "transaction":
        maker = sessionmaker(engine, expire_on_commit=False, class_=session_class)
        with maker() as session:
            yield session
        _raise_leaks(target)
        return
    with target.tracker.internal():
        connection = engine.connect()
    with connection:
        outer = connection.begin()
        try:
            with session_class(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            ) as session:
                yield session
        finally:
            if outer.is_active:
                outer.rollback()
    _raise_leaks(target)
