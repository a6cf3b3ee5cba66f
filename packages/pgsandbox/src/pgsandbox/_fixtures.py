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
    NO_CONNECTION,
    AsyncSandbox,
    LeakedConnection,
    TestTarget,
    open_async_sandbox,
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

    from pgsandbox._sandbox import EngineCache

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
#: The test's target and async sandbox, kept on the test item while it runs: every fixture
#: of the test shares them, and no fixture of their own costs each test a setup and
#: teardown through pytest (measured: about 0.1 ms each, on a test of about 4).
_TARGET = pytest.StashKey[TestTarget]()
_BOX = pytest.StashKey[AsyncSandbox]()


def target_of(
    request: pytest.FixtureRequest,
    session_class: type[AsyncSession],
    sync_session_class: type[Session] | None,
) -> TestTarget:
    """The test's target: made by the first fixture of the test that needs it.

    Its end (a ``database`` test's clone handed back) is a finalizer of that fixture,
    which pytest tears down after every fixture set up later, so after the sandbox.
    """
    item: pytest.Item = request.node
    found = item.stash.get(_TARGET, None)
    if found is not None:
        return found
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
    isolation = isolation_of(item, state.settings.isolation)
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
        nodeid=item.nodeid,
        tracker=tracker,
        wants_connection="pgsandbox_connection" in request.fixturenames,
        session_class=session_class,
        sync_session_class=sync_session_class,
        session_wait=float(request.config.getini("pgsandbox_session_wait") or 10),
        recycled=recycled,
        retired=worker.retired,
    )
    item.stash[_TARGET] = target
    finish_clone = isolation == "database" and not state.settings.keep

    def finish() -> None:
        del item.stash[_TARGET]
        if finish_clone:
            worker.finish_clone(name, recycled)

    request.addfinalizer(finish)
    return target


@pytest.fixture
def _pgsandbox_target(
    request: pytest.FixtureRequest,
    pgsandbox_session_class: type[AsyncSession],
    pgsandbox_sync_session_class: type[Session],
) -> TestTarget:
    return target_of(request, pgsandbox_session_class, pgsandbox_sync_session_class)


#: What the async fixtures import: the `asyncpg` extra installs all three.
_ASYNC_NEEDS = ("pytest_asyncio", "asyncpg", "greenlet")


def _sandbox_of(
    request: pytest.FixtureRequest,
    session_class: type[AsyncSession],
    sync_session_class: type[Session] | None,
) -> AsyncSandbox:
    """The test's async sandbox, opened in the event loop that runs the test.

    A function, not a fixture of its own: each fixture in the chain costs every test
    pytest's setup and teardown of it.
    """
    item: pytest.Item = request.node
    box = item.stash.get(_BOX, None)
    if box is not None:
        return box
    names = request.fixturenames
    if "pgsandbox_portal" in names:
        chosen = "_pgsandbox_sandbox_portal"
    elif runs_on_anyio(item):
        chosen = "_pgsandbox_sandbox_anyio"
    elif "anyio_backend" in names and runs_on_pytest_asyncio(item):
        # An anyio-marked test that pytest-asyncio runs (its auto mode): anyio's plugin
        # would run pgsandbox's async fixtures in anyio's loop, not the test's.
        chosen = "_pgsandbox_sandbox_asyncio_runner"
    else:
        chosen = ""
    _check_async_needs(pytest_asyncio=not chosen or chosen.endswith("runner"))
    if chosen:
        return cast("AsyncSandbox", request.getfixturevalue(chosen))
    target = target_of(request, session_class, sync_session_class)
    engines = cast(
        "EngineCache", request.getfixturevalue(f"_pgsandbox_engines_{test_loop_scope(item)}")
    )
    box = _open_in_loop(request, target, engines)
    item.stash[_BOX] = box
    return box


