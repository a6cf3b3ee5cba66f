"""What one test gets: a database chosen by its isolation mode, and ways into it.

``transaction``: one connection to the worker's database with an outer transaction;
sessions join it through savepoints (``join_transaction_mode="create_savepoint"``), so
code that commits still leaves nothing behind once the outer transaction is rolled back.

``database``: a fresh clone of the template, with an engine of its own; real commits.

``shared``: the run-wide shared database, with real commits that other workers and
subprocesses see; tests stay apart by using unique data.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

# ``await_only``, not 2.1's new name ``await_``: both releases have it.
from sqlalchemy.util import await_only

from pgsandbox._diagnostics import TAG_KEY, quote_literal
from pgsandbox._recycle import RESET_SESSION_SQL
from pgsandbox._session_classes import sync_base_of
from pgsandbox._sharing import GUARD, ConnectionGuard, SandboxMisuse, ThreadTurns

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import asyncpg
    from sqlalchemy.engine import URL, Connection, Dialect, Engine, Transaction

    from pgsandbox._diagnostics import ConnectionTracker
    from pgsandbox._recycle import RecycledClone

__all__ = [
    "NO_CONNECTION",
    "AsyncSandbox",
    "EngineCache",
    "LeakedConnection",
    "SandboxMisuse",
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
    #: The test asked for ``pgsandbox_connection``, so it may use the driver directly:
    #: ``transaction`` isolation then begins at once, not with the first statement.
    wants_connection: bool = False
    #: The session classes the factories make (the project's own: SQLModel's, ...).
    session_class: type[AsyncSession] = AsyncSession
    sync_session_class: type[Session] | None = None
    #: Seconds a session of one task may wait for another task's session on the test's
    #: connection (``transaction`` isolation) before that counts as a deadlock.
    session_wait: float = 10.0
    #: ``database`` isolation on the worker's recycled clone (see ``_recycle``): its
    #: engine is kept from test to test.
    recycled: RecycledClone | None = None
    #: Recycled clones given up since (their kept engines are disposed).
    retired: list[str] | None = None

    def async_maker(self, bind: AsyncEngine | AsyncConnection, **kw: Any) -> Any:
        """An ``async_sessionmaker`` of the project's session class, tracked."""
        return async_sessionmaker(
            bind,
            class_=self.session_class,
            sync_session_class=self.tracker.session_class(sync_base_of(self.session_class)),
            expire_on_commit=False,
            **kw,
        )


#: Why a sandbox has no connection of its own, and the fix.
NO_CONNECTION = (
    "pgsandbox: this test's sandbox was opened without a connection of its own "
    "(pgsandbox_connection was requested with request.getfixturevalue after the other "
    "pgsandbox fixtures were set up). Name pgsandbox_connection as an argument of the "
    "test, or of a fixture it uses."
)


