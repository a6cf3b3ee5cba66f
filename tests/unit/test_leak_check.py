"""The run's end check (tests/conftest.py): leftover processes and folders fail the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._leaks import any_run_processes, leftover_folders, suite_folders

REPO_ROOT = Path(__file__).resolve().parents[2]

_CONFTEST = 'pytest_plugins = ["tests.conftest"]\n'

_LEAKING_TEST = """
import subprocess, sys

def test_starts_a_worker_and_forgets_it(tmp_path, request):
    worker = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "glossator", "worker"]
    )
    (request.config.rootpath / "leaked.pid").write_text(str(worker.pid))
    (tmp_path / "glossator-export-left").mkdir()
"""

_CLEAN_TEST = """
import subprocess, sys

def test_starts_and_stops(tmp_path):
    worker = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "glossator", "worker"]
    )
    worker.kill()
    worker.wait()
    (tmp_path / "other-folder").mkdir()
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has exited: it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture
def inner_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester folder whose runs load the suite's end check."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_ROOT), *sys.path]))
    pytester.makeconftest(_CONFTEST)
    return pytester


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="the check reads /proc (Linux)")
class TestSessionEndCheck:
    def test_leftover_worker_and_folder_fail_the_run(self, inner_run: pytest.Pytester) -> None:
        """A passing test that leaves a worker and a glossator-* folder fails the run."""
        inner_run.makepyfile(_LEAKING_TEST)
        result = inner_run.runpytest_subprocess("-p", "no:randomly", "--basetemp", "bt")
        result.assert_outcomes(passed=1)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        pid = int((inner_run.path / "leaked.pid").read_text())
        result.stdout.fnmatch_lines(
            [
                "*the run left these behind*",
                f"*process pid {pid}: *glossator worker*",
                "*folder *glossator-export-left",
            ]
        )
        assert not _running(pid)  # killed by the check
        assert leftover_folders(inner_run.path / "bt") == []  # and removed

    def test_clean_run_passes(self, inner_run: pytest.Pytester) -> None:
        """A run that stops what it started and leaves other folders passes."""
        inner_run.makepyfile(_CLEAN_TEST)
        result = inner_run.runpytest_subprocess("-p", "no:randomly", "--basetemp", "bt")
        result.assert_outcomes(passed=1)
        assert result.ret == pytest.ExitCode.OK
        assert "left these behind" not in result.stdout.str()


class TestAfterTheWholeRun:
    """``python -m tests._leaks`` (the ``leftovers`` session, last in ``nox``)."""

    def test_finds_a_process_of_any_run_and_suite_folders(self, tmp_path: Path) -> None:
        """A process carrying any run's id and a suite folder are found; others are not."""
        planted = [tmp_path / "glossator-rtf-left", tmp_path / "pgsandbox-test-cli-left"]
        nested = tmp_path / "pytest-of-someone" / "pytest-3" / "test_x0" / "glossator-export-1"
        try:
            for folder in planted:
                folder.mkdir()
            (tmp_path / "someone-else").mkdir()
            nested.mkdir(parents=True)
            assert suite_folders([tmp_path]) == sorted([*planted, nested])
        finally:  # the run's own end check would (rightly) report them
            for folder in [*planted, nested]:
                shutil.rmtree(folder, ignore_errors=True)
        env = {**os.environ, "GLOSSATOR_TEST_RUN": "some-finished-run"}
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
        try:
            deadline = time.monotonic() + 30
            while child.pid not in {p.pid for p in any_run_processes()}:
                assert time.monotonic() < deadline, "the child was never found"
                time.sleep(0.05)
        finally:
            child.kill()
            child.wait()
        assert child.pid not in {p.pid for p in any_run_processes()}
