"""pgsandbox's async fixtures, one per pytest-asyncio loop scope.

Loaded only when pytest-asyncio is installed. ``_pgsandbox_engines_<scope>`` lives exactly
as long as the event loop of that scope, so its pooled engines are created and disposed
in that loop, and it hands that loop on: the public fixtures open one test's connection
and session in the loop of the scope the test runs in (``_fixtures._sandbox_of``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest_asyncio

from pgsandbox._sandbox import EngineCache

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__: list[str] = []


@pytest_asyncio.fixture(scope="function", loop_scope="function")
async def _pgsandbox_engines_function() -> AsyncIterator[EngineCache]:
    cache = EngineCache(asyncio.get_running_loop())
    yield cache
    await cache.dispose()


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def _pgsandbox_engines_class() -> AsyncIterator[EngineCache]:
    cache = EngineCache(asyncio.get_running_loop())
    yield cache
    await cache.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def _pgsandbox_engines_module() -> AsyncIterator[EngineCache]:
    cache = EngineCache(asyncio.get_running_loop())
    yield cache
    await cache.dispose()


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def _pgsandbox_engines_package() -> AsyncIterator[EngineCache]:
    cache = EngineCache(asyncio.get_running_loop())
    yield cache
    await cache.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _pgsandbox_engines_session() -> AsyncIterator[EngineCache]:
    cache = EngineCache(asyncio.get_running_loop())
    yield cache
    await cache.dispose()
