"""The canary: a database rebuilt or truncated mid-run fails the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgsandbox import CANARY_MESSAGE

if TYPE_CHECKING:
    from sandbox_projects import Project


class TestCanary:
    def test_truncating_the_canary_table_fails_the_run(self, project: Project) -> None:
        """A test that truncates on its own connection (as a "reset" hook would) is caught."""
        project.pytester.makepyfile(
            test_truncate="""
            import psycopg

            def test_truncates_behind_pgsandboxs_back(pgsandbox_url):
                url = pgsandbox_url.replace("postgresql+asyncpg", "postgresql")
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("TRUNCATE pgsandbox.canary")

            def test_innocent(pgsandbox_sync_session):
                pass
            """
        )
        result = project.run("-n", "2")
        result.assert_outcomes(passed=2)
        assert result.ret == 1
        result.stdout.fnmatch_lines([f"pgsandbox: {CANARY_MESSAGE}: pgsb_*canary row deleted*"])

    def test_untouched_canaries_survive(self, project: Project) -> None:
        """A clean run reports every canary alive and exits 0."""
        project.pytester.makepyfile(
            test_clean="""
            def test_clean(pgsandbox_sync_session):
                pass
            """
        )
        result = project.run("-n", "2")
        assert result.ret == 0
        result.stdout.fnmatch_lines(["pgsandbox: canaries 3/3 survived*"])
