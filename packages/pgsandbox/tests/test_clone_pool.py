"""The warm pool of clones behind ``database`` isolation: ready ahead, dropped behind."""

from __future__ import annotations

import itertools
import uuid
from typing import TYPE_CHECKING

import pytest

from pgsandbox._admin import AdminConnection, connect
from pgsandbox._clone_pool import ClonePool
from sandbox_projects import add_ini, run_id_of, server_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sandbox_projects import Project

DATABASE_TESTS = """
import pytest
from sqlalchemy import text

pytestmark = pytest.mark.pgsandbox(isolation="database")


async def test_{n}(pgsandbox_sessionmaker, pgsandbox_url):
    async with pgsandbox_sessionmaker() as session:
        assert (await session.execute(text("SELECT count(*) FROM items"))).scalar() == 0
        await session.execute(text("INSERT INTO items (name) VALUES ('x')"))
        await session.commit()
    async with pgsandbox_sessionmaker() as session:
        assert (await session.execute(text("SELECT count(*) FROM items"))).scalar() == 1
    with open("seen.txt", "a") as handle:
        handle.write(pgsandbox_url.rsplit("/", 1)[1] + "\\n")
"""

TRANSACTION_TEST_SEES_NO_CLONES = """
import psycopg
from sqlalchemy.engine import make_url


def test_no_per_test_clones(pgsandbox_url):
    url = make_url(pgsandbox_url)
    run_prefix = url.database.rsplit("_", 1)[0]  # pgsb_<run>
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True
    ) as conn:
        clones = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (run_prefix + "_%_t%",)
        ).fetchall()
    assert clones == []
"""


def _run_databases(admin: AdminConnection, run_id: str) -> list[str]:
    return sorted(d.name for d in admin.owned_databases() if d.run_id == run_id)


class TestDatabaseIsolationPool:
    @pytest.mark.parametrize("recycle", [True, False], ids=["recycled", "fresh"])
    def test_every_test_starts_empty_and_no_clone_is_left(
        self, project: Project, admin: AdminConnection, recycle: bool
    ) -> None:
        """At ``-n 2`` each ``database`` test starts from the template's state: on its
        worker's reset clone (one per worker), or with recycling off on a clone of its own;
        spares and used clones are all dropped."""
        add_ini(project, f"pgsandbox_recycle = {str(recycle).lower()}")
        project.pytester.makepyfile(**{f"test_db{n}": DATABASE_TESTS.format(n=n) for n in range(6)})
        result = project.run("-n", "2")
        result.assert_outcomes(passed=6)
        seen = (project.root / "seen.txt").read_text().split()
        assert len(seen) == 6
        if recycle:
            assert 1 <= len(set(seen)) <= 2
            result.stdout.fnmatch_lines(["pgsandbox: database isolation: 6 test(s), * on a reset*"])
        else:
            assert len(set(seen)) == 6
        assert _run_databases(admin, run_id_of(result)) == []

    def test_runs_without_database_tests_make_no_clones(self, project: Project) -> None:
        """The pool starts with the first ``database`` test, so other runs never clone."""
        project.pytester.makepyfile(test_tx=TRANSACTION_TEST_SEES_NO_CLONES)
        project.run("-n", "2").assert_outcomes(passed=1)


@pytest.fixture
def template(admin: AdminConnection) -> Iterator[str]:
    """A small database of pgsandbox's to clone (dropped afterwards)."""
    name = f"pgsb_pooltest_{uuid.uuid4().hex[:10]}"
    admin.create(name, meta={"kind": "test", "run": "pooltest"})
    yield name
    admin.drop(name)


class TestClonePool:
    def _pool(self, template: str, prefix: str, size: int = 2, drop_batch: int = 8) -> ClonePool:
        server = server_url()
        serial = itertools.count(1)
        return ClonePool(
            open_admin=lambda: AdminConnection(connect(server.url, source=server.source)),
            server_url=server.url,
            template=template,
            next_name=lambda: f"{prefix}_{next(serial)}",
            meta={"kind": "test", "run": "pooltest"},
            size=size,
            drop_batch=drop_batch,
        )

    def test_take_returns_ready_clones_and_close_drops_spares_and_released(
        self, admin: AdminConnection, template: str
    ) -> None:
        """Taken clones exist and are pgsandbox's; after close only unreleased ones remain."""
        prefix = f"{template}_c"
        pool = self._pool(template, prefix)
        first, second = pool.take(), pool.take()
        assert first != second
        assert admin.comment_of(first) == {"kind": "test", "run": "pooltest"}
        assert len(pool.waits) == 2
        pool.release(first)
        pool.close()
        left = sorted(d.name for d in admin.owned_databases() if d.name.startswith(prefix))
        try:
            assert left == [second]
        finally:
            admin.drop(second)

    def test_without_spares_take_waits_for_a_clone_and_leaves_none(
        self, admin: AdminConnection, template: str
    ) -> None:
        """``size=0`` (servers with fsync on) makes each clone on demand; none is left over."""
        prefix = f"{template}_z"
        pool = self._pool(template, prefix, size=0)
        taken = pool.take()
        assert admin.exists(taken)
        pool.release(taken)
        pool.close()
        assert [d.name for d in admin.owned_databases() if d.name.startswith(prefix)] == []

    def test_a_failed_clone_is_raised_by_take(self, admin: AdminConnection) -> None:
        """A clone that cannot be made fails the test that wanted it, with the cause."""
        pool = self._pool("pgsb_no_such_template", "pgsb_pooltest_missing", size=1)
        try:
            with pytest.raises(Exception, match="does not exist"):
                pool.take()
        finally:
            pool.close()

    def test_used_clones_are_dropped_a_full_batch_at_a_time(
        self, admin: AdminConnection, template: str
    ) -> None:
        """Released clones wait for a full batch (they share checkpoints), then all go."""
        prefix = f"{template}_b"
        pool = self._pool(template, prefix, size=0, drop_batch=3)
        try:
            first, second = pool.take(), pool.take()
            pool.release(first)
            pool.release(second)
            # The pool's thread handles its jobs in order: once this clone is made, both
            # releases above have been queued for dropping, but the batch is not full.
            third = pool.take()
            assert admin.exists(first)
            assert admin.exists(second)
            pool.release(third)
            # The third release fills the batch, and the thread drops a full batch (and
            # waits for it) before it makes the next clone: once this take returns, the
            # batch is gone, and close has not run yet.
            fourth = pool.take()
            assert not any(admin.exists(name) for name in (first, second, third))
            pool.release(fourth)
        finally:
            pool.close()
        assert [d.name for d in admin.owned_databases() if d.name.startswith(prefix)] == []

    def test_close_drops_a_batch_that_is_not_full(
        self, admin: AdminConnection, template: str
    ) -> None:
        """The last used clones of a run are dropped by close, batch full or not."""
        prefix = f"{template}_p"
        pool = self._pool(template, prefix, size=1, drop_batch=8)
        taken = [pool.take() for _ in range(3)]
        for name in taken:
            pool.release(name)
        pool.close()
        assert [d.name for d in admin.owned_databases() if d.name.startswith(prefix)] == []
