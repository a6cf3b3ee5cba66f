"""pgsandbox's fixtures.

Three tiers, as pytest-django has them: the public ``pgsandbox_*`` fixtures users request;
extension points meant for overriding (``pgsandbox_session_class``,
``pgsandbox_sync_session_class``); ``_pgsandbox_*`` machinery. The async objects are built
in the loop that runs the test: by one fixture per pytest-asyncio loop scope
(``_pgsandbox_sandbox_<scope>``), or in anyio's runner, or in ``pgsandbox_portal``'s loop
(``_loop_fixtures``); the public fixtures pick the right one, so engines and connections
are always created, used and disposed in the same loop.
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import TYPE_CHECKING, Any, cast

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from pgsandbox._errors import ConfigurationError
from pgsandbox._loop_fixtures import (
    _pgsandbox_sandbox_anyio,
    _pgsandbox_sandbox_asyncio_runner,
    _pgsandbox_sandbox_portal,
    pgsandbox_portal,
    runs_on_anyio,
    runs_on_pytest_asyncio,
)
from pgsandbox._loops import test_loop_scope
from pgsandbox._sandbox import (
    AsyncSandbox,
    LeakedConnection,
    TestTarget,
    open_sync_session,
)
from pgsandbox._session_classes import async_session_class, sync_session_class
from pgsandbox._settings import NOT_CONFIGURED, isolation_of
from pgsandbox._state import STATE
from pgsandbox._worker import SYNC_DRIVER

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import (
        AsyncConnection,
        AsyncEngine,
        AsyncSession,
        async_sessionmaker,
    )
    from sqlalchemy.orm import Session

__all__ = [
    "pgsandbox_bind",
    "pgsandbox_connection",
    "pgsandbox_engine",
    "pgsandbox_portal",
    "pgsandbox_session",
    "pgsandbox_session_class",
    "pgsandbox_sessionmaker",
    "pgsandbox_sync_session",
    "pgsandbox_sync_session_class",
    "pgsandbox_url",
]

#: Fixtures defined next door, which pytest finds in this plugin module's namespace.
_ELSEWHERE = (
    _pgsandbox_sandbox_anyio,
    _pgsandbox_sandbox_asyncio_runner,
    _pgsandbox_sandbox_portal,
    pgsandbox_portal,
)


# ---------------------------------------------------------------------- extension points
# Session-scoped (read once: each function-scoped fixture costs every test its setup and
# teardown); an override of any scope works.
@pytest.fixture(scope="session")
def pgsandbox_session_class(request: pytest.FixtureRequest) -> type[AsyncSession]:
    """The ``AsyncSession`` class pgsandbox's session factory makes; override to change it.

    Default: ini ``pgsandbox_session_class`` (``module:Class``), else SQLModel's
    ``AsyncSession`` when the project imports ``sqlmodel``, else SQLAlchemy's.
    """
    try:
        return async_session_class(request.config)
    except ConfigurationError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def pgsandbox_sync_session_class(request: pytest.FixtureRequest) -> type[Session]:
    """The ``Session`` class of ``pgsandbox_sync_session``; override to change it.

    Default: ini ``pgsandbox_sync_session_class``, else SQLModel's ``Session`` when the
    project imports ``sqlmodel``, else SQLAlchemy's.
    """
    try:
        return sync_session_class(request.config)
    except ConfigurationError as exc:
        pytest.fail(str(exc), pytrace=False)


# ---------------------------------------------------------------------- the test's target
@pytest.fixture
def _pgsandbox_target(
    request: pytest.FixtureRequest,
    pgsandbox_session_class: type[AsyncSession],
    pgsandbox_sync_session_class: type[Session],
) -> Iterator[TestTarget]:
    state = STATE.find(request.config)
    if state is None:
        pytest.fail(f"pgsandbox: {NOT_CONFIGURED}", pytrace=False)
    worker = state.worker
    if worker is None:
        pytest.fail(
            "pgsandbox prepared no database in this process (pgsandbox was turned off, "
            "or the run is --collect-only). Run without -p no:pgsandbox.",
            pytrace=False,
        )
    isolation = isolation_of(request.node, state.settings.isolation)
    tracker = state.tracker()
    recycled = None
    if isolation == "database":
        name, recycled = worker.take_clone(
            recycle=state.settings.recycle and not state.settings.keep
        )
    elif isolation == "shared":
        name = worker.shared_database
    else:
        name = worker.worker_database
    target = TestTarget(
        isolation=isolation,
        database=name,
        url=worker.url(name),
        sync_url=worker.url(name, SYNC_DRIVER),
        application_name=tracker.application_name(),
        nodeid=request.node.nodeid,
        tracker=tracker,
        wants_connection="pgsandbox_connection" in request.fixturenames,
        session_class=pgsandbox_session_class,
        sync_session_class=pgsandbox_sync_session_class,
        session_wait=float(request.config.getini("pgsandbox_session_wait") or 10),
        recycled=recycled,
        retired=worker.retired,
    )
    try:
        yield target
    finally:
        if isolation == "database" and not state.settings.keep:
            worker.finish_clone(name, recycled)


#: What the async fixtures import: the `asyncpg` extra installs all three.
_ASYNC_NEEDS = ("pytest_asyncio", "asyncpg", "greenlet")


def _sandbox_of(request: pytest.FixtureRequest) -> AsyncSandbox:
    """The test's async sandbox, from the fixture of the loop scope the test runs in.

    A function, not a fixture of its own: each fixture in the chain costs every test
    pytest's setup and teardown of it.
    """
    names = request.fixturenames
    if "pgsandbox_portal" in names:
        chosen = "_pgsandbox_sandbox_portal"
    elif runs_on_anyio(request.node):
        chosen = "_pgsandbox_sandbox_anyio"
    elif "anyio_backend" in names and runs_on_pytest_asyncio(request.node):
        # An anyio-marked test that pytest-asyncio runs (its auto mode): anyio's plugin
        # would run pgsandbox's async fixtures in anyio's loop, not the test's.
        chosen = "_pgsandbox_sandbox_asyncio_runner"
    else:
        chosen = ""
    needs = _ASYNC_NEEDS if not chosen or chosen.endswith("runner") else _ASYNC_NEEDS[1:]
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        extras = ",".join(
            sorted({"asyncio" if name == "pytest_asyncio" else "asyncpg" for name in missing})
        )
        anyio = (
            ", or mark the test @pytest.mark.anyio to run it under anyio's plugin"
            if missing == ["pytest_asyncio"]
            else ""
        )
        pytest.fail(
            f"pgsandbox's async fixtures need {', '.join(missing)}, which this environment "
            f'lacks: pip install "pgsandbox[{extras}]"{anyio} (or use '
            "pgsandbox_sync_session / pgsandbox_url in sync tests).",
            pytrace=False,
        )
    if not chosen:
        chosen = f"_pgsandbox_sandbox_{test_loop_scope(request.node)}"
    return cast("AsyncSandbox", request.getfixturevalue(chosen))


# ---------------------------------------------------------------------- public fixtures
@pytest.fixture
def pgsandbox_url(_pgsandbox_target: TestTarget) -> str:
    """URL (``postgresql+asyncpg://``) of this test's database.

    ``transaction`` tests get the worker's database (a connection of your own does not
    see the test's uncommitted rows), ``database`` tests their fresh clone, ``shared``
    tests the run-wide shared database, which subprocesses can use too.
    """
    return _pgsandbox_target.url.render_as_string(hide_password=False)


@pytest.fixture
def pgsandbox_sessionmaker(request: pytest.FixtureRequest) -> async_sessionmaker[AsyncSession]:
    """Session factory to hand to the code under test (one autouse fixture in conftest).

    In ``transaction`` isolation every session it makes joins the test's outer
    transaction through a savepoint: commits are real to the code, and rolled back after
    the test. Sessions use ``expire_on_commit=False``.
    """
    return _sandbox_of(request).sessionmaker


@pytest.fixture
def pgsandbox_session(request: pytest.FixtureRequest) -> AsyncSession:
    """An ``AsyncSession`` from :func:`pgsandbox_sessionmaker`, closed after the test."""
    return _sandbox_of(request).session


@pytest.fixture
def pgsandbox_connection(request: pytest.FixtureRequest) -> AsyncConnection:
    """The test's ``AsyncConnection``.

    In ``transaction`` isolation pgsandbox owns its outer transaction and rolls it back
    after the test; ``commit()`` on it changes nothing, so commit through sessions.
    """
    return _sandbox_of(request).connection


@pytest.fixture
def pgsandbox_engine(request: pytest.FixtureRequest, _pgsandbox_target: TestTarget) -> AsyncEngine:
    """An ``AsyncEngine`` for this test's database, created in the test's event loop.

    Only for ``database`` and ``shared`` isolation: an engine's connections cannot join
    the rolled-back transaction of ``transaction`` isolation, so their commits would leak
    into later tests.
    """
    if _pgsandbox_target.isolation == "transaction":
        pytest.fail(
            "pgsandbox_engine is not available in 'transaction' isolation: connections "
            "from an engine cannot join the test's rolled-back transaction, so their commits "
            "would leak into later tests. Use pgsandbox_sessionmaker / pgsandbox_connection, "
            'or mark the test @pytest.mark.pgsandbox(isolation="database").',
            pytrace=False,
        )
    return _sandbox_of(request).engine


@pytest.fixture
def pgsandbox_bind(
    request: pytest.FixtureRequest, _pgsandbox_target: TestTarget
) -> AsyncConnection | AsyncEngine:
    """What to hand code that reads a module-global engine instead of a session factory.

    In ``transaction`` isolation, the test's ``AsyncConnection``: sessions made on it
    (``AsyncSession(bind)``, ``async_sessionmaker(bind)``) join the test's transaction, so
    nothing they commit outlives the test. In ``database`` and ``shared`` isolation, the
    test's ``AsyncEngine``. See docs/pgsandbox.md, "Code that reads a global engine".
    """
    box = _sandbox_of(request)
    return box.connection if _pgsandbox_target.isolation == "transaction" else box.engine


@pytest.fixture
def pgsandbox_sync_session(
    request: pytest.FixtureRequest, _pgsandbox_target: TestTarget
) -> Iterator[Session]:
    """A sync SQLAlchemy ``Session`` (psycopg) on this test's database, for sync tests.

    Isolated like the async fixtures, but on a connection of its own: in ``transaction``
    isolation it does not see rows the async fixtures' transaction wrote.
    """
    state = STATE.get(request.config)
    options: dict[str, Any] = {
        "connect_args": {"application_name": _pgsandbox_target.application_name[:63]}
    }
    if _pgsandbox_target.isolation == "database":
        engine = create_engine(_pgsandbox_target.sync_url, poolclass=NullPool, **options)
        _pgsandbox_target.tracker.instrument(engine, f"sync-clone:{_pgsandbox_target.database}")
        try:
            with _failing_on_leaks(), open_sync_session(_pgsandbox_target, engine) as session:
                yield session
        finally:
            engine.dispose()
        return
    engine = state.sync_engine(_pgsandbox_target.sync_url, options)
    with _failing_on_leaks(), open_sync_session(_pgsandbox_target, engine) as session:
        yield session


@contextlib.contextmanager
def _failing_on_leaks() -> Iterator[None]:
    problem = ""
    try:
        yield
    except LeakedConnection as exc:
        problem = str(exc)
    if problem:
        # Raised from None: the leak report stands alone, without pgsandbox's internals.
        raise pytest.fail.Exception(problem, pytrace=False) from None
