"""The stress harness: its connection bound, its table, and how it fails.

``tests/plugin/test_cli.py`` runs ``python -m pgsandbox stress`` end to end on a passing
suite; here are the pieces, and a run that must fail.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pgsandbox import _flake, _stress
from pgsandbox._sandbox import MAX_OVERFLOW, POOL_SIZE, RECYCLED_POOL_SIZE
from pgsandbox._stress import (
    CONTROLLER_BOUND,
    PER_WORKER_BOUND,
    StressResult,
    _summary_line,
    _table,
    connection_bound,
    failing_tests,
    run_pytest,
    run_stress,
)

if TYPE_CHECKING:
    from sandbox_projects import Project


#: The words of the stress table's header line.
TABLE_HEADER = ["workers", "wall", "s", "speed-up", "peak", "conns", "bound", "failures"]


class TestConnectionBound:
    def test_is_the_documented_formula(self) -> None:
        """``2 + workers x 25``, as docs/pgsandbox.md derives it from the pool sizes.

        Per worker: the busiest async engine at pool + overflow, the other database's idle
        pool, the recycled clone's idle pool, two idle sync connections and five
        maintenance connections (the worker's, the clone pool's thread and dropper, the
        recycled clone's reset connection, and a fresh clone's warm-up).
        """
        assert CONTROLLER_BOUND == 2
        idle = POOL_SIZE + RECYCLED_POOL_SIZE
        assert PER_WORKER_BOUND == (POOL_SIZE + MAX_OVERFLOW) + idle + 2 + 5 == 25
        for workers in (1, 2, 4, 8):
            assert connection_bound(workers) == 2 + workers * PER_WORKER_BOUND

    def test_no_workers_still_counts_one_process(self) -> None:
        """``-n 0`` runs the tests in the controller, which still needs a worker's share."""
        assert connection_bound(0) == connection_bound(1)


class TestFailingTests:
    def test_names_each_failed_and_errored_test_with_its_first_error_line(self) -> None:
        """``-rfE`` short-summary lines become (node id, first error line) pairs."""
        stdout = (
            "=========================== short test summary info ============================\n"
            "FAILED tests/a.py::test_b - AssertionError: this test fails on purpose\n"
            "ERROR tests/a.py::test_c - psycopg.OperationalError: connection refused\n"
            "FAILED tests/a.py::test_d\n"
            "1 failed, 1 passed in 0.52s\n"
        )
        assert failing_tests(stdout) == [
            ("tests/a.py::test_b", "AssertionError: this test fails on purpose"),
            ("tests/a.py::test_c", "psycopg.OperationalError: connection refused"),
            ("tests/a.py::test_d", "FAILED"),
        ]


class TestSummaryLine:
    def test_takes_the_last_outcome_line_without_its_rulers(self) -> None:
        """The final ``N passed, M failed in Xs`` line, stripped of ``=``."""
        stdout = (
            "test_a.py .F\n"
            "FAILED test_a.py::test_b - assert 1 == 2\n"
            "===== 1 failed, 1 passed in 0.52s =====\n"
        )
        assert _summary_line(stdout) == "1 failed, 1 passed in 0.52s"

    def test_quiet_output_and_errors(self) -> None:
        """``-q`` prints the line without rulers; collection errors count too."""
        assert _summary_line(".\n2 passed in 0.10s\n") == "2 passed in 0.10s"
        assert _summary_line("E   ImportError\n1 error in 0.30s\n") == "1 error in 0.30s"

    def test_says_so_when_pytest_printed_none(self) -> None:
        """A crash before the summary (a usage error) still gives the table a cell."""
        assert _summary_line("ERROR: usage: pytest [options]\n") == "no summary line"
        assert _summary_line("") == "no summary line"


class TestTable:
    def test_speed_up_is_against_the_first_count_and_failures_add_up(self) -> None:
        """Each row: workers, wall time, speed-up, peak, bound, failed plus errored tests."""
        table = _table(
            [
                StressResult(1, 4.0, 3, 14, 0, "4 passed in 3.90s"),
                StressResult(2, 2.0, 6, 26, 1, "2 passed, 1 failed, 2 errors in 1.90s"),
            ]
        )
        header, first, second = (line.split() for line in table.splitlines())
        assert header == ["workers", "wall", "s", "speed-up", "peak", "conns", "bound", "failures"]
        assert first == ["1", "4.0", "1.00x", "3", "14", "0"]
        assert second == ["2", "2.0", "2.00x", "6", "26", "3"]

    def test_no_results_is_just_the_header(self) -> None:
        """An empty worker list prints the header alone."""
        assert _table([]).split() == TABLE_HEADER


FAILING_SUITE = """
def test_passes(pgsandbox_sync_session):
    assert pgsandbox_sync_session is not None

def test_fails(pgsandbox_sync_session):
    assert 1 == 2, "this test fails on purpose"
"""


