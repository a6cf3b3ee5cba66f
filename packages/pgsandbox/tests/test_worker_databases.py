"""Worker databases: one clone per worker, named per run, dropped at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from pgsandbox._admin import AdminConnection, connect
from sandbox_projects import run_id_of

if TYPE_CHECKING:
    from sandbox_projects import Project

LIST_DATABASES = """
from sqlalchemy import text

def test_{n}(pgsandbox_sync_session):
    assert pgsandbox_sync_session.execute(text("SELECT 1")).scalar() == 1
"""


def _run_databases(admin: AdminConnection, run_id: str) -> list[str]:
    return sorted(d.name for d in admin.owned_databases() if d.run_id == run_id)


class TestWorkerDatabases:
    def test_four_workers_get_four_databases_dropped_at_the_end(
        self, project: Project, admin: AdminConnection
    ) -> None:
        """``-n 4`` clones gw0..gw3 (plus the shared one) and drops every one of them."""
        project.pytester.makepyfile(**{f"test_w{n}": LIST_DATABASES.format(n=n) for n in range(8)})
        result = project.run("-n", "4")
        result.assert_outcomes(passed=8)
        run_id = run_id_of(result)
        result.stdout.fnmatch_lines(["pgsandbox: canaries 5/5 survived; dropped the run's 5 *"])
        assert _run_databases(admin, run_id) == []

    def test_keep_leaves_them_in_place(self, project: Project, admin: AdminConnection) -> None:
        """``--pgsandbox-keep`` leaves the worker and shared databases for inspection."""
        project.pytester.makepyfile(**{f"test_w{n}": LIST_DATABASES.format(n=n) for n in range(4)})
        result = project.run("-n", "4", "--pgsandbox-keep")
        result.assert_outcomes(passed=4)
        run_id = run_id_of(result)
        kept = _run_databases(admin, run_id)
        try:
            assert kept == sorted(
                [f"pgsb_{run_id}_gw{n}" for n in range(4)] + [f"pgsb_{run_id}_shared"]
            )
        finally:
            for name in kept:
                admin.drop(name)

    def test_reap_drops_leftovers_of_dead_runs_only(
        self, project: Project, cluster_url: str
    ) -> None:
        """``--pgsandbox-reap`` drops databases whose run is over, and nothing else.

        On a private cluster: a reap on the shared server would also drop what a
        concurrent ``--pgsandbox-keep`` test (another xdist worker) is about to check.
        """
        project.pytester.makepyfile(test_one=LIST_DATABASES.format(n=0))
        on_private = f"--pgsandbox-url={cluster_url}"
        kept_run = run_id_of(project.run("--pgsandbox-keep", on_private))
        private = AdminConnection(connect(make_url(cluster_url), source="the private cluster"))
        try:
            assert _run_databases(private, kept_run)
            result = project.run("--pgsandbox-reap", on_private)
            result.assert_outcomes(passed=1)
            result.stdout.fnmatch_lines([f"pgsandbox: reaped * database(s)*pgsb_{kept_run}_*"])
            assert _run_databases(private, kept_run) == []
        finally:
            private.close()

    def test_two_concurrent_runs_on_one_server_both_pass(self, project: Project) -> None:
        """Runs started at the same time (worktrees, CI jobs) never collide."""
        project.pytester.makepyfile(**{f"test_w{n}": LIST_DATABASES.format(n=n) for n in range(6)})
        command = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-n", "2", "-q"]
        runs = [
            subprocess.Popen(
                command,
                cwd=project.root,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=os.environ.copy(),
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=180)[0] for run in runs]
        for run, output in zip(runs, outputs, strict=True):
            assert run.returncode == 0, output
            assert "6 passed" in output
        assert len(project.migrations_run()) == 1, "the second run should reuse the template"
