"""The realistic suite's database the way before pgsandbox: NullPool per test.

Copied into the suite as conftest.py, run with ``-p no:pgsandbox``. The xdist controller
(or the only process, at ``-n 0``) creates one database and runs ``alembic upgrade head``
on it before any test, and drops it at the end; every worker's tests commit real data
into it, kept apart by unique data (the ``uid`` fixture). Each test gets a new
``NullPool`` engine, so every session glossator opens is a new connection, and the
engine is disposed after the test.

The runner passes the server and the database name in ``GLOSSBENCH_SERVER_URL`` and
``GLOSSBENCH_DATABASE`` (always ``glossbench_<run>_...``).
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

import psycopg
import pytest_asyncio
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

import glossator.db

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import pytest

pytest_plugins = ("benchmarks.realistic_suite.fixtures",)


def _database_name() -> str:
    name = os.environ["GLOSSBENCH_DATABASE"]
    if not name.startswith("glossbench_"):
        msg = f"the realistic suite only uses databases named glossbench_*: {name!r}"
        raise RuntimeError(msg)
    return name


def _database_url(driver: str = "postgresql+asyncpg") -> URL:
    server = make_url(os.environ["GLOSSBENCH_SERVER_URL"])
    return server.set(drivername=driver, database=_database_name())


def _admin() -> psycopg.Connection[Any]:
    url = make_url(os.environ["GLOSSBENCH_SERVER_URL"])
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": "postgres",
    }
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})


def _drop(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """Register pgsandbox's marker (its plugin is off); create and migrate the database once."""
    config.addinivalue_line("markers", "pgsandbox(isolation): ignored without pgsandbox")
    if not _is_controller(config):
        return
    name = _database_name()
    with _admin() as conn:
        _drop(conn, name)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _database_url()
    alembic = Config(str(glossator.db.alembic_ini_path()), stdout=io.StringIO())
    alembic.attributes["configure_logger"] = False
    rendered = url.render_as_string(hide_password=False).replace("%", "%%")
    alembic.set_main_option("sqlalchemy.url", rendered)
    command.upgrade(alembic, "head")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the database at the end of the run (controller only)."""
    if not _is_controller(config) or "GLOSSBENCH_DATABASE" not in os.environ:
        return
    with _admin() as conn:
        _drop(conn, _database_name())


@pytest_asyncio.fixture(autouse=True)
async def _glossator_uses_nullpool_engine() -> AsyncIterator[None]:
    """A new NullPool engine for this test; every glossator session is a new connection."""
    engine = create_async_engine(_database_url(), poolclass=NullPool)
    try:
        with glossator.db.override_sessionmaker(
            async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        ):
            yield
    finally:
        await engine.dispose()
