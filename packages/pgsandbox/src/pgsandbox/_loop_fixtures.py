"""The test's sandbox built in the event loop that really runs the test, beyond pytest-asyncio.

pytest-asyncio's own loops are served by ``_async_fixtures``. This module covers the rest:

* **anyio's pytest plugin** (``@pytest.mark.anyio``): anyio runs the test, and the async
  fixtures it is given, in its own runner. pgsandbox opens the sandbox in that very runner
  (``anyio.pytest_plugin.get_runner`` hands out the runner the test will use), whether or
  not pytest-asyncio is installed. Only the asyncio backend can work (asyncpg and
  SQLAlchemy's asyncio extension are asyncio-only); trio gets an explanation.
* **an anyio-marked test that pytest-asyncio runs** (its ``auto`` mode converts every
  coroutine test): the sandbox is opened in pytest-asyncio's runner for the test's loop
  scope, driven from a sync fixture, so anyio's fixture hook cannot move it to its loop.
* **a sync test that serves the app in a portal** (``pgsandbox_portal``): the sandbox is
  opened in the portal's loop and thread, where ``pgsandbox.asgi.portal_client`` runs the
  app too (Starlette's and FastAPI's ``TestClient``).

Each opens a sandbox with an engine cache of its own, disposed in the same loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pgsandbox._loops import test_loop_scope
from pgsandbox._sandbox import (
    AsyncSandbox,
    EngineCache,
    LeakedConnection,
    TestTarget,
    open_async_sandbox,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterator

    from anyio.from_thread import BlockingPortal

__all__ = ["pgsandbox_portal", "runs_on_anyio", "runs_on_pytest_asyncio"]

TRIO_MESSAGE = (
    "pgsandbox: this test runs on anyio's {backend!r} backend, but pgsandbox's database "
    "fixtures need asyncio (asyncpg and SQLAlchemy's asyncio extension run only on "
    'asyncio). Run database tests on asyncio: define `anyio_backend` returning "asyncio" '
    'in your conftest (or parametrize it with "asyncio" only for these tests).'
)


def runs_on_pytest_asyncio(item: pytest.Item) -> bool:
    """Whether pytest-asyncio runs ``item`` (it marks every test it runs ``asyncio``)."""
    return item.get_closest_marker("asyncio") is not None and item.config.pluginmanager.has_plugin(
        "asyncio"
    )


def runs_on_anyio(item: pytest.Item) -> bool:
    """Whether anyio's plugin runs ``item``: it uses ``anyio_backend`` and nobody else runs it."""
    return "anyio_backend" in getattr(item, "fixturenames", ()) and not runs_on_pytest_asyncio(item)


async def _sandbox(target: TestTarget) -> AsyncIterator[AsyncSandbox]:
    cache = EngineCache()
    try:
        async with open_async_sandbox(target, cache) as box:
            yield box
    finally:
        await cache.dispose()


def _driven(
    target: TestTarget, run: Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]
) -> Iterator[AsyncSandbox]:
    """Open the sandbox, and close it, with ``run`` (which runs a coroutine in the loop)."""
    steps = _sandbox(target)

    async def step() -> Any:
        # A sentinel, not StopAsyncIteration: that must not cross a task's boundary.
        try:
            return await steps.__anext__()
        except StopAsyncIteration:
            return None

    problem = ""
    box = run(step)
    try:
        yield box
    finally:
        try:
            run(step)
        except LeakedConnection as exc:
            problem = str(exc)
    if problem:
        # Raised from None: the report stands alone, without pgsandbox's internals.
        raise pytest.fail.Exception(problem, pytrace=False) from None


@pytest.fixture
def _pgsandbox_sandbox_anyio(
    request: pytest.FixtureRequest, _pgsandbox_target: TestTarget
) -> Iterator[AsyncSandbox]:
    from anyio.pytest_plugin import extract_backend_and_options, get_runner

    backend, options = extract_backend_and_options(request.getfixturevalue("anyio_backend"))
    if backend != "asyncio":
        pytest.fail(TRIO_MESSAGE.format(backend=backend), pytrace=False)
    # The runner the test will run in: anyio keeps one while anything holds it.
    with get_runner(backend, options) as runner:
        yield from _driven(_pgsandbox_target, lambda step: runner.run_fixture(step, {}))


@pytest.fixture
def _pgsandbox_sandbox_asyncio_runner(
    request: pytest.FixtureRequest, _pgsandbox_target: TestTarget
) -> Iterator[AsyncSandbox]:
    scope = test_loop_scope(request.node)
    try:
        # pytest-asyncio's runner of the test's loop scope (its fixture name since 1.0).
        runner = request.getfixturevalue(f"_{scope}_scoped_runner")
    except pytest.FixtureLookupError:
        if scope != "function":
            pytest.fail(
                "pgsandbox: an anyio-marked test run by pytest-asyncio in a "
                f"{scope!r}-scoped loop needs pytest-asyncio 1.0 or later (or set "
                "asyncio_mode = strict, so that anyio runs the test).",
                pytrace=False,
            )
        loop = request.getfixturevalue("event_loop")  # pytest-asyncio before 1.0
        yield from _driven(_pgsandbox_target, lambda step: loop.run_until_complete(step()))
        return
    yield from _driven(_pgsandbox_target, lambda step: runner.run(step()))


@pytest.fixture
def pgsandbox_portal() -> Iterator[BlockingPortal]:
    """An anyio blocking portal (a thread with an asyncio loop) that holds the sandbox.

    For sync tests of an ASGI app through Starlette's or FastAPI's ``TestClient``, which
    runs the app in a portal: with this fixture pgsandbox opens the test's connection in
    this portal's loop, and ``pgsandbox.asgi.portal_client(app, pgsandbox_portal)`` makes
    the client run the app there too, so ``transaction`` isolation just works.
    """
    try:
        from anyio.from_thread import start_blocking_portal
    except ImportError:  # pragma: no cover - anyio comes with Starlette and httpx
        pytest.fail("pgsandbox_portal needs anyio: pip install anyio", pytrace=False)
    with start_blocking_portal("asyncio") as portal:
        yield portal


@pytest.fixture
def _pgsandbox_sandbox_portal(
    pgsandbox_portal: BlockingPortal, _pgsandbox_target: TestTarget
) -> Iterator[AsyncSandbox]:
    yield from _driven(_pgsandbox_target, pgsandbox_portal.call)
