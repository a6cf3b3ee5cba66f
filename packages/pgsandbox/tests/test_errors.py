"""Bad input: each case stops the run quickly with a message that names the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sandbox_projects import Project

# A hang guard, not a speed target: each error must arrive long before this.
HANG_GUARD_S = 60

SIMPLE_TEST = """
def test_db(pgsandbox_sync_session):
    assert pgsandbox_sync_session is not None
"""


class TestServerErrors:
    def test_unreachable_url(self, project: Project) -> None:
        """Nothing listens on the port: the message says so and how to fix it."""
        project.pytester.makepyfile(test_a=SIMPLE_TEST)
        result = project.run(
            "--pgsandbox-url",
            "postgresql://postgres@127.0.0.1:1/postgres",
            timeout=HANG_GUARD_S,
        )
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        output = result.stdout.str() + result.stderr.str()
        assert "cannot reach PostgreSQL at postgresql://postgres@127.0.0.1:1/postgres" in output
        assert "--pgsandbox-url" in output
        assert "Traceback" not in output

    def test_bad_credentials(self, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
        """A user the server does not know: the message names the variable to fix."""
        from sandbox_projects import server_url

        bad = server_url().url.set(username="no_such_user_pgsandbox")
        monkeypatch.setenv("PGSANDBOX_URL", bad.render_as_string(hide_password=False))
        project.pytester.makepyfile(test_a=SIMPLE_TEST)
        result = project.run(timeout=HANG_GUARD_S)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        output = result.stdout.str() + result.stderr.str()
        assert "no such user" in output or "refused the credentials" in output
        assert "PGSANDBOX_URL" in output
        assert "Traceback" not in output

    def test_not_a_url(self, project: Project) -> None:
        """A malformed URL is a usage error with the expected form."""
        project.pytester.makepyfile(test_a=SIMPLE_TEST)
        result = project.run("--pgsandbox-url", "not a url", timeout=HANG_GUARD_S)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        (result.stdout.str() + result.stderr.str()).index("postgresql://user:password@host")


class TestSchemaErrors:
    def test_missing_alembic_ini(self, project: Project) -> None:
        """A pgsandbox_alembic_ini that does not exist is named, with where it looked."""
        project.pytester.makeini(
            "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
            "pgsandbox_alembic_ini = nowhere/alembic.ini\n"
        )
        project.pytester.makepyfile(test_a=SIMPLE_TEST)
        result = project.run(timeout=HANG_GUARD_S)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*pgsandbox_alembic_ini = 'nowhere/alembic.ini' does not*"])

    def test_broken_migration_stops_the_run_naming_the_revision(self, project: Project) -> None:
        """alembic's error and the failing revision are shown; no test runs."""
        project.add_migration(
            "0002_broken.py",
            """
            from alembic import op

            revision = "0002_broken"
            down_revision = "0001_items"

            def upgrade():
                op.execute("CREATE TABLE broken (id int REFERENCES no_such_table (id))")

            def downgrade():
                pass
            """,
        )
        project.pytester.makepyfile(test_a=SIMPLE_TEST)
        result = project.run("-n", "2", timeout=HANG_GUARD_S)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert "alembic upgrade head failed in revision 0002_broken (0002_broken.py:" in output
        assert 'relation "no_such_table" does not exist' in output
        assert "passed" not in output


class TestIsolationErrors:
    def test_bad_isolation_in_ini(self, project: Project) -> None:
        """An unknown default isolation is a usage error listing the choices."""
        project.pytester.makepyfile(test_a=SIMPLE_TEST)
        result = project.run("--pgsandbox-isolation", "serializable", timeout=HANG_GUARD_S)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            ["*isolation 'serializable'; choose one of 'transaction', 'database', 'shared'*"]
        )

    def test_bad_isolation_in_marker(self, project: Project) -> None:
        """A marker with an unknown isolation fails that test, naming the test and choices."""
        project.pytester.makepyfile(
            test_marker="""
            import pytest

            @pytest.mark.pgsandbox(isolation="nested")
            def test_bad(pgsandbox_sync_session):
                pass

            def test_good(pgsandbox_sync_session):
                assert pgsandbox_sync_session is not None
            """
        )
        result = project.run(timeout=HANG_GUARD_S)
        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines(
            ["*@pytest.mark.pgsandbox on test_marker.py::test_bad has isolation 'nested'*"]
        )