class AsyncSandbox:
    """The async objects a test gets; all created in, and bound to, the test's loop."""

    __slots__ = ("_connection", "_session", "engine", "sessionmaker")

    def __init__(
        self,
        engine: AsyncEngine,
        connection: AsyncConnection | None,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        """Hold the test's engine, connection (if it has one) and session factory."""
        self.engine = engine
        self._connection = connection
        self.sessionmaker = sessionmaker
        self._session: AsyncSession | None = None

    @property
    def connection(self) -> AsyncConnection:
        """The test's own connection (``pgsandbox_connection``).

        In ``shared`` and ``database`` isolation it is checked out only for a test that
        asks for ``pgsandbox_connection``: held all test long, it would only make the
        sessions of the code under test take (and tag) a second connection.
        """
        if self._connection is None:
            raise RuntimeError(NO_CONNECTION)
        return self._connection

    @property
    def has_connection(self) -> bool:
        """Whether the sandbox holds a connection of its own for the test."""
        return self._connection is not None

    @property
    def session(self) -> AsyncSession:
        """The ``pgsandbox_session`` session, made when a test first asks for it."""
        if self._session is None:
            self._session = self.sessionmaker()
        return self._session

    async def close(self) -> None:
        """Close the session, if one was made."""
        if self._session is not None:
            await self._session.close()


#: Pool of each pgsandbox engine (one per database and event loop in a worker).
POOL_SIZE = 2
MAX_OVERFLOW = 8
#: The recycled ``database`` clone's engine keeps more of its connections idle: tests that
#: need real commits are often races of several sessions at once, and an overflow
#: connection is closed when returned, so each race would connect (and warm up a cold
#: server process) anew. Same maximum in all.
RECYCLED_POOL_SIZE = 6


def _engine_options(application_name: str) -> dict[str, object]:
    return {"connect_args": {"server_settings": {"application_name": application_name[:63]}}}


class EngineCache:
    """Pooled engines of one event loop, by database; disposed together in that loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start empty; engines are created on first use, in ``loop`` (when known)."""
        self.loop = loop
        self._engines: dict[tuple[str, bool], AsyncEngine] = {}
        self._retired_seen = 0
        #: ``transaction`` isolation's connection of each database, kept checked out from
        #: test to test, with the ROLLBACK that ended its last test (see :meth:`keep`).
        self._kept: dict[str, tuple[AsyncConnection, asyncio.Task[Any] | None]] = {}

    def get(self, target: TestTarget) -> AsyncEngine:
        """Return the loop's engine for the target's database, creating it on first use."""
        # By name: hashing a URL renders it as a string, on every test.
        key = (target.database, target.isolation == "transaction")
        engine = self._engines.get(key)
        if engine is None:
            kept = RECYCLED_POOL_SIZE if target.recycled is not None else POOL_SIZE
            engine = create_async_engine(
                target.url,
                pool_size=kept,
                max_overflow=POOL_SIZE + MAX_OVERFLOW - kept,
                # In transaction isolation pgsandbox sends BEGIN and ROLLBACK itself (see
                # open_async_sandbox), so the driver must not begin transactions of its own.
                **({"isolation_level": "AUTOCOMMIT"} if key[1] else {}),
                # Outlives the test: connections start with the worker's idle name.
                **_engine_options(target.tracker.application_name(idle=True)),
            )
            if key[1]:
                send_savepoints_to_the_driver(engine.sync_engine.dialect)
                event.listen(engine.sync_engine, "before_cursor_execute", _begin_if_owed)
            target.tracker.instrument(engine.sync_engine, f"pooled:{target.database}")
            if target.recycled is not None:
                _record_server_pids(engine, target.recycled)
            self._engines[key] = engine
        return engine

    async def dispose_retired(self, retired: list[str]) -> None:
        """Dispose the kept engines of recycled clones given up since the last call."""
        if len(retired) == self._retired_seen:
            return
        names, self._retired_seen = retired[self._retired_seen :], len(retired)
        for name in names:
            engine = self._engines.pop((name, False), None)
            if engine is not None:
                await engine.dispose()

    async def take(self, engine: AsyncEngine, target: TestTarget) -> AsyncConnection:
        """A ``transaction`` test's connection: the one the last test left, else a new one.

        Kept checked out between tests, it costs each test no checkout and check-in (the
        pool's events, the tracker's, a trip through a greenlet each: docs/benchmarks.md).
        The last test's ROLLBACK is awaited first; a connection it failed on, or one the
        test closed or lost, is given up for a fresh one.
        """
        kept = self._kept.pop(target.database, None)
        if kept is not None:
            connection, rollback = kept
            if await _rolled_back(rollback) and _usable(connection):
                return connection
            await _give_up(connection)
        # pgsandbox's own (never reported as a leak), and untagged: the test's BEGIN tags it.
        with target.tracker.internal(tag=False):
            return await engine.connect()

    def keep(
        self, target: TestTarget, connection: AsyncConnection, rollback: asyncio.Task[Any] | None
    ) -> None:
        """Keep the test's connection for the next ``transaction`` test of the database.

        ``rollback`` is the ROLLBACK that ended the test, sent but not yet answered: the
        server has it, and releases the test's locks, before the next test starts, and the
        next :meth:`take` (or :meth:`dispose`) reads its answer. Waiting for it here would
        cost every test a round trip.
        """
        self._kept[target.database] = (connection, rollback)

    async def dispose(self) -> None:
        """Close every pooled connection (must run in the loop that made them)."""
        kept, self._kept = list(self._kept.values()), {}
        for connection, rollback in kept:
            if await _rolled_back(rollback) and _usable(connection):
                await connection.close()
            else:
                await _give_up(connection)
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.dispose()


async def _rolled_back(rollback: asyncio.Task[Any] | None) -> bool:
    """Whether the ROLLBACK a kept connection was left with succeeded (none: nothing to undo)."""
    if rollback is None:
        return True
    try:
        await rollback
    except Exception:  # the server's transaction ends with the connection, given up next
        return False
    return True


def _usable(connection: AsyncConnection) -> bool:
    """Whether a kept connection can serve the next test (the test may have closed it)."""
    if connection.closed or connection.invalidated:
        return False
    sync = connection.sync_connection
    driver = sync.connection.driver_connection if sync is not None else None
    return driver is not None and not driver.is_closed()


async def _give_up(connection: AsyncConnection) -> None:
    """Close a connection that cannot be trusted; its pool opens a new one when needed."""
    with contextlib.suppress(Exception):
        if not connection.closed:
            await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _send_rollback(driver: asyncpg.Connection[Any]) -> asyncio.Task[Any]:
    """Send ROLLBACK and return without its answer (see :meth:`EngineCache.keep`).

    One turn of the loop lets the task write the statement to the socket. A failure that
    comes at once (another operation still running on the connection) is raised here.
    """
    rollback: asyncio.Task[Any] = asyncio.create_task(driver.execute("ROLLBACK"))
    await asyncio.sleep(0)
    if rollback.done():
        rollback.result()
    return rollback


#: ``Connection.info`` key of the statements pgsandbox owes a test's connection.
_OWED = "pgsandbox_owed"


class _Owed:
    """Statements owed to the server, sent in the round trip of the test's next one.

    ``transaction`` isolation needs ``BEGIN`` (with the test's tag) before the test's
    first statement, not before the test: a test that never queries costs no round trip,
    and one that does sends ``BEGIN; SET LOCAL …; SAVEPOINT …`` as one simple query. A
    session's end is owed too: ``ROLLBACK TO SAVEPOINT`` (a session closed without
    committing, as most read-only ones are) must go before the next statement, and
    ``RELEASE SAVEPOINT`` (a commit) only before the next savepoint statement, since
    statements that run inside a savepoint see and lock the same rows. The test's
    ``ROLLBACK`` makes whatever is still owed at its end unnecessary.
    """

    __slots__ = ("begun", "statements", "urgent")

    def __init__(self, statements: list[str]) -> None:
        self.statements = statements
        self.urgent = True  # something owed must precede the next statement of any kind
        self.begun = False

    def owe(self, statement: str, *, urgent: bool) -> None:
        """Add a statement to send later, in order."""
        self.statements.append(statement)
        self.urgent = self.urgent or urgent

    def take(self, statement: str | None = None) -> str:
        """Everything owed, then ``statement``, as one simple query; nothing is owed after."""
        parts = [*self.statements, statement] if statement else self.statements
        self.statements = []
        self.urgent = False
        self.begun = True  # even if the query fails: the server may have begun
        return "; ".join(parts)


def send_savepoints_to_the_driver(dialect: Dialect) -> None:
    """Make one engine's SAVEPOINT, RELEASE and ROLLBACK TO go straight to asyncpg.

    In ``transaction`` isolation every session's transaction is a savepoint, two
    statements per commit. Through ``Connection.execute`` each is compiled, prepared and
    described like a query; sent as text over asyncpg's simple protocol it is one
    round trip and about half the client CPU (a SAVEPOINT and RELEASE pair: 0.41 ms
    against 0.21 ms, docs/benchmarks.md), and it can carry what :class:`_Owed` holds.
    SQLAlchemy still runs its savepoint events, logs the statement when echo is on, and
    raises its own ``DBAPIError`` subclasses. Only the dialect instance of the given
    engine changes (each engine has its own).
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
    guard: ConnectionGuard | None = connection.info.get(GUARD)
    if guard is not None:
        if verb == "SAVEPOINT":
            guard.enter(name)
        else:
            guard.leave(name)
    owed: _Owed | None = connection.info.get(_OWED)
    if owed is None:
        fallback(connection, name)  # not a test's connection (or an adapter we don't know)
        return
    statement = f"{verb} {preparer.format_savepoint(None, name)}"
    # Connection's own logging switch, as its execute path uses it.
    if connection._echo:
        connection._log_info(statement)
    if verb == "SAVEPOINT":
        _send(connection, owed.take(statement))
        return
    if verb == "ROLLBACK TO SAVEPOINT":
        # A RELEASE still owed is of a savepoint made after this one, which the rollback
        # ends anyway; sent first, it would fail if an error has aborted that savepoint.
        owed.statements = [s for s in owed.statements if not s.startswith("RELEASE")]
    owed.owe(statement, urgent=verb == "ROLLBACK TO SAVEPOINT")


def _begin_if_owed(
    connection: Connection, _cursor: Any, _statement: Any, _params: Any, _context: Any, _many: Any
) -> None:
    """Before any other statement on a test's connection, send what must precede it."""
    guard: ConnectionGuard | None = connection.info.get(GUARD)
    if guard is not None:
        guard.check_caller()
    owed: _Owed | None = connection.info.get(_OWED)
    if owed is not None and owed.urgent:
        _send(connection, owed.take(), handled_by_caller=True)


def _send(connection: Connection, query: str, *, handled_by_caller: bool = False) -> None:
    """Run a simple query on the connection's asyncpg driver, from SQLAlchemy's sync side.

    Errors surface as SQLAlchemy's ``DBAPIError`` subclasses: the adapter translates the
    asyncpg error, and ``Connection`` wraps it (the cursor event's caller does that itself).
    """
    adapted = connection.connection.dbapi_connection
    try:
        await_only(_execute_simple(adapted, query))
    except Exception as exc:
        if handled_by_caller:
            raise
        connection._handle_dbapi_exception(exc, query, (), None, None)


async def _execute_simple(adapted: Any, query: str) -> None:
    async with adapted._execute_mutex:  # the adapter's lock: one statement at a time
        try:
            await adapted._connection.execute(query)
        except Exception as error:
            adapted._handle_exception(error)  # asyncpg's error as the adapter's DBAPI error


def _speaks_asyncpg(connection: AsyncConnection) -> bool:
    """Whether the connection's adapter is SQLAlchemy's asyncpg one, as pgsandbox knows it."""
    import asyncpg  # an optional dependency (the `asyncpg` extra); loaded by then

    sync = connection.sync_connection
    adapted = sync.connection.dbapi_connection if sync is not None else None
    return (
        isinstance(getattr(adapted, "_connection", None), asyncpg.Connection)
        and hasattr(adapted, "_execute_mutex")
        and hasattr(adapted, "_handle_exception")
    )


@contextlib.asynccontextmanager
async def open_async_sandbox(
    target: TestTarget, engines: EngineCache
) -> AsyncIterator[AsyncSandbox]:
    """Open the test's connection, sessionmaker and session; undo everything afterwards.

    Raises:
        LeakedConnection: at teardown, the test left a connection checked out or a
            session transaction open (the message says where it was taken).
    """
    if target.isolation == "database":
        opened = (
            _open_clone_sandbox(target)
            if target.recycled is None
            else _open_recycled_sandbox(target, engines)
        )
        async with opened as box:
            yield box
        return
    engine = engines.get(target)
    if target.isolation == "shared":
        async with _connection_if_wanted(engine, target) as connection:
            maker = target.async_maker(engine)
            async with _closing(AsyncSandbox(engine, connection, maker)) as box:
                yield box
        _raise_leaks(target)
        return
    async with _open_transaction_sandbox(target, engines, engine) as box:
        yield box


@contextlib.asynccontextmanager
async def _open_transaction_sandbox(
    target: TestTarget, engines: EngineCache, engine: AsyncEngine
) -> AsyncIterator[AsyncSandbox]:
    """``transaction`` isolation: the worker database's connection, in a rolled-back BEGIN."""
    problems: list[str] = []
    guard = ConnectionGuard(
        target.nodeid, asyncio.get_running_loop(), threading.get_ident(), target.session_wait
    )
    connection = await engines.take(engine, target)
    rollback: asyncio.Task[Any] | None = None
    try:
        # pgsandbox runs the outer transaction itself: this engine's driver is in autocommit
        # (EngineCache.get), so neither SQLAlchemy nor asyncpg sends a BEGIN, and a COMMIT
        # on the test's connection cannot end the transaction. The BEGIN carries the test's
        # tag as SET LOCAL (gone with the ROLLBACK) and goes out with the test's first
        # statement (see _Owed); a test that asked for the connection itself gets it now,
        # since it may reach the driver under SQLAlchemy.
        driver = _driver_of(connection)
        owed = _Owed(
            ["BEGIN", f"SET LOCAL application_name TO {quote_literal(target.application_name)}"]
        )
        info = connection.info  # the pooled connection's: cleared again below, whatever happens
        outer: Transaction | None = None
        try:
            if _speaks_asyncpg(connection):
                info[_OWED] = owed  # also routes the savepoints through _savepoint_statement
                info[GUARD] = guard
            if target.wants_connection or _OWED not in info:
                await driver.execute(owed.take())
            # SQLAlchemy's side of the outer transaction, which sessions join with
            # savepoints. Begun and rolled back on the sync connection: with the driver in
            # autocommit neither does I/O, so neither needs a trip through a greenlet.
            outer = _sync_of(connection).begin()
            maker = target.async_maker(connection, join_transaction_mode="create_savepoint")
            async with _closing(AsyncSandbox(engine, connection, maker)) as box:
                try:
                    yield box
                finally:
                    guard.closing = True  # the test is over: whatever is left is a leak
            problems = target.tracker.open_transactions(target.nodeid)
        finally:
            info.pop(_OWED, None)
            info.pop(GUARD, None)
            try:
                if owed.begun and not driver.is_closed():
                    rollback = await _send_rollback(driver)
            finally:
                if outer is not None and outer.is_active:
                    outer.rollback()
    except BaseException:
        if rollback is not None:  # nobody reads its answer now: asyncio must not complain
            rollback.add_done_callback(_retrieve)
        await _give_up(connection)
        raise
    engines.keep(target, connection, rollback)
    _raise_leaks(target, problems, misuse=guard.problems)


@contextlib.asynccontextmanager
async def _open_clone_sandbox(target: TestTarget) -> AsyncIterator[AsyncSandbox]:
    """``database`` isolation: the test's fresh clone, with an engine of its own."""
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
    # The engine's pooled connections belong to this loop: a checkout from another one (a
    # sync TestClient's portal) is stopped and reported, as on the test's connection.
    guard = ConnectionGuard(
        target.nodeid, asyncio.get_running_loop(), threading.get_ident(), target.session_wait
    )
    event.listen(engine.sync_engine, "checkout", lambda *_: guard.check_caller())
    try:
        async with _connection_if_wanted(engine, target) as connection:
            maker = target.async_maker(engine)
            async with _closing(AsyncSandbox(engine, connection, maker)) as box:
                yield box
        _raise_leaks(target, misuse=guard.problems)
    finally:
        await engine.dispose()


#: ``ConnectionRecord.info`` key: the recycled clone's epoch a kept connection was reset in.
_EPOCH = "pgsandbox_epoch"


def _record_server_pids(engine: AsyncEngine, clone: RecycledClone) -> None:
    """Note the server pid of each connection the engine opens (a reset spares them)."""

    def connected(_dbapi_connection: Any, record: Any) -> None:
        clone.pids.add(int(record.driver_connection.get_server_pid()))

    event.listen(engine.sync_engine, "connect", connected)


@contextlib.asynccontextmanager
async def _open_recycled_sandbox(
    target: TestTarget, engines: EngineCache
) -> AsyncIterator[AsyncSandbox]:
    """``database`` isolation on the worker's recycled clone, with the engine it keeps.

    The clone was put back into the template's state after the last test (``_recycle``);
    each kept connection is reset at its first checkout in this test, and tagged with it.
    """
    clone = target.recycled
    assert clone is not None  # the caller checked; narrows the type
    await engines.dispose_retired(target.retired or [])
    engine = engines.get(target)
    epoch = clone.epoch
    reset = RESET_SESSION_SQL + (
        f"SET application_name TO {quote_literal(target.application_name[:63])}"
    )
    guard = ConnectionGuard(
        target.nodeid, asyncio.get_running_loop(), threading.get_ident(), target.session_wait
    )

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        guard.check_caller()
        if record.info.get(_EPOCH) != epoch:
            try:
                await_only(_execute_simple(dbapi_connection, reset))
            except Exception as exc:
                # The pool replaces a connection that fails here with a new one.
                raise DisconnectionError(str(exc)) from exc
            record.info[_EPOCH] = epoch
            # The reset ended with the test's tag: the tracker, next, need not send it.
            record.info[TAG_KEY] = target.application_name

    # Before the tracker's listener (which tags connections): one round trip, not two.
    event.listen(engine.sync_engine, "checkout", checkout, insert=True)
    try:
        async with _connection_if_wanted(engine, target) as connection:
            maker = target.async_maker(engine)
            async with _closing(AsyncSandbox(engine, connection, maker)) as box:
                yield box
        _raise_leaks(target, misuse=guard.problems)
    finally:
        event.remove(engine.sync_engine, "checkout", checkout)


def _sync_of(connection: AsyncConnection) -> Connection:
    sync = connection.sync_connection
    if sync is None:  # pragma: no cover - only before the connection is started
        msg = "pgsandbox: the test's connection was not started"
        raise RuntimeError(msg)
    return sync


def _driver_of(connection: AsyncConnection) -> asyncpg.Connection[Any]:
    """The asyncpg connection under a freshly checked-out connection (no I/O)."""
    import asyncpg  # an optional dependency (the `asyncpg` extra); loaded by then

    driver = _sync_of(connection).connection.driver_connection
    if not isinstance(driver, asyncpg.Connection):  # pragma: no cover - the URL is asyncpg's
        msg = f"pgsandbox expected an asyncpg connection, got {type(driver).__name__}"
        raise TypeError(msg)
    return driver


@contextlib.asynccontextmanager
async def _connection_if_wanted(
    engine: AsyncEngine, target: TestTarget
) -> AsyncIterator[AsyncConnection | None]:
    """The test's own connection if it asked for ``pgsandbox_connection``, else ``None``.

    (``shared`` and ``database`` isolation: the code under test takes its own.)
    """
    if not target.wants_connection:
        yield None
        return
    async with _own_connection(engine, target) as connection:
        yield connection


@contextlib.asynccontextmanager
async def _own_connection(
    engine: AsyncEngine, target: TestTarget
) -> AsyncIterator[AsyncConnection]:
    """The test's connection, checked out as pgsandbox's own (never reported as a leak)."""
    with target.tracker.internal():
        connection = await engine.connect()
    try:
        yield connection
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def _closing(box: AsyncSandbox) -> AsyncIterator[AsyncSandbox]:
    try:
        yield box
    finally:
        await box.close()


class LeakedConnection(Exception):
    """A test ended with a connection checked out or a transaction open."""


def _raise_leaks(
    target: TestTarget, problems: list[str] | None = None, misuse: list[str] | None = None
) -> None:
    if misuse:
        # Recorded when it happened, and reported even if the app caught the exception
        # (a web app answers 500, and the test sees only the status code).
        raise LeakedConnection("\n".join(misuse))
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
    session_class = target.tracker.session_class(target.sync_session_class or Session)
    if target.isolation != "transaction":
        maker = sessionmaker(engine, expire_on_commit=False, class_=session_class)
        with maker() as session:
            yield session
        _raise_leaks(target)
        return
    with target.tracker.internal():
        connection = engine.connect()
    turns = ThreadTurns(target.nodeid, target.session_wait)
    event.listen(connection, "savepoint", turns.enter)
    # The turn passes once RELEASE / ROLLBACK TO has run, not when SQLAlchemy announces
    # it: a savepoint made in between would be released with it. (One that fails keeps
    # the turn until its thread ends: threads that have ended hold up nobody.)
    event.listen(connection, "after_cursor_execute", turns.after_statement)
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
    _raise_leaks(target, misuse=turns.problems)
