"""The app server and the export worker as real subprocesses, for end-to-end tests.

Each process is ``sys.executable -m glossator ...`` (so coverage's subprocess patching,
or ``COVERAGE_PROCESS_START``, measures it too), runs in the repository with the shared
pgsandbox database, and writes everything to its own log file under ``.reports/e2e/``.
Readiness is polled with a deadline (the server's ``GET /healthz``, the worker's
``worker.ready`` log event); stopping sends SIGTERM and, after a grace period, SIGKILL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

import httpx

from glossator.export.compile import sweep_leftovers
from tests._timing import scaled

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "REPORTS_DIR",
    "REPO_ROOT",
    "AppServer",
    "E2EStack",
    "ManagedProcess",
    "ProcessFailed",
    "free_port",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
REPORTS_DIR: Final = REPO_ROOT / ".reports" / "e2e"
#: Seconds a process gets to exit after SIGTERM before it is killed (scaled by
#: GLOSSATOR_TEST_TIMEOUT_SCALE, tests/_timing.py).
STOP_GRACE: Final = 15.0
#: Seconds a process gets to become ready (scaled likewise).
READY_TIMEOUT: Final = 30.0
#: Upload limit the test server runs with (small, so the 413 test sends little).
TEST_UPLOAD_LIMIT: Final = 1024 * 1024


class ProcessFailed(RuntimeError):
    """A subprocess exited or did not become ready in time; the message holds its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclasses.dataclass
class ManagedProcess:
    """One subprocess with a log file that survives restarts (each start appends)."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (its output goes to the log file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            log_file.write(f"----- start: {' '.join(self.argv)}\n".encode())
            log_file.flush()
            self.process = subprocess.Popen(
                list(self.argv),
                cwd=REPO_ROOT,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() can kill all of it
            )

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL to its process group after ``grace`` seconds.

        Args:
            grace: Seconds; default :data:`STOP_GRACE` scaled (``tests/_timing.py``).

        Returns:
            The exit status (``None`` if it never started).
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace if grace is not None else scaled(STOP_GRACE))
            except subprocess.TimeoutExpired:
                self.kill()
                self.process.wait()
        # Anything it started in its group (not in a session of its own) goes with it.
        self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL its process group (it leads one), if it was started."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def log_size(self) -> int:
        """Bytes in the log so far (to show only what one test caused)."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_text(self, since: int = 0) -> str:
        """The log from byte ``since`` on (a note instead, if it cannot be read)."""
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(since)
                return log_file.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        except OSError as error:
            return f"<log {self.log_path} unreadable: {error}>"

    def fail(self, why: str) -> ProcessFailed:
        """An error saying ``why``, with the process's log."""
        return ProcessFailed(f"{self.name}: {why}; its log ({self.log_path}):\n{self.log_text()}")