class TestRunStress:
    def test_a_failed_run_and_a_peak_over_the_bound_each_fail_the_command(
        self,
        project: Project,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Exit 1, naming each problem, and pytest's own output so the failure can be read.

        The bound is lowered to zero so that the run's real connections pass it; ``-n 0``
        (no xdist workers) is the cheapest run that still connects.
        """
        project.pytester.makepyfile(test_suite=FAILING_SUITE)
        monkeypatch.setattr(_stress, "connection_bound", lambda workers: 0)
        code = run_stress([0], ["-p", "no:randomly"], None)
        out = capsys.readouterr().out
        assert code == 1, out
        assert "this test fails on purpose" in out  # pytest's output, shown on failure
        lines = out.splitlines()
        header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["workers"])
        row = lines[header + 1].split()
        assert row[0] == "0"
        assert row[4:] == ["0", "1"]  # bound, failures
        peak = int(row[3])
        assert peak > 0
        failed_run, over_bound = lines[header + 2 :]
        assert re.fullmatch(
            r"pgsandbox stress: FAILED: -n 0: pytest exited 1 \(1 failed, 1 passed in [\d.]+s\)",
            failed_run,
        ), failed_run
        assert over_bound == (
            f"pgsandbox stress: FAILED: -n 0: peak {peak} connections is above the bound 0"
        )
        assert "PASSED" not in out
        assert (
            "pgsandbox stress: -n 0: failed test_suite.py::test_fails - AssertionError: this "
            "test fails on purpose"
        ) in lines

    def test_load_runs_burners_alongside_and_stops_them(
        self,
        project: Project,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """``--load 1``: one burner runs while the suite does, and is gone afterwards."""
        project.pytester.makepyfile(
            test_suite="""
            import os

            def test_a_burner_runs_alongside():
                pid = int(os.environ["BURNER_PID"])
                os.kill(pid, 0)  # raises if no such process
            """
        )
        started: list[int] = []
        real_enter = _flake.Burners.__enter__

        def enter(burners: _flake.Burners) -> _flake.Burners:
            entered = real_enter(burners)
            started.extend(proc.pid for proc in burners.procs)
            monkeypatch.setenv("BURNER_PID", str(started[0]))
            return entered

        monkeypatch.setattr(_flake.Burners, "__enter__", enter)
        code = run_stress([0], ["-p", "no:randomly"], None, load=1)
        out = capsys.readouterr().out
        assert "with 1 CPU burner(s)" in out
        assert code == 0, out
        assert len(started) == 1
        with pytest.raises(ProcessLookupError):
            os.kill(started[0], 0)


def _sleeper_script(pid_file: Path) -> str:
    """A stand-in for pytest: it starts a child (pid written to ``pid_file``), then waits."""
    return (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )


def _wait_until_gone(pid: int, what: str) -> None:
    """Poll until ``pid`` has exited (a zombie waiting for init counts); fail after 30 s."""
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists():
        if Path(f"/proc/{pid}/stat").read_text().split()[2:3] == ["Z"]:
            return
        assert time.monotonic() < deadline, f"{what} outlived the harness"
        time.sleep(0.05)


class TestInterrupted:
    @pytest.mark.usefixtures("ctrl_c_raises")
    def test_ctrl_c_stops_the_whole_process_group(self, tmp_path: Path) -> None:
        """Ctrl-C during a harness run stops pytest and what it started (xdist workers,
        tests' subprocesses): they run in a process group of their own, which gets SIGINT
        (then SIGKILL), so nothing is left running after ``flake`` or ``stress``."""
        pid_file = tmp_path / "grandchild.pid"
        script = _sleeper_script(pid_file)

        def interrupt_once_started() -> None:
            deadline = time.monotonic() + 30
            while not pid_file.exists() or not pid_file.read_text():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: it ends the wait

        threading.Thread(target=interrupt_once_started, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run_pytest([sys.executable, "-c", script])
        _wait_until_gone(int(pid_file.read_text()), "the test's subprocess")

    def test_sigterm_and_an_ignored_sigint_still_stop_everything(self, tmp_path: Path) -> None:
        """A harness started in a shell's background (SIGINT ignored) and then sent SIGTERM
        (a cancelled CI job) stops its pytest's whole group and its CPU burners too."""
        pid_file = tmp_path / "grandchild.pid"
        script = _sleeper_script(pid_file)
        harness = (
            "import signal, sys\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell's background job\n"
            "from pgsandbox._flake import Burners\n"
            "from pgsandbox._stress import run_pytest, stop_on_signals\n"
            "stop_on_signals()\n"
            "with Burners(1) as burners:\n"
            f"    open({str(tmp_path / 'burner.pid')!r}, 'w').write(str(burners.procs[0].pid))\n"
            f"    run_pytest([sys.executable, '-c', {script!r}])\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", harness])
        try:
            deadline = time.monotonic() + 60
            while not pid_file.exists() or not pid_file.read_text():
                assert proc.poll() is None, "the harness ended early"
                assert time.monotonic() < deadline, "the harness's pytest never started"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)  # ignored, as in a shell's background
            proc.terminate()
            assert proc.wait(timeout=90) == 128 + signal.SIGTERM
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for name in ("grandchild.pid", "burner.pid"):
            _wait_until_gone(int((tmp_path / name).read_text()), f"{name}: its process")