def _open_in_loop(
    request: pytest.FixtureRequest, target: TestTarget, engines: EngineCache
) -> AsyncSandbox:
    """Open the sandbox in the engines' loop (pytest-asyncio's, of the test's loop scope).

    Driven with the loop's ``run_until_complete`` from this sync fixture, as
    pytest-asyncio drives its async fixtures, without an async fixture's machinery
    around each step (its cost per test: docs/benchmarks.md). The close is a finalizer
    of the fixture that opened it, so fixtures set up later (which may use the sandbox)
    are torn down first.
    """
    loop = engines.loop
    if loop is None or loop.is_closed():  # pragma: no cover - engines come from a live loop
        msg = "pgsandbox: the test's event loop is gone"
        raise RuntimeError(msg)
    if loop.is_running():
        pytest.fail(
            "pgsandbox: the database fixtures were requested while the test's event loop "
            "was running (request.getfixturevalue from async code?). Request them as "
            "fixture arguments instead.",
            pytrace=False,
        )
    opened = open_async_sandbox(target, engines)
    box = loop.run_until_complete(opened.__aenter__())
    item: pytest.Item = request.node

    def close() -> None:
        if _BOX in item.stash:
            del item.stash[_BOX]
        problem = ""
        try:
            loop.run_until_complete(opened.__aexit__(None, None, None))
        except LeakedConnection as exc:
            problem = str(exc)
        if problem:
            # Raised from None: the leak report stands alone, without pgsandbox's internals.
            raise pytest.fail.Exception(problem, pytrace=False) from None

    request.addfinalizer(close)
    return box


#: Set once every module the default async path imports was found.
_ASYNC_NEEDS_FOUND: list[bool] = []


def _check_async_needs(*, pytest_asyncio: bool) -> None:
    """Fail naming the extra to install when an async fixture's dependency is missing."""
    if _ASYNC_NEEDS_FOUND:
        return
    needs = _ASYNC_NEEDS if pytest_asyncio else _ASYNC_NEEDS[1:]
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
    if pytest_asyncio:
        _ASYNC_NEEDS_FOUND.append(True)


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
def pgsandbox_sessionmaker(
    request: pytest.FixtureRequest,
    pgsandbox_session_class: type[AsyncSession],
    pgsandbox_sync_session_class: type[Session],
) -> async_sessionmaker[AsyncSession]:
    """Session factory to hand to the code under test (one autouse fixture in conftest).

    In ``transaction`` isolation every session it makes joins the test's outer
    transaction through a savepoint: commits are real to the code, and rolled back after
    the test. Sessions use ``expire_on_commit=False``.
    """
    return _sandbox_of(request, pgsandbox_session_class, pgsandbox_sync_session_class).sessionmaker


@pytest.fixture
def pgsandbox_session(
    request: pytest.FixtureRequest,
    pgsandbox_session_class: type[AsyncSession],
    pgsandbox_sync_session_class: type[Session],
) -> AsyncSession:
    """An ``AsyncSession`` from :func:`pgsandbox_sessionmaker`, closed after the test."""
    return _sandbox_of(request, pgsandbox_session_class, pgsandbox_sync_session_class).session


@pytest.fixture
def pgsandbox_connection(
    request: pytest.FixtureRequest,
    pgsandbox_session_class: type[AsyncSession],
    pgsandbox_sync_session_class: type[Session],
) -> AsyncConnection:
    """The test's ``AsyncConnection``.

    In ``transaction`` isolation pgsandbox owns its outer transaction and rolls it back
    after the test; ``commit()`` on it changes nothing, so commit through sessions.
    """
    box = _sandbox_of(request, pgsandbox_session_class, pgsandbox_sync_session_class)
    if not box.has_connection:
        pytest.fail(NO_CONNECTION, pytrace=False)
    return box.connection


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
    return _sandbox_of(
        request, _pgsandbox_target.session_class, _pgsandbox_target.sync_session_class
    ).engine


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
    box = _sandbox_of(
        request, _pgsandbox_target.session_class, _pgsandbox_target.sync_session_class
    )
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
