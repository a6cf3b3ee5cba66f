"""Baseline "database per test": pytest-postgresql's ``postgresql_noproc`` with a template.

pytest-postgresql loads the template once per worker (``--postgresql-load`` migrates
it) and its ``postgresql`` fixture creates a database from that template for every test
and drops it afterwards. The test's code gets a NullPool engine on that database (a new
database means a new connection anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pytest_postgresql import factories
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from benchmarks._env import bench_env

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from psycopg import Connection

# Host, port, user, database name and loader come from --postgresql-* options.
postgresql_bench = factories.postgresql("postgresql_noproc")


@pytest.fixture
async def bench_sessionmaker(
    postgresql_bench: Connection[object],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on this test's own database."""
    engine = create_async_engine(bench_env().url(postgresql_bench.info.dbname), poolclass=NullPool)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()
