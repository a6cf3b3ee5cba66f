"""Helpers for pgsandbox's own tests: throw-away projects run through ``pytester``.

Every project gets a unique migration (a nonce in its file), so its template never
collides with another test's, and the templates it built are dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from alembic import command
from alembic.config import Config

from pgsandbox._admin import AdminConnection, connect
from pgsandbox._cluster import Cluster, find_bindir
from pgsandbox._server import ServerInfo, parse_server_url
from pgsandbox._template import SchemaSource

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest_plugins = ["pytester"]

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


def server_url() -> ServerInfo:
    """The server the inner runs use: TEST_DATABASE_URL, else the ephemeral cluster."""
    from pgsandbox._server import resolve_server

    return resolve_server(None, os.environ.get("TEST_DATABASE_URL"))


@pytest.fixture
def admin() -> Iterator[AdminConnection]:
    """A maintenance connection to the server the inner runs use, for assertions."""
    server = server_url()
    conn = AdminConnection(connect(server.url, source=server.source))
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, admin: AdminConnection
) -> Iterator[Project]:
    """A project on alembic's generic template; its templates are dropped afterwards."""
    made = make_project(pytester, monkeypatch)
    yield made
    drop_templates(admin, made)


def drop_templates(admin: AdminConnection, project: Project) -> None:
    """Drop every template the project's runs built (tests must not leave any behind)."""
    key = project.schema_source().project_key()
    for db in admin.owned_databases():
        if db.kind == "template" and db.meta.get("project") == key:
            admin.drop(db.name)


def run_id_of(result: pytest.RunResult) -> str:
    """The run id pgsandbox printed in its header."""
    for line in result.outlines:
        if line.startswith("pgsandbox: run "):
            return line.split()[2].rstrip(",")
    raise AssertionError("no 'pgsandbox: run' line in:\n" + result.stdout.str())


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[Cluster]:
    """A cluster only this module uses, in a folder of its own, removed afterwards.

    For tests of server-wide operations (reap, stop): on the server the other tests share,
    a reap would drop the databases a concurrent ``--pgsandbox-keep`` test is checking.
    """
    shm = Path("/dev/shm")  # noqa: S108  # where pgsandbox itself puts clusters, a folder per test
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    cluster = Cluster(find_bindir(), Path(tempfile.mkdtemp(prefix="pgsandbox-test-cli-", dir=base)))
    try:
        cluster.ensure_running()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture
def cluster_url(private_cluster: Cluster) -> str:
    """The private cluster's URL (a test that stops it starts it again, maybe on a new port)."""
    return private_cluster.ensure_running().url.render_as_string(hide_password=False)


__all__ = ["Project", "drop_templates", "make_project", "parse_server_url", "run_id_of"]