@dataclasses.dataclass
class AppServer:
    """``glossator serve`` on a port of its own."""

    process: ManagedProcess
    port: int

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll ``GET /healthz`` until it answers 200; raise :class:`ProcessFailed` if not.

        Args:
            timeout: Seconds; default :data:`READY_TIMEOUT` scaled (``tests/_timing.py``).
        """
        timeout = timeout if timeout is not None else scaled(READY_TIMEOUT)
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.running:
                raise self.process.fail("exited before it was ready")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/healthz", timeout=2.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise self.process.fail(f"/healthz did not answer 200 within {timeout:g} s")
            time.sleep(0.05)

    def restart(self) -> None:
        """Stop the server (SIGTERM) and start it again on the same port."""
        self.process.stop()
        self.process.start()
        self.wait_ready()


@dataclasses.dataclass
class _Worker:
    process: ManagedProcess

    def wait_ready(self, timeout: float | None = None) -> None:
        timeout = timeout if timeout is not None else scaled(READY_TIMEOUT)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.process.log_text().splitlines():
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict) and event.get("event") == "worker.ready":
                        return
            if not self.process.running:
                raise self.process.fail("exited before it was ready")
            if time.monotonic() > deadline:
                raise self.process.fail(f"no worker.ready within {timeout:g} s")
            time.sleep(0.05)


class E2EStack:
    """The processes one pytest process shares between its end-to-end tests.

    Started on first use against the shared database's URL (the same for every shared
    test of the run) and stopped when the pytest process ends.
    """

    def __init__(self, label: str, temp_dir: Path) -> None:
        """Name the log files after ``label``; the processes' temporary files go to ``temp_dir``.

        Args:
            label: The xdist worker id, or ``main``.
            temp_dir: The processes' ``TMPDIR`` (inside pytest's temporary tree, where the
                run's end checks that nothing was left: tests/conftest.py).
        """
        self.label = label
        self.temp_dir = temp_dir
        # One key per stack: sessions survive a server restart, as in production.
        self.secret_key = secrets.token_urlsafe(48)
        self.database_url: str | None = None
        self.server: AppServer | None = None
        self.worker: _Worker | None = None

    def _env(self, database_url: str) -> dict[str, str]:
        env = {
            **os.environ,
            "GLOSSATOR_DATABASE_URL": database_url,
            "GLOSSATOR_SECRET_KEY": self.secret_key,
            "GLOSSATOR_MAX_UPLOAD_BYTES": str(TEST_UPLOAD_LIMIT),
            "GLOSSATOR_APPLICATION_NAME": f"glossator-e2e[{self.label}]",
            "PYTHONUNBUFFERED": "1",
            "TMPDIR": str(self.temp_dir),
        }
        # The subprocesses are not xdist workers: keep their pools at full size.
        for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "GLOSSATOR_DEV"):
            env.pop(name, None)
        return env

    def _check_database(self, database_url: str) -> None:
        if self.database_url is None:
            self.database_url = database_url
        elif database_url != self.database_url:
            msg = (
                "end-to-end tests must all use the shared database (mark them "
                '@pytest.mark.pgsandbox(isolation="shared")); got a second database URL'
            )
            raise ProcessFailed(msg)

    def app_server(self, database_url: str) -> AppServer:
        """The app server, started (and waited for) on first use."""
        self._check_database(database_url)
        if self.server is None or not self.server.process.running:
            for _attempt in range(3):  # a port taken between free_port() and bind
                port = free_port()
                process = ManagedProcess(
                    name="app server",
                    argv=[sys.executable, "-m", "glossator", "serve", "--port", str(port)],
                    env=self._env(database_url),
                    log_path=REPORTS_DIR / f"server-{self.label}.log",
                )
                self.server = AppServer(process=process, port=port)
                process.start()
                try:
                    self.server.wait_ready()
                    break
                except ProcessFailed:
                    if "address already in use" not in process.log_text():
                        raise
        assert self.server is not None
        return self.server

    def export_worker(self, database_url: str) -> ManagedProcess:
        """The export worker (built-in LaTeX layout), started on first use."""
        self._check_database(database_url)
        if self.worker is None or not self.worker.process.running:
            process = ManagedProcess(
                name="export worker",
                argv=[
                    sys.executable, "-m", "glossator", "worker",
                    "--poll-interval", "0.5", "--heartbeat", "1", "--lease", "10",
                    "--retry-delay", "0.2", "--grace", "10",
                ],
                env=self._env(database_url),
                log_path=REPORTS_DIR / f"worker-{self.label}.log",
            )  # fmt: skip
            self.worker = _Worker(process)
            process.start()
            self.worker.wait_ready()
        return self.worker.process

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after the grace period).

        Each is stopped even when stopping another one failed; the first error is raised
        after all of them were stopped.
        """
        processes = [part.process for part in (self.server, self.worker) if part is not None]
        errors: list[Exception] = []
        for process in processes:
            try:
                process.stop()
            except Exception as error:  # any failure: the others must still stop
                process.kill()
                if process.process is not None:
                    process.process.wait()
                errors.append(error)
        # Compilations of a worker that had to be killed: kill them, remove their folders.
        sweep_leftovers(self.temp_dir)
        if errors:
            raise errors[0]
