"""The e2e harness stops what it starts: process groups, and every process on failure.

Here (under tests/e2e/api) because `nox -s e2e` runs this folder in parallel.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING

import pytest

from tests.e2e import _processes as processes_module
from tests.e2e._processes import AppServer, E2EStack, ManagedProcess, _Worker

if TYPE_CHECKING:
    from pathlib import Path

# Ignores SIGTERM and starts a child (in its process group) that does the same: only a
# SIGKILL to the group ends both. Their argv names "glossator worker", so the run's leak
# check (tests/conftest.py) would report one left running.
_STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', "
    "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)',"
    " 'glossator', 'worker'])\n"
    "time.sleep(120)\n"
)


def _stubborn(name: str, tmp_path: Path) -> ManagedProcess:
    return ManagedProcess(
        name=name,
        argv=[sys.executable, "-c", _STUBBORN, "glossator", "worker"],
        env=dict(os.environ),
        log_path=tmp_path / f"{name}.log",
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_children(process: ManagedProcess) -> None:
    """Wait until the stubborn process started its child (two processes in its group)."""
    assert process.process is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = [
            entry
            for entry in os.listdir("/proc")
            if entry.isdigit() and _parent_of(int(entry)) == process.process.pid
        ]
        if children:
            return
        time.sleep(0.02)
    pytest.fail("the stubborn process started no child")


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat_file:
            stat = stat_file.read()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


class TestManagedProcess:
    def test_stop_kills_the_whole_group_past_the_grace(self, tmp_path: Path) -> None:
        """A process ignoring SIGTERM is killed after the grace, with the child it started."""
        process = _stubborn("stubborn", tmp_path)
        process.start()
        _wait_children(process)
        assert process.process is not None
        assert process.stop(grace=0.5) == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while _group_alive(process.process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _group_alive(process.process.pid)

    def test_missing_log_reads_as_empty(self, tmp_path: Path) -> None:
        """A log that is gone reads as nothing instead of failing a finalizer."""
        process = ManagedProcess("p", ["true"], {}, tmp_path / "missing.log")
        assert (process.log_text(), process.log_size()) == ("", 0)


class TestE2EStack:
    def test_stop_stops_the_worker_when_the_server_fails_to_stop(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The server's stop raises: the worker is still stopped, then the error is raised."""
        stack = E2EStack("test", tmp_path)
        server = _stubborn("server", tmp_path)
        worker = _stubborn("worker", tmp_path)
        server.start()
        worker.start()
        _wait_children(server)
        _wait_children(worker)
        stack.server = AppServer(server, port=0)
        stack.worker = _Worker(worker)

        def broken_stop(grace: float | None = None) -> int | None:
            raise OSError("cannot signal")

        monkeypatch.setattr(server, "stop", broken_stop)
        monkeypatch.setattr(processes_module, "STOP_GRACE", 0.2)  # SIGTERM is ignored anyway
        with pytest.raises(OSError, match="cannot signal"):
            stack.stop()
        assert server.process is not None
        assert worker.process is not None
        assert server.process.returncode == -signal.SIGKILL
        assert worker.process.returncode == -signal.SIGKILL
        for pid in (server.process.pid, worker.process.pid):
            deadline = time.monotonic() + 10
            while _group_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not _group_alive(pid), f"process group {pid} runs on"
