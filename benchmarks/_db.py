"""Database chores of the benchmark: migrate, truncate, create and drop its own databases.

Every database the benchmark creates is named ``glossbench_<run>_...``; :func:`drop_database`
refuses any other name, so the benchmark never removes what it did not create.
"""

from __future__ import annotations

import contextlib
import io
import time
from typing import TYPE_CHECKING, Any

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql

from benchmarks.benchapp import ALEMBIC_INI
from benchmarks.benchapp.models import TABLES

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.engine import URL

__all__ = [
    "BENCH_PREFIX",
    "TRUNCATE_SQL",
    "admin_connection",
    "create_database",
    "drop_database",
    "load_schema",
    "migrate",
]

BENCH_PREFIX = "glossbench_"
TRUNCATE_SQL = f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"


def _params(url: URL, database: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": database or url.database or "postgres",
    }
    return {key: value for key, value in params.items() if value is not None}


@contextlib.contextmanager
def admin_connection(url: URL, database: str | None = None) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit psycopg connection to ``database`` (default: the URL's)."""
    conn = psycopg.connect(autocommit=True, **_params(url, database))
    try:
        yield conn
    finally:
        conn.close()


def migrate(url: URL, alembic_ini: Path = ALEMBIC_INI, driver: str = "postgresql+psycopg") -> float:
    """Run ``alembic upgrade head`` (default: of the benchmark schema) on ``url``; seconds."""
    started = time.perf_counter()
    config = Config(str(alembic_ini), stdout=io.StringIO())
    config.attributes["configure_logger"] = False
    sync_url = url.set(drivername=driver)
    config.set_main_option(
        "sqlalchemy.url", sync_url.render_as_string(hide_password=False).replace("%", "%%")
    )
    command.upgrade(config, "head")
    return time.perf_counter() - started


def load_schema(**kwargs: Any) -> None:
    """pytest-postgresql loader (``--postgresql-load``): migrate its template database."""
    from sqlalchemy.engine import URL as SAURL

    url = SAURL.create(
        "postgresql+psycopg",
        username=kwargs.get("user"),
        password=kwargs.get("password") or None,
        host=kwargs.get("host"),
        port=int(kwargs["port"]) if kwargs.get("port") else None,
        database=kwargs["dbname"],
    )
    migrate(url)


def _check_ours(name: str) -> None:
    if not name.startswith(BENCH_PREFIX):
        msg = f"the benchmark only creates and drops databases named {BENCH_PREFIX}*: {name!r}"
        raise ValueError(msg)


def create_database(
    conn: psycopg.Connection[Any],
    name: str,
    *,
    template: str | None = None,
    strategy: str | None = None,
) -> float:
    """Create one of the benchmark's databases (dropping a leftover first); return seconds."""
    _check_ours(name)
    drop_database(conn, name)
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    if strategy is not None:
        query += sql.SQL(" STRATEGY {}").format(sql.SQL(strategy))
    started = time.perf_counter()
    conn.execute(query)
    return time.perf_counter() - started


def drop_database(conn: psycopg.Connection[Any], name: str) -> float:
    """Drop one of the benchmark's databases if it exists; return seconds."""
    _check_ours(name)
    started = time.perf_counter()
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return time.perf_counter() - started


def drop_run_databases(conn: psycopg.Connection[Any], run_id: str) -> list[str]:
    """Drop every database of one benchmark run (``glossbench_<run>_*``)."""
    prefix = f"{BENCH_PREFIX}{run_id}_"
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
        )
    ]
    for name in names:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(sql.Identifier(name))
        )
        drop_database(conn, name)
    return names
