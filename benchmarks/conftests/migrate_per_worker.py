"""Baseline "migrate per worker": each worker migrates its own database, truncates per test.

As pytest-django-style setups do: every xdist worker creates a database, runs ``alembic
upgrade head`` on it, keeps one pooled engine for the session, and empties every table
before each test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from benchmarks._db import TRUNCATE_SQL, admin_connection, create_database, drop_database, migrate
from benchmarks._env import SYNC_DRIVER, bench_env

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


@pytest.fixture(scope="session")
def worker_database() -> Iterator[str]:
    """This worker's database, created and migrated at the start of its session."""
    env = bench_env()
    name = f"glossbench_{env.run_id}_mpw_{env.worker_id}"
    with admin_connection(env.server_url) as conn:
        create_database(conn, name)
    try:
        migrate(env.url(name, SYNC_DRIVER))
        yield name
    finally:
        with admin_connection(env.server_url) as conn:
            drop_database(conn, name)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def worker_engine(worker_database: str) -> AsyncIterator[AsyncEngine]:
    """One pooled engine for the worker's session."""
    engine = create_async_engine(bench_env().url(worker_database), pool_size=2)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def bench_sessionmaker(worker_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Empty every table, then hand out sessions of the pooled engine."""
    async with worker_engine.begin() as conn:
        await conn.execute(text(TRUNCATE_SQL))
    return async_sessionmaker(worker_engine, expire_on_commit=False)
