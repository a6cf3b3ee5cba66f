"""Alembic environment for glossator, in the style of alembic's ``async`` template.

The URL is the config's ``sqlalchemy.url`` (``glossator db`` sets it from
``GLOSSATOR_DATABASE_URL``; pgsandbox sets it to the database it builds). Only when that
is empty does this fall back to ``Settings.from_env()``.

Callers that manage logging themselves (pgsandbox, tests) set
``config.attributes["configure_logger"] = False`` so ``fileConfig`` does not replace
their handlers. A caller that already holds a sync ``Connection`` (for example inside
``AsyncConnection.run_sync``) may pass it as ``config.attributes["connection"]``; the
migrations then run on it, without a new engine or event loop.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from glossator.db.models import Base
from glossator.settings import Settings

config = context.config

if config.config_file_name is not None and config.attributes.get("configure_logger") is not False:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    return url or Settings.from_env().database_url


def run_migrations_offline() -> None:
    """Emit the migrations as SQL (``--sql``) without connecting."""
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on a sync connection (inside ``run_sync`` when async)."""
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open an async engine without pooling, run the migrations, and close it."""
    section = dict(config.get_section(config.config_ini_section, {}))
    section["sqlalchemy.url"] = _database_url()
    connectable = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    try:
        async with connectable.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await connectable.dispose()


def run_migrations_online() -> None:
    """Run the migrations against the database (a given connection, or a new engine)."""
    given_connection = config.attributes.get("connection")
    if isinstance(given_connection, Connection):
        do_run_migrations(given_connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
