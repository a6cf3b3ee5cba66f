"""Fixtures of pgsandbox's own tests: a maintenance connection, projects, private clusters.

``pytester`` comes from ``-p pytester`` in the ini (a ``pytest_plugins`` here would be
refused when these tests run from the repository root, where this is no top-level conftest).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pgsandbox._admin import AdminConnection, connect
from pgsandbox._cluster import Cluster, find_bindir
from sandbox_projects import Project, drop_templates, make_project, server_url

if TYPE_CHECKING:
    from collections.abc import Iterator


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


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Python's Ctrl-C handler (KeyboardInterrupt) in this process for the test.

    A process started with SIGINT ignored (a shell's background job, ``nox &``) keeps it
    ignored, and so would every Python it starts: a test that stands for a Ctrl-C at a
    terminal sets the terminal's behaviour up itself.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
