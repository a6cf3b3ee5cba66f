"""Reference "one pooled engine": bare pytest-asyncio, no isolation at all.

One pooled engine per worker on the already migrated shared database; tests keep apart
only through unique data. It is the floor the other strategies are measured against,
and the memory baseline for pgsandbox's per-worker footprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest_asyncio
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from benchmarks._env import bench_env

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pooled_engine() -> AsyncIterator[AsyncEngine]:
    """One pooled engine for the worker's session."""
    env = bench_env()
    engine = create_async_engine(env.url(env.reference_database), pool_size=2)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def bench_sessionmaker(pooled_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions of the pooled engine."""
    return async_sessionmaker(pooled_engine, expire_on_commit=False)
