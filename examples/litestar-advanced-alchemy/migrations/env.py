"""Alembic environment for advanced-alchemy's Config (`litestar database upgrade` runs it).

Like the env.py `litestar database init` writes: it migrates through the engine of the
app's SQLAlchemyAsyncConfig (``config.engine``, ``config.db_url``), which only
advanced-alchemy's AlembicCommandConfig has; alembic's plain Config has neither.
"""

import asyncio

import box_office.models  # noqa: F401 - registers the tables on advanced-alchemy's metadata
from advanced_alchemy.base import metadata_registry
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config


def migrate(connection):
    context.configure(
        connection=connection,
        target_metadata=metadata_registry.get(config.bind_key),
        version_table=config.version_table_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def main():
    engine = config.engine or create_async_engine(config.db_url)
    async with engine.connect() as connection:
        await connection.run_sync(migrate)
    await engine.dispose()


asyncio.run(main())
