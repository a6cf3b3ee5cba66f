"""Installed is not enabled: a project that never configured pgsandbox never meets it."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import psycopg
import pytest

from pgsandbox._server import parse_server_url

if TYPE_CHECKING:
    from pgsandbox._cluster import Cluster

# A project's own pytest configuration: pytest-asyncio's keys, nothing of pgsandbox's.
PLAIN_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

# The project's own tests: one uses "its" test database (TEST_DATABASE_URL) and looks for
# anything pgsandbox would have opened while the run is under way.
PROJECT_TESTS = """
import os

import psycopg


def test_arithmetic():
    assert 1 + 1 == 2


def test_own_database_sees_no_pgsandbox_session():
    with psycopg.connect(os.environ["TEST_DATABASE_URL"], autocommit=True) as conn:
        tagged = conn.execute(
            "SELECT application_name FROM pg_stat_activity "
            "WHERE application_name ILIKE '%pgsandbox%' OR application_name ILIKE 'pgsb%'"
        ).fetchall()
    assert tagged == []
"""


def _databases(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def _pgsandbox_lines(output: str) -> list[str]:
    """Lines that mention pgsandbox, but for pytest's own list of installed plugins."""
    return [
        line
        for line in output.splitlines()
        if "pgsandbox" in line.lower() and not line.startswith("plugins:")
    ]


@pytest.fixture
def plain_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with pgsandbox installed but not configured (its own tests only)."""
    pytester.makeini(PLAIN_INI)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    return pytester


class TestInertUntilConfigured:
    """Without pgsandbox_alembic_ini, pgsandbox_schema or pgsandbox_enable it does nothing."""

    @pytest.mark.parametrize("workers", ["0", "2"])
    def test_unconfigured_project_touches_nothing(
        self,
        plain_project: pytest.Pytester,
        private_cluster: Cluster,
        cluster_url: str,
        monkeypatch: pytest.MonkeyPatch,
        workers: str,
    ) -> None:
        """Both variables set, no configuration: no database, no session, no output line.

        On a private cluster, so that no other run's sessions are in sight.
        """
        monkeypatch.setenv("TEST_DATABASE_URL", cluster_url)
        monkeypatch.setenv("PGSANDBOX_URL", cluster_url)
        plain_project.makepyfile(test_project=PROJECT_TESTS)
        before = _databases(cluster_url)
        result = plain_project.runpytest_subprocess("-p", "no:randomly", "-n", workers)
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.OK, output
        result.assert_outcomes(passed=2)
        assert _databases(cluster_url) == before
        assert _pgsandbox_lines(output) == []

    def test_fixture_request_names_the_ini_key(self, plain_project: pytest.Pytester) -> None:
        """A test that asks for a pgsandbox fixture is told which ini key turns it on."""
        plain_project.makepyfile(
            test_db="def test_db(pgsandbox_sync_session):\n    assert pgsandbox_sync_session\n"
        )
        result = plain_project.runpytest_subprocess("-p", "no:randomly")
        result.assert_outcomes(errors=1)
        output = result.stdout.str()
        assert "pgsandbox is installed but not configured in this project" in output
        assert 'pgsandbox_alembic_ini = "alembic.ini"' in output
        assert "Traceback" not in output

    def test_pgsandbox_flag_without_configuration_is_a_usage_error(
        self, plain_project: pytest.Pytester
    ) -> None:
        """A pgsandbox flag in an unconfigured project stops the run and names the ini key."""
        plain_project.makepyfile(test_a="def test_a():\n    assert 1 < 2\n")
        result = plain_project.runpytest_subprocess("-p", "no:randomly", "--pgsandbox-verify")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        output = result.stderr.str()
        assert "--pgsandbox-verify given, but this project does not configure pgsandbox" in output
        assert "pgsandbox_alembic_ini" in output

    def test_disabled_by_ini_even_when_configured(self, plain_project: pytest.Pytester) -> None:
        """pgsandbox_enable = false turns a configured project's pgsandbox off."""
        plain_project.makeini(
            PLAIN_INI + "pgsandbox_schema = nowhere:build\npgsandbox_enable = false\n"
        )
        plain_project.makepyfile(test_a="def test_a():\n    assert 2 > 1\n")
        result = plain_project.runpytest_subprocess("-p", "no:randomly")
        result.assert_outcomes(passed=1)
        assert _pgsandbox_lines(result.stdout.str() + result.stderr.str()) == []

    def test_enable_true_gives_an_empty_schema(self, plain_project: pytest.Pytester) -> None:
        """pgsandbox_enable = true without a schema key: databases with no tables of yours."""
        plain_project.makeini(PLAIN_INI + "pgsandbox_enable = true\n")
        plain_project.makepyfile(
            test_db=textwrap.dedent(
                """
                from sqlalchemy import text

                def test_empty(pgsandbox_sync_session):
                    count = pgsandbox_sync_session.execute(text(
                        "SELECT count(*) FROM information_schema.tables "
                        "WHERE table_schema = 'public'"
                    )).scalar_one()
                    assert count == 0
                """
            )
        )
        result = plain_project.runpytest_subprocess("-p", "no:randomly", "-v", "-v")
        result.assert_outcomes(passed=1)
        assert "pgsandbox: run " in result.stdout.str()

    def test_bad_enable_value_is_a_usage_error(self, plain_project: pytest.Pytester) -> None:
        """pgsandbox_enable takes auto, true or false; anything else names them."""
        plain_project.makeini(PLAIN_INI + "pgsandbox_enable = sometimes\n")
        plain_project.makepyfile(test_a="def test_a():\n    assert 2 > 1\n")
        result = plain_project.runpytest_subprocess("-p", "no:randomly")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert "use auto, true or false" in result.stderr.str()


def test_parse_server_url_keeps_the_maintenance_database() -> None:
    """A URL without a database names the maintenance database ``postgres``."""
    url = parse_server_url("postgresql+asyncpg://u@h:1", "PGSANDBOX_URL")
    assert (url.drivername, url.database) == ("postgresql", "postgres")
