"""pgsandbox's async fixtures, one set per pytest-asyncio loop scope.

Loaded only when pytest-asyncio is installed. ``_pgsandbox_engines_<scope>`` lives exactly
as long as the event loop of that scope, so its pooled engines are created and disposed
in that loop; ``_pgsandbox_sandbox_<scope>`` opens one test's connection and session in
it. The public fixtures pick the scope the test runs in (``_fixtures._sandbox_of``).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from pgsandbox._sandbox import (
    AsyncSandbox,
    EngineCache,
    LeakedConnection,
    TestTarget,
    open_async_sandbox,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__: list[str] = []


@contextlib.asynccontextmanager
async def _failing_on_leaks() -> AsyncIterator[None]:
    """Turn a leak found at teardown into a clean test failure (no pgsandbox traceback)."""
    problem = ""
    try:
        yield
    except LeakedConnection as exc:
        problem = str(exc)
    if problem:
        # Raised from None: the leak report stands alone, without pgsandbox's internals.
        raise pytest.fail.Exception(problem, pytrace=False) from None


@pytest_asyncio.fixture(scope="function", loop_scope="function")
async def _pgsandbox_engines_function() -> AsyncIterator[EngineCache]:
    cache = EngineCache()
    yield cache
    await cache.dispose()


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def _pgsandbox_engines_class() -> AsyncIterator[EngineCache]:
    cache = EngineCache()
    yield cache
    await cache.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def _pgsandbox_engines_module() -> AsyncIterator[EngineCache]:
    cache = EngineCache()
    yield cache
    await cache.dispose()


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def _pgsandbox_engines_package() -> AsyncIterator[EngineCache]:
    cache = EngineCache()
    yield cache
    await cache.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _pgsandbox_engines_session() -> AsyncIterator[EngineCache]:
    cache = EngineCache()
    yield cache
    await cache.dispose()


@pytest_asyncio.fixture(loop_scope="function")
async def _pgsandbox_sandbox_function(
    _pgsandbox_target: TestTarget, _pgsandbox_engines_function: EngineCache
) -> AsyncIterator[AsyncSandbox]:
    async with (
        _failing_on_leaks(),
        open_async_sandbox(_pgsandbox_target, _pgsandbox_engines_function) as box,
    ):
        yield box


@pytest_asyncio.fixture(loop_scope="class")
async def _pgsandbox_sandbox_class(
    _pgsandbox_target: TestTarget, _pgsandbox_engines_class: EngineCache
) -> AsyncIterator[AsyncSandbox]:
    async with (
        _failing_on_leaks(),
        open_async_sandbox(_pgsandbox_target, _pgsandbox_engines_class) as box,
    ):
        yield box


@pytest_asyncio.fixture(loop_scope="module")
async def _pgsandbox_sandbox_module(
    _pgsandbox_target: TestTarget, _pgsandbox_engines_module: EngineCache
) -> AsyncIterator[AsyncSandbox]:
    async with (
        _failing_on_leaks(),
        open_async_sandbox(_pgsandbox_target, _pgsandbox_engines_module) as box,
    ):
        yield box


@pytest_asyncio.fixture(loop_scope="package")
async def _pgsandbox_sandbox_package(
    _pgsandbox_target: TestTarget, _pgsandbox_engines_package: EngineCache
) -> AsyncIterator[AsyncSandbox]:
    async with (
        _failing_on_leaks(),
        open_async_sandbox(_pgsandbox_target, _pgsandbox_engines_package) as box,
    ):
        yield box


@pytest_asyncio.fixture(loop_scope="session")
async def _pgsandbox_sandbox_session(
    _pgsandbox_target: TestTarget, _pgsandbox_engines_session: EngineCache
) -> AsyncIterator[AsyncSandbox]:
    async with (
        _failing_on_leaks(),
        open_async_sandbox(_pgsandbox_target, _pgsandbox_engines_session) as box,
    ):
        yield box
