"""Helpers for pgsandbox's own tests: throw-away projects run through ``pytester``.

A module of its own (the fixtures are in ``conftest.py``), so tests import it by name.

Every project gets a unique migration (a nonce in its file), so its template never
collides with another test's, and the templates it built are dropped afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import re
import textwrap
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pytest
from alembic import command
from alembic.config import Config

from pgsandbox._server import ServerInfo, parse_server_url
from pgsandbox._template import SchemaSource

if TYPE_CHECKING:
    from pathlib import Path

    from pgsandbox._admin import AdminConnection

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
asyncio_default_test_loop_scope = function
pgsandbox_alembic_ini = alembic.ini
"""

MIGRATION = '''
"""create items"""
import os

import sqlalchemy as sa
from alembic import op

revision = "0001_items"
down_revision = None
branch_labels = None
depends_on = None
# nonce: {nonce}


def upgrade():
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
    )
    counter = os.environ.get("PGSANDBOX_TEST_COUNTER")
    if counter:
        with open(counter, "a") as handle:
            who = os.environ.get("PYTEST_XDIST_WORKER", "controller")
            handle.write(f"{{os.getpid()}} {{who}}\\n")


def downgrade():
    op.drop_table("items")
'''


@dataclass
class Project:
    """A throw-away project with alembic migrations, in a pytester folder."""

    pytester: pytest.Pytester
    counter: Path

    @property
    def root(self) -> Path:
        return self.pytester.path

    def migrations_run(self) -> list[str]:
        """Lines the migration wrote: one per time it ran, with the process that ran it."""
        if not self.counter.exists():
            return []
        return self.counter.read_text().splitlines()

    def add_migration(self, name: str, body: str) -> None:
        (self.root / "migrations" / "versions" / name).write_text(textwrap.dedent(body))

    def run(self, *args: str, timeout: float = 180) -> pytest.RunResult:
        """Run pytest on the project in a subprocess, as a user would."""
        return self.pytester.runpytest_subprocess("-p", "no:randomly", *args, timeout=timeout)

    def schema_source(self) -> SchemaSource:
        return SchemaSource(rootdir=self.root, alembic_ini=(self.root / "alembic.ini").resolve())


def make_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *, template: str = "generic"
) -> Project:
    """Lay out alembic's standard template (``generic`` or ``async``) plus one migration."""
    pytester.makeini(INI)
    ini = pytester.path / "alembic.ini"
    config = Config(str(ini))
    command.init(config, str(pytester.path / "migrations"), template=template)
    driver = "postgresql+asyncpg" if template == "async" else "postgresql+psycopg"
    text = ini.read_text().replace(
        "sqlalchemy.url = driver://user:pass@localhost/dbname",
        f"sqlalchemy.url = {driver}://nobody@localhost/placeholder",
    )
    ini.write_text(text)
    (pytester.path / "migrations" / "versions" / "0001_items.py").write_text(
        MIGRATION.format(nonce=uuid.uuid4().hex)
    )
    counter = pytester.path / "migrations-ran.txt"
    monkeypatch.setenv("PGSANDBOX_TEST_COUNTER", str(counter))
    # The inner runs are fresh pytest sessions, not workers of this one.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    return Project(pytester, counter)


def add_ini(project: Project, *lines: str) -> None:
    """Add ``key = value`` lines to the project's pytest ini."""
    ini = project.root / "tox.ini"
    ini.write_text(ini.read_text().rstrip("\n") + "\n" + "\n".join(lines) + "\n")


def require_installed(name: str, reason: str, *, module_level: bool = False) -> None:
    """Skip unless ``name`` is installed, without importing it into this process.

    ``pytest.importorskip`` would import it, and these tests share their process with
    other suites (``nox -s integration`` runs glossator's too): an imported ``sqlmodel``
    makes pgsandbox hand every later test SQLModel's sessions.
    """
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed: {reason}", allow_module_level=module_level)


def server_url() -> ServerInfo:
    """The server the inner runs use: PGSANDBOX_URL, else the ephemeral cluster."""
    from pgsandbox._server import resolve_server

    return resolve_server(None, os.environ.get("PGSANDBOX_URL"))


def drop_templates(admin: AdminConnection, project: Project) -> None:
    """Drop every template the project's runs built (tests must not leave any behind).

    Runs with a ``pgsandbox_alembic_config`` (added to the ini by the test) are another
    project key: those of the factories the ini names are dropped too.
    """
    source = project.schema_source()
    ini = project.root / "tox.ini"
    text = ini.read_text() if ini.exists() else ""
    factories = re.findall(r"^pgsandbox_alembic_config\s*=\s*(\S+)", text, re.M)
    keys = {source.project_key()} | {
        replace(source, alembic_config=factory).project_key() for factory in factories
    }
    for db in admin.owned_databases():
        if db.kind == "template" and db.meta.get("project") in keys:
            admin.drop(db.name)


def run_id_of(result: pytest.RunResult) -> str:
    """The run id pgsandbox printed in its header."""
    for line in result.outlines:
        if line.startswith("pgsandbox: run "):
            return line.split()[2].rstrip(",")
    raise AssertionError("no 'pgsandbox: run' line in:\n" + result.stdout.str())


__all__ = [
    "PYTEST_WITH_CTRL_C",
    "Project",
    "add_ini",
    "drop_templates",
    "make_project",
    "parse_server_url",
    "require_installed",
    "run_id_of",
    "server_url",
]


#: ``python -m pytest`` with Ctrl-C raising KeyboardInterrupt, even when this process was
#: started with SIGINT ignored (see conftest's ``ctrl_c_raises``); arguments follow.
PYTEST_WITH_CTRL_C = (
    "import signal, sys, pytest\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "sys.exit(pytest.main(sys.argv[1:]))"
)
