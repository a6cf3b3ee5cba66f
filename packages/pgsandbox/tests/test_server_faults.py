"""Server faults mid-run: a server that goes away, a server at its connection limit.

Each runs on this module's private cluster: the first test stops it, the second lowers
its ``max_connections`` (and restores it).
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import make_url

from pgsandbox import CANARY_MESSAGE
from pgsandbox.__main__ import main
from pgsandbox._admin import connect

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pgsandbox._cluster import Cluster
    from sandbox_projects import Project

STOPS_THE_SERVER = """
import os
from pathlib import Path

from sqlalchemy import text

from pgsandbox._cluster import Cluster, find_bindir


def test_before(pgsandbox_sync_session):
    assert pgsandbox_sync_session.execute(text("SELECT count(*) FROM items")).scalar() == 0


def test_the_server_stops():
    Cluster(find_bindir(), Path(os.environ["FAULT_CLUSTER_ROOT"])).stop()


def test_after(pgsandbox_sync_session):
    pgsandbox_sync_session.execute(text("SELECT count(*) FROM items"))
"""

HOGS_CONNECTIONS = """
import os
import time

import psycopg
import pytest

HOGS = []  # held until the process ends, through pgsandbox's own cleanup


def test_hog_every_connection():
    # Until the server has refused every attempt for a whole second: a slot pgsandbox's
    # clone pool (started at collection) frees meanwhile is taken too.
    refused_since = None
    while len(HOGS) < 200:
        try:
            HOGS.append(psycopg.connect(os.environ["HOG_URL"]))
            refused_since = None
        except psycopg.OperationalError as exc:
            assert "too many clients" in str(exc) or "slots are reserved" in str(exc)
            refused_since = refused_since or time.monotonic()
            if time.monotonic() - refused_since > 1.0:
                return
            time.sleep(0.05)
    raise AssertionError("the server never refused a connection")


@pytest.mark.pgsandbox(isolation="database")
def test_needs_a_fresh_clone(pgsandbox_sync_session):
    pass
"""


def _output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def _run_databases(url: str, run_id: str) -> list[str]:
    with connect(make_url(url), source="test") as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1",
            (f"pgsb_{run_id}_",),
        ).fetchall()
    return [row[0] for row in rows]


class TestServerGoesAway:
    def test_the_run_ends_with_a_summary_and_one_line_naming_the_cause(
        self,
        project: Project,
        private_cluster: Cluster,
        cluster_url: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """No INTERNALERROR, no canary alarm; the next run names the leftovers; reap drops them.

        A test stops the server mid-run: the test after it fails with pgsandbox's
        explanation, the hooks that drop databases find no server, and the run still
        ends with pytest's summary plus one line naming the cause and the fix.
        """
        run_id = f"lost{secrets.token_hex(4)}"
        monkeypatch.setenv("PGSANDBOX_URL", cluster_url)
        monkeypatch.setenv("PGSANDBOX_RUN_ID", run_id)
        monkeypatch.setenv("FAULT_CLUSTER_ROOT", str(private_cluster.root))
        project.pytester.makepyfile(test_lost=STOPS_THE_SERVER)
        result = project.run("-n", "1")
        output = _output(result)
        assert "INTERNALERROR" not in output
        assert CANARY_MESSAGE not in output
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed") == 2, output
        assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 1
        assert "pgsandbox explains" in output
        result.stdout.fnmatch_lines(
            [
                (
                    "pgsandbox: the PostgreSQL server at * went away during the run (*); "
                    "1 test(s) failed because of it. Fix: *"
                ),
                (
                    f"pgsandbox: could not drop * database(s) of run {run_id}: *python -m "
                    "pgsandbox reap*"
                ),
            ]
        )

        url = private_cluster.ensure_running().url.render_as_string(hide_password=False)
        left = _run_databases(url, run_id)
        assert f"pgsb_{run_id}_gw0" in left
        monkeypatch.setenv("PGSANDBOX_URL", url)
        monkeypatch.delenv("PGSANDBOX_RUN_ID")
        project.pytester.makepyfile(test_lost="def test_ok(pgsandbox_sync_session):\n    pass\n")
        after = project.run("-n", "1")
        after.assert_outcomes(passed=1)
        after.stdout.fnmatch_lines(
            [f"pgsandbox: found * leftover database(s) of dead runs: *pgsb_{run_id}_gw0*"]
        )
        assert main(["--url", url, "reap"]) == 0
        assert f"pgsb_{run_id}_gw0" in capsys.readouterr().out
        assert _run_databases(url, run_id) == []


class TestConnectionLimit:
    @pytest.fixture
    def small_server(self, private_cluster: Cluster, cluster_url: str) -> Iterator[str]:
        """The private cluster restarted with max_connections = 12; restored afterwards."""
        with connect(make_url(cluster_url), source="test") as conn:
            conn.execute("ALTER SYSTEM SET max_connections = 12")
        private_cluster.stop()
        url = private_cluster.ensure_running().url.render_as_string(hide_password=False)
        try:
            yield url
        finally:
            with connect(make_url(url), source="test") as conn:
                conn.execute("ALTER SYSTEM RESET max_connections")
            private_cluster.stop()
            private_cluster.ensure_running()

    def test_limit_errors_are_reported_as_such_with_the_numbers(
        self, project: Project, small_server: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """ "too many clients" is never "cannot reach"; no false canary alarm; nothing left.

        A test holds every free connection until the process ends; the next test needs a
        fresh clone, and the controller's end-of-run canary checks find no free slot.
        """
        run_id = f"full{secrets.token_hex(4)}"
        monkeypatch.setenv("PGSANDBOX_URL", small_server)
        monkeypatch.setenv("PGSANDBOX_RUN_ID", run_id)
        monkeypatch.setenv("HOG_URL", small_server)
        project.pytester.makepyfile(test_full=HOGS_CONNECTIONS)
        result = project.run()
        output = _output(result)
        assert "INTERNALERROR" not in output
        assert "cannot reach PostgreSQL" not in output
        assert CANARY_MESSAGE not in output
        result.assert_outcomes(passed=1, errors=1)
        assert "refused a connection: too many clients already (max_connections = 12" in output
        result.stdout.fnmatch_lines(
            [
                (
                    "pgsandbox: PostgreSQL at * refused a connection: too many clients already "
                    "(max_connections = 12, * in use; pgsandbox needs up to * per worker plus 2 "
                    "for the controller *; 1 test(s) failed because of it."
                ),
            ]
        )
        # The canaries are read if the worker's own connections freed slots in time (its
        # clone pool starts at collection, before the hog), else said to be unreadable:
        # never an alarm (asserted above), never silently skipped.
        canaries = [line for line in output.splitlines() if line.startswith("pgsandbox: canaries")]
        assert len(canaries) == 1, output
        assert re.fullmatch(
            r"pgsandbox: canaries( 2/2 survived| \d/\d survived, \d could not be read \(server "
            r"gone or full\)|, 2 could not be read \(server gone or full\)); dropped the run's "
            r"\d database\(s\)",
            canaries[0],
        ), canaries[0]
        assert _run_databases(small_server, run_id) == []
