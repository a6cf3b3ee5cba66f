"""Baseline "one database per worker + DELETE": the pytest-databases / full-stack pattern.

Every xdist worker creates a database of its own and builds the schema with
``metadata.create_all`` (no migrations), keeps one pooled engine for the session, and after
each test deletes every row of every table, children first (``metadata.sorted_tables``
reversed), in one transaction: the clean-up those projects write by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from benchmarks._db import admin_connection, create_database, drop_database
from benchmarks._env import bench_env
from benchmarks.benchapp.models import Base

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


@pytest.fixture(scope="session")
def worker_database() -> Iterator[str]:
    """This worker's empty database, dropped at the end of its session."""
    env = bench_env()
    name = f"glossbench_{env.run_id}_pwd_{env.worker_id}"
    with admin_connection(env.server_url) as conn:
        create_database(conn, name)
    try:
        yield name
    finally:
        with admin_connection(env.server_url) as conn:
            drop_database(conn, name)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def worker_engine(worker_database: str) -> AsyncIterator[AsyncEngine]:
    """One pooled engine for the worker's session; the schema made with create_all."""
    engine = create_async_engine(bench_env().url(worker_database), pool_size=2)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def bench_sessionmaker(
    worker_engine: AsyncEngine,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of the pooled engine; every table emptied after the test."""
    yield async_sessionmaker(worker_engine, expire_on_commit=False)
    async with worker_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
