"""The template: built once per run in the controller, reused until the migrations change."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from sandbox_projects import drop_templates, make_project

if TYPE_CHECKING:
    from pgsandbox._admin import AdminConnection
    from sandbox_projects import Project

TESTS = """
from sqlalchemy import text

async def test_{n}(pgsandbox_session):
    assert (await pgsandbox_session.execute(text("SELECT count(*) FROM items"))).scalar() == 0
"""


def _write_tests(project: Project, count: int) -> None:
    project.pytester.makepyfile(**{f"test_many_{n}": TESTS.format(n=n) for n in range(count)})


class TestMigrationsRunOnce:
    @pytest.mark.parametrize("workers", ["0", "2", "4"])
    def test_once_per_run_and_never_in_a_worker(self, project: Project, workers: str) -> None:
        """Whatever the worker count, the migration runs once, in the controller."""
        _write_tests(project, 8)
        result = project.run("-n", workers)
        result.assert_outcomes(passed=8)
        ran = project.migrations_run()
        assert len(ran) == 1, ran
        assert ran[0].endswith(" controller"), f"a worker ran a migration: {ran}"

    def test_unchanged_migrations_build_nothing_and_an_edit_rebuilds(
        self, project: Project
    ) -> None:
        """A second run reuses the template; editing a migration file builds a new one."""
        _write_tests(project, 2)
        first = project.run("-n", "2")
        first.assert_outcomes(passed=2)
        first.stdout.fnmatch_lines(["pgsandbox: template pgsb_tpl_* built in *"])
        second = project.run("-n", "2")
        second.assert_outcomes(passed=2)
        second.stdout.fnmatch_lines(["pgsandbox: template pgsb_tpl_* reused in *"])
        assert len(project.migrations_run()) == 1

        migration = project.root / "migrations" / "versions" / "0001_items.py"
        migration.write_text(migration.read_text() + "\n# edited\n")
        third = project.run("-n", "2")
        third.assert_outcomes(passed=2)
        third.stdout.fnmatch_lines(["pgsandbox: template pgsb_tpl_* built in *"])
        assert len(project.migrations_run()) == 2

    def test_old_template_is_reaped_after_a_rebuild(
        self, project: Project, admin: AdminConnection
    ) -> None:
        """Once a new template exists, the project's previous one is dropped."""
        _write_tests(project, 1)
        project.run().assert_outcomes(passed=1)
        key = project.schema_source().project_key()
        before = {d.name for d in admin.owned_databases() if d.meta.get("project") == key}
        migration = project.root / "migrations" / "versions" / "0001_items.py"
        migration.write_text(migration.read_text() + "\n# edited\n")
        project.run().assert_outcomes(passed=1)
        after = {d.name for d in admin.owned_databases() if d.meta.get("project") == key}
        assert len(before) == 1
        assert len(after) == 1
        assert before != after


class TestAlembicTemplates:
    def test_async_env_py_template_works_unchanged(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, admin: AdminConnection
    ) -> None:
        """alembic's own ``async`` env.py runs in-process, keeping the asyncpg driver."""
        project = make_project(pytester, monkeypatch, template="async")
        try:
            _write_tests(project, 3)
            project.run("-n", "2").assert_outcomes(passed=3)
            assert len(project.migrations_run()) == 1
        finally:
            drop_templates(admin, project)

    def test_schema_callable_and_seed(
        self, pytester: pytest.Pytester, admin: AdminConnection
    ) -> None:
        """``pgsandbox_schema`` and ``pgsandbox_seed`` build the template without alembic."""
        pytester.makeini(
            "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
            "pgsandbox_schema = appschema:build\npgsandbox_seed = appschema:seed\n"
        )
        pytester.makepyfile(
            appschema=f"""
            import psycopg
            from sqlalchemy import create_engine, text
            NONCE = "{pytester.path.name}"

            def build(url):
                engine = create_engine(url)
                with engine.begin() as conn:
                    conn.execute(text("CREATE TABLE colours (name text PRIMARY KEY)"))
                engine.dispose()

            def seed(url):
                engine = create_engine(url)
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO colours VALUES ('red'), ('green')"))
                engine.dispose()
            """,
            test_seeded="""
            from sqlalchemy import text

            def test_seed_is_in_every_clone(pgsandbox_sync_session):
                rows = pgsandbox_sync_session.execute(text("SELECT name FROM colours"))
                assert sorted(r[0] for r in rows) == ["green", "red"]
            """,
        )
        try:
            result = pytester.runpytest_subprocess("-p", "no:randomly", timeout=120)
            result.assert_outcomes(passed=1)
        finally:
            from pgsandbox._template import SchemaSource

            key = SchemaSource(rootdir=pytester.path, schema_callable="appschema:build")
            for db in admin.owned_databases():
                if db.meta.get("project") == key.project_key():
                    admin.drop(db.name)
