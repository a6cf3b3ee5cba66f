"""Fixtures and helpers for export tests: a real worker subprocess, polling, pdftotext.

``start_export_worker`` starts ``python -m glossator worker`` against this test's database
(so the test must use ``@pytest.mark.pgsandbox(isolation="database")``: the worker is
another process and sees only committed rows). Tests then enqueue with the services and
poll with a deadline; nothing sleeps blindly. The worker's JSON log lines are parsed into
events; a failing test shows each worker's log (printed at teardown, captured by pytest).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from glossator import services
from tests._tools import require_tool

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = [
    "REPO_ROOT",
    "WorkerProcess",
    "latex_tools",
    "pdf_text",
    "start_export_worker",
    "wait_until_finished",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
LATEX_INSTALL_HINT: Final = (
    "apt-get install latexmk texlive-latex-base texlive-latex-recommended lmodern poppler-utils"
)
#: Seconds a worker gets to exit after SIGTERM at teardown before it is killed.
TEARDOWN_GRACE: Final = 15.0


@dataclasses.dataclass
class WorkerProcess:
    """A ``glossator worker`` subprocess and its log file."""

    process: asyncio.subprocess.Process
    log_path: Path
    name: str

    @property
    def pid(self) -> int:
        """The worker's process id (its ``worker_id`` ends with it)."""
        return self.process.pid

    def log_text(self) -> str:
        """Everything the worker wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The worker's JSON log lines, optionally only those of event ``name``."""
        parsed = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and (name is None or event.get("event") == name):
                    parsed.append(event)
        return parsed

    async def wait_for_event(
        self, name: str, *, within: float = 30.0, **fields: object
    ) -> dict[str, Any]:
        """Poll the log until event ``name`` with ``fields`` appears; fail after ``within`` s."""
        deadline = time.monotonic() + within
        while True:
            for event in self.events(name):
                if all(event.get(key) == value for key, value in fields.items()):
                    return event
            if self.process.returncode is not None:
                pytest.fail(
                    f"worker {self.name} exited ({self.process.returncode}) before {name} "
                    f"{fields}; its log:\n{self.log_text()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no {name} {fields} from worker {self.name} within {within:g} s; "
                    f"its log:\n{self.log_text()}"
                )
            await asyncio.sleep(0.05)

    async def stop(self, *, grace: float = TEARDOWN_GRACE) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds.

        Returns:
            The exit status (negative: killed by that signal).
        """
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace):
                    await self.process.wait()
            except TimeoutError:
                self.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the worker (no shutdown code runs)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


@pytest.fixture
def latex_tools() -> None:
    """Skip (locally) or fail (under CI=true) when latexmk or pdftotext is missing."""
    require_tool("latexmk", install_hint=LATEX_INSTALL_HINT)
    require_tool("pdftotext", install_hint=LATEX_INSTALL_HINT)


@pytest.fixture
async def start_export_worker(
    pgsandbox_url: str, tmp_path: Path, latex_tools: None
) -> AsyncIterator[Callable[..., Awaitable[WorkerProcess]]]:
    """Start ``glossator worker`` subprocesses on this test's database.

    Call it with the worker's flags (``await start_export_worker("--concurrency", "2")``);
    it returns once the worker logged ``worker.ready``. Fast test defaults (poll 0.5 s,
    lease 3 s, heartbeat 0.5 s, retry delay 0.1 s, grace 10 s, the test renderer of
    :mod:`tests.integration.export_renderers`) come first, so flags given override them.
    Every worker still running at teardown gets SIGTERM, then SIGKILL; their logs are
    printed, so pytest shows them when the test failed.
    """
    workers: list[WorkerProcess] = []
    env = {
        **os.environ,
        "GLOSSATOR_DATABASE_URL": pgsandbox_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        # latexmk's private folders (and any a killed worker leaves behind) go here.
        "TMPDIR": str(tmp_path),
    }
    env.pop("PYTEST_XDIST_WORKER", None)

    async def start(*flags: str, ready_timeout: float = 30.0) -> WorkerProcess:
        name = f"worker{len(workers) + 1}"
        log_path = tmp_path / f"{name}.log"
        command = [
            sys.executable, "-m", "glossator", "worker",
            "--poll-interval", "0.5", "--lease", "3", "--heartbeat", "0.5",
            "--retry-delay", "0.1", "--grace", "10",
            "--renderer", "tests.integration.export_renderers:render",
            *flags,
        ]  # fmt: skip
        with log_path.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=REPO_ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        worker = WorkerProcess(process=process, log_path=log_path, name=name)
        workers.append(worker)
        await worker.wait_for_event("worker.ready", within=ready_timeout)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            await worker.stop()
            print(f"----- {worker.name} (pid {worker.pid}) log -----\n{worker.log_text()}")  # noqa: T201 - shown by pytest when the test failed


async def wait_until_finished(
    job_id: int, *, within: float = 60.0, worker: WorkerProcess | None = None
) -> services.ExportRecord:
    """Poll an export job until it is done, failed or cancelled; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        record = await services.get_export(job_id)
        if record.finished:
            return record
        if time.monotonic() > deadline:
            log = f"; worker log:\n{worker.log_text()}" if worker else ""
            pytest.fail(f"export {job_id} still {record.status.value} after {within:g} s{log}")
        await asyncio.sleep(0.1)


async def pdf_text(pdf: bytes) -> str:
    """The PDF's text as pdftotext extracts it, with runs of whitespace made single spaces."""
    process = await asyncio.create_subprocess_exec(
        "pdftotext", "-enc", "UTF-8", "-", "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate(pdf)
    assert process.returncode == 0, stderr.decode(errors="replace")
    return re.sub(r"\s+", " ", stdout.decode("utf-8")).strip()
