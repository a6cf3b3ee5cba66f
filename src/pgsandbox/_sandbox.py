"""What one test gets: a database chosen by its isolation mode, and ways into it.

``transaction``: one connection to the worker's database with an outer transaction;
sessions join it through savepoints (``join_transaction_mode="create_savepoint"``), so
code that commits still leaves nothing behind once the outer transaction is rolled back.

``database``: a fresh clone of the template, with an engine of its own; real commits.

``shared``: the run-wide shared database, with real commits that other workers and
subprocesses see; tests stay apart by using unique data.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from sqlalchemy.engine import URL, Engine

__all__ = ["AsyncSandbox", "EngineCache", "TestTarget", "open_async_sandbox", "open_sync_session"]


@dataclass(frozen=True, slots=True)
class TestTarget:
    """The database one test uses, chosen by its isolation mode."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    isolation: str
    database: str
    url: URL  # asyncpg form
    sync_url: URL  # psycopg form
    application_name: str


@dataclass(frozen=True, slots=True)
class AsyncSandbox:
    """The async objects a test gets; all created in, and bound to, the test's loop."""

    engine: AsyncEngine
    connection: AsyncConnection
    sessionmaker: async_sessionmaker[AsyncSession]
    session: AsyncSession


def _engine_options(application_name: str) -> dict[str, object]:
    return {"connect_args": {"server_settings": {"application_name": application_name[:63]}}}


class EngineCache:
    """Pooled engines of one event loop, by URL; disposed together in that loop."""

    def __init__(self) -> None:
        """Start empty; engines are created on first use."""
        self._engines: dict[str, AsyncEngine] = {}

    def get(self, url: URL, application_name: str) -> AsyncEngine:
        """Return the loop's engine for ``url``, creating it on first use."""
        key = url.render_as_string(hide_password=False)
        engine = self._engines.get(key)
        if engine is None:
            engine = create_async_engine(
                url, pool_size=2, max_overflow=8, **_engine_options(application_name)
            )
            self._engines[key] = engine
        return engine

    async def dispose(self) -> None:
        """Close every pooled connection (must run in the loop that made them)."""
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.dispose()


@contextlib.asynccontextmanager
async def open_async_sandbox(
    target: TestTarget, engines: EngineCache
) -> AsyncIterator[AsyncSandbox]:
    """Open the test's connection, sessionmaker and session; undo everything afterwards."""
    if target.isolation == "database":
        engine = create_async_engine(
            target.url, poolclass=NullPool, **_engine_options(target.application_name)
        )
        try:
            async with engine.connect() as connection:
                maker = async_sessionmaker(engine, expire_on_commit=False)
                async with _session(maker) as session:
                    yield AsyncSandbox(engine, connection, maker, session)
        finally:
            await engine.dispose()
        return
    engine = engines.get(target.url, target.application_name)
    async with engine.connect() as connection:
        if target.isolation == "shared":
            maker = async_sessionmaker(engine, expire_on_commit=False)
            async with _session(maker) as session:
                yield AsyncSandbox(engine, connection, maker, session)
            return
        outer = await connection.begin()
        try:
            maker = async_sessionmaker(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
            async with _session(maker) as session:
                yield AsyncSandbox(engine, connection, maker, session)
        finally:
            if outer.is_active:
                await outer.rollback()


@contextlib.asynccontextmanager
async def _session(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    session = maker()
    try:
        yield session
    finally:
        await session.close()


@contextlib.contextmanager
def open_sync_session(target: TestTarget, engine: Engine) -> Iterator[Session]:
    """Open a sync (psycopg) session for a sync test, isolated like the async ones."""
    if target.isolation != "transaction":
        maker = sessionmaker(engine, expire_on_commit=False)
        with maker() as session:
            yield session
        return
    with engine.connect() as connection:
        outer = connection.begin()
        try:
            with Session(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            ) as session:
                yield session
        finally:
            if outer.is_active:
                outer.rollback()
