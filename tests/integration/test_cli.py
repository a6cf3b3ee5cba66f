"""`glossator db ...` as a user runs it: a subprocess with GLOSSATOR_DATABASE_URL set."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

pytestmark = pytest.mark.pgsandbox(isolation="database")


def _glossator(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GLOSSATOR_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "glossator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestDbCommands:
    def test_current_reports_head(self, pgsandbox_url: str) -> None:
        """`db current` prints the revision of the migrated database."""
        result = _glossator("db", "current", database_url=pgsandbox_url)
        assert result.returncode == 0, result.stderr
        assert "(head)" in result.stdout

    def test_check_passes_on_migrated_database(self, pgsandbox_url: str) -> None:
        """`db check` says the models match and exits 0."""
        result = _glossator("db", "check", database_url=pgsandbox_url)
        assert result.returncode == 0, result.stderr
        assert "models match migrations" in result.stdout

    def test_downgrade_then_upgrade(self, pgsandbox_url: str) -> None:
        """`db downgrade base` empties the schema; `db upgrade` brings it back to head."""
        down = _glossator("db", "downgrade", "base", database_url=pgsandbox_url)
        assert down.returncode == 0, down.stderr
        assert "Running downgrade" in down.stderr
        up = _glossator("db", "upgrade", database_url=pgsandbox_url)
        assert up.returncode == 0, up.stderr
        assert "Running upgrade" in up.stderr

    def test_check_reports_drift_with_exit_1(
        self, pgsandbox_url: str, pgsandbox_sync_session: Session
    ) -> None:
        """A table the models do not know makes `db check` print the diff and exit 1."""
        pgsandbox_sync_session.execute(text("CREATE TABLE stray_notes (id integer)"))
        pgsandbox_sync_session.commit()
        result = _glossator("db", "check", database_url=pgsandbox_url)
        assert result.returncode == 1
        assert "stray_notes" in result.stderr

    def test_upgrade_sql_prints_ddl_without_connecting(self) -> None:
        """`db upgrade --sql` renders the migrations as SQL, even with no server there."""
        result = _glossator(
            "db", "upgrade", "--sql", database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none"
        )
        assert result.returncode == 0, result.stderr
        assert "CREATE TABLE highlights" in result.stdout
        assert "CREATE TYPE enrollment_role" in result.stdout


class TestUnreachableDatabase:
    def test_clear_message_without_traceback(self) -> None:
        """An unreachable server exits 2 naming GLOSSATOR_DATABASE_URL, with no traceback."""
        result = _glossator(
            "db", "upgrade", database_url="postgresql+asyncpg://nobody:s3cret@127.0.0.1:1/none"
        )
        assert result.returncode == 2
        assert "GLOSSATOR_DATABASE_URL" in result.stderr
        assert "cannot connect" in result.stderr
        assert "Traceback" not in result.stderr
        assert "s3cret" not in result.stderr
