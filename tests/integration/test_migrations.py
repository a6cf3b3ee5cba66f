"""The migrations: they build exactly the models' schema, and downgrade cleanly.

Sync tests on a fresh clone of the template (``isolation="database"``): alembic's env.py
runs ``asyncio.run``, which cannot run inside a test's event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from glossator.cli import alembic_config
from glossator.db.models import Base

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

pytestmark = pytest.mark.pgsandbox(isolation="database")

APP_TABLES = {table.name for table in Base.metadata.sorted_tables}
ENUM_TYPES = {"enrollment_role", "source_kind", "export_job_status"}


def _schema(db_session: Session) -> tuple[set[str], set[str]]:
    """Tables and enum types in the public schema; ends the transaction (no locks kept)."""
    try:
        tables = set(inspect(db_session.connection()).get_table_names())
        enums = set(db_session.scalars(text("SELECT typname FROM pg_type WHERE typtype = 'e'")))
    finally:
        db_session.rollback()
    return tables, enums


class TestMigrationsMatchModels:
    def test_autogenerate_finds_no_difference(self, pgsandbox_sync_session: Session) -> None:
        """Comparing the migrated template with the models yields an empty diff."""
        try:
            context = MigrationContext.configure(
                pgsandbox_sync_session.connection(), opts={"compare_type": True}
            )
            diff = compare_metadata(context, Base.metadata)
        finally:
            pgsandbox_sync_session.rollback()
        assert diff == []

    def test_alembic_check_passes_through_env_py(self, pgsandbox_url: str) -> None:
        """`alembic check` through the packaged env.py detects no new operations."""
        command.check(alembic_config(pgsandbox_url, configure_logger=False))

    def test_template_is_at_head(self, pgsandbox_sync_session: Session) -> None:
        """The template pgsandbox built is migrated to the single head revision."""
        head = ScriptDirectory.from_config(alembic_config("postgresql+asyncpg://unused/x"))
        try:
            current = MigrationContext.configure(
                pgsandbox_sync_session.connection()
            ).get_current_heads()
        finally:
            pgsandbox_sync_session.rollback()
        assert current == tuple(head.get_heads())


class TestRoundTrip:
    def test_downgrade_base_then_upgrade_head(
        self, pgsandbox_url: str, pgsandbox_sync_session: Session
    ) -> None:
        """Downgrading to base removes every table and enum type; upgrading restores them."""
        config = alembic_config(pgsandbox_url, configure_logger=False)
        assert _schema(pgsandbox_sync_session) == (APP_TABLES | {"alembic_version"}, ENUM_TYPES)

        command.downgrade(config, "base")
        assert _schema(pgsandbox_sync_session) == ({"alembic_version"}, set())

        command.upgrade(config, "head")
        assert _schema(pgsandbox_sync_session) == (APP_TABLES | {"alembic_version"}, ENUM_TYPES)
        command.check(config)
