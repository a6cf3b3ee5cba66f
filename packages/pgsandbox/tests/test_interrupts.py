"""Interruptions: Ctrl-C while workers start, and what a dead run leaves for the next one."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from sandbox_projects import PYTEST_WITH_CTRL_C

if TYPE_CHECKING:
    from pathlib import Path

    from pgsandbox._admin import AdminConnection
    from sandbox_projects import Project

#: The inner project's conftest: the controller stops in xdist's node set-up, after
#: pgsandbox cloned the first worker's database, until the gate file appears.
SLOW_START = """
import os
import pathlib
import time

import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure_node(node):
    pathlib.Path(os.environ["SLOW_START_READY"]).write_text(node.gateway.id)
    gate = pathlib.Path(os.environ["SLOW_START_GATE"])
    deadline = time.monotonic() + 120
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""

DEADLINE_S = 120.0


def _run_databases(admin: AdminConnection, run_id: str) -> list[str]:
    rows = admin.conn.execute(
        "SELECT datname FROM pg_database WHERE starts_with(datname, %s) OR datname = %s ORDER BY 1",
        (f"pgsb_{run_id}_", f"pgsb_build_{run_id}"),
    ).fetchall()
    return [row[0] for row in rows]


def _wait_for(condition: object, what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]  # a zero-argument callable
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"pytest ended before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class TestInterruptDuringWorkerStartup:
    def test_ctrl_c_while_workers_start_drops_every_database_of_the_run(
        self, project: Project, admin: AdminConnection, tmp_path: Path
    ) -> None:
        """SIGINT in xdist's node set-up (no pytest_sessionfinish) still drops the run's databases.

        The controller is stopped inside ``pytest_configure_node`` after pgsandbox cloned
        the first worker's database; the interrupt lands there, so pytest only calls
        ``pytest_unconfigure``. pgsandbox drops the shared and worker databases there and
        says so on stderr.
        """
        project.pytester.makeconftest(SLOW_START)
        project.pytester.makepyfile(test_one="def test_one(pgsandbox_sync_session):\n    pass\n")
        run_id = f"int{secrets.token_hex(4)}"
        ready, gate = tmp_path / "ready", tmp_path / "gate"
        env = {
            **os.environ,
            "PGSANDBOX_RUN_ID": run_id,
            "SLOW_START_READY": str(ready),
            "SLOW_START_GATE": str(gate),
        }
        proc = subprocess.Popen(
            [sys.executable, "-c", PYTEST_WITH_CTRL_C, "-p", "no:randomly", "-n", "2"],
            cwd=project.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # SIGINT reaches the controller only, as os.kill sends it
        )
        try:
            _wait_for(ready.exists, "the controller to reach worker start-up", proc)
            created = _run_databases(admin, run_id)
            assert f"pgsb_{run_id}_shared" in created
            assert f"pgsb_{run_id}_gw0" in created
            os.kill(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=DEADLINE_S)
        finally:
            gate.write_text("go")
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        assert proc.returncode == pytest.ExitCode.INTERRUPTED, out + err
        assert "INTERNALERROR" not in out + err
        assert _run_databases(admin, run_id) == []
        assert f"pgsandbox: dropped the run's {len(created)} database(s)" in err, err
        for name in created:
            assert name in err


class TestLeftoversOfDeadRuns:
    def test_the_next_run_lists_them_with_their_age_and_the_command(
        self, project: Project, admin: AdminConnection
    ) -> None:
        """Databases of a run whose lock is free are named at the start of every run.

        They stay (a user may be inspecting them) until ``--pgsandbox-reap`` or
        ``python -m pgsandbox reap`` drops them.
        """
        dead = f"dead{secrets.token_hex(4)}"
        created = round(time.time()) - 600
        names = [f"pgsb_{dead}_gw0", f"pgsb_build_{dead}"]
        try:
            for name, kind in zip(names, ("worker", "build"), strict=True):
                admin.create(name, meta={"kind": kind, "run": dead, "created": created})
            project.pytester.makepyfile(
                test_one="def test_one(pgsandbox_sync_session):\n    pass\n"
            )
            result = project.run("-n", "1")
            result.assert_outcomes(passed=1)
            header = [
                line for line in result.outlines if "leftover database(s) of dead runs" in line
            ]
            assert len(header) == 1, result.stdout.str()
            line = header[0]
            assert line.startswith("pgsandbox: found ")
            for name in names:
                assert f"{name} (10 min old)" in line or f"{name} (11 min old)" in line, line
            assert line.endswith("Drop them with --pgsandbox-reap or `python -m pgsandbox reap`.")
            assert all(admin.exists(name) for name in names)
        finally:
            for name in names:
                admin.drop(name)
