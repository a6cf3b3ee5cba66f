"""Baseline "NullPool per test": one shared database, migrated and truncated once.

Every test gets a fresh ``NullPool`` engine, disposed after it: each test pays a new
connection and the dialect's first-connect initialisation. Isolation comes only from
unique data. The controller migrates and truncates once (in ``pytest_configure``, which
also runs in every xdist worker, hence the ``workerinput`` check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from benchmarks._db import TRUNCATE_SQL, admin_connection, migrate
from benchmarks._env import SYNC_DRIVER, bench_env

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def pytest_configure(config: pytest.Config) -> None:
    """Migrate and truncate the shared database once, in the controller only."""
    if hasattr(config, "workerinput"):
        return
    env = bench_env()
    migrate(env.url(env.reference_database, SYNC_DRIVER))
    with admin_connection(env.server_url, env.reference_database) as conn:
        conn.execute(TRUNCATE_SQL.encode())


@pytest.fixture
async def bench_sessionmaker() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on a fresh NullPool engine, disposed after the test."""
    env = bench_env()
    engine = create_async_engine(env.url(env.reference_database), poolclass=NullPool)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()
