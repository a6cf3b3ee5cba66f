"""The app's database configuration (advanced-alchemy), and its alembic Config."""

import os

from advanced_alchemy.alembic.commands import AlembicCommandConfig, AlembicCommands
from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
)

DATABASE_URL = os.environ.get("BOX_OFFICE_DB", "postgresql+asyncpg://box@localhost/box_office")
MIGRATIONS = AlembicAsyncConfig(script_config="alembic.ini", script_location="migrations")

alchemy = SQLAlchemyAsyncConfig(
    connection_string=DATABASE_URL,
    session_config=AsyncSessionConfig(expire_on_commit=False),
    before_send_handler="autocommit",
    alembic_config=MIGRATIONS,
)


def alembic_config(ini_path: str, url: str | None = None) -> AlembicCommandConfig:
    """`litestar database upgrade`'s Config, for the database at ``url`` (pgsandbox's build)."""
    config = SQLAlchemyAsyncConfig(connection_string=url or DATABASE_URL, alembic_config=MIGRATIONS)
    return AlembicCommands(sqlalchemy_config=config).config
