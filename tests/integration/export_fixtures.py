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
from glossator.export.compile import become_subreaper, sweep_leftovers
from tests._leaks import LeakedProcess, compilation_processes
from tests._timing import scaled
from tests._tools import require_tool

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = [
    "EVENT_TIMEOUT",
    "FINISH_TIMEOUT",
    "LEASE",
    "REPO_ROOT",
    "TEARDOWN_GRACE",
    "ExportWorkers",
    "WorkerProcess",
    "latex_tools",
    "pdf_text",
    "reap_orphans",
    "start_export_worker",
    "wait_until_finished",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
LATEX_INSTALL_HINT: Final = (
    "apt-get install latexmk texlive-latex-base texlive-latex-recommended lmodern poppler-utils"
)
# Base deadlines in seconds, measured on an idle machine with room, multiplied by
# GLOSSATOR_TEST_TIMEOUT_SCALE (tests/_timing.py) where they are used.
#: A worker's exit after SIGTERM at teardown, before it is killed.
TEARDOWN_GRACE: Final = 15.0
#: A worker's log event (``worker.ready``, ``job.claimed``, ...).
EVENT_TIMEOUT: Final = 30.0
#: An export job reaching a final status.
FINISH_TIMEOUT: Final = 60.0
#: A test worker's lease (heartbeat every 0.5 s): how long a killed worker's job waits.
LEASE: Final = 3.0


@dataclasses.dataclass
class WorkerProcess:
    """A ``glossator worker`` subprocess (leading its own process group) and its log file."""

    process: asyncio.subprocess.Process
    log_path: Path
    name: str

    @property
    def pid(self) -> int:
        """The worker's process id (its ``worker_id`` ends with it)."""
        return self.process.pid

    def log_text(self) -> str:
        """Everything the worker wrote so far (a note instead, if the log cannot be read)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            return f"<log {self.log_path} unreadable: {error}>"

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
        self, name: str, *, within: float | None = None, **fields: object
    ) -> dict[str, Any]:
        """Poll the log until event ``name`` with ``fields`` appears.

        Args:
            name: The event, e.g. ``"job.done"``.
            within: Seconds before the test fails; default :data:`EVENT_TIMEOUT` scaled
                (``GLOSSATOR_TEST_TIMEOUT_SCALE``, see ``tests/_timing.py``).
            **fields: Values the event must have.
        """
        limit = within if within is not None else scaled(EVENT_TIMEOUT)
        deadline = time.monotonic() + limit
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
                    f"no {name} {fields} from worker {self.name} within {limit:g} s; "
                    f"its log:\n{self.log_text()}"
                )
            await asyncio.sleep(0.05)

    async def stop(self, *, grace: float | None = None) -> int:
        """SIGTERM, then SIGKILL to its process group if it has not exited within ``grace``.

        Args:
            grace: Seconds; default :data:`TEARDOWN_GRACE` scaled.

        Returns:
            The exit status (negative: killed by that signal).
        """
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace if grace is not None else scaled(TEARDOWN_GRACE)):
                    await self.process.wait()
            except TimeoutError:
                self.kill()
                await self.process.wait()
        # Whatever it started in its group goes too (latexmk has a group of its own, which
        # the worker kills; compilations of a killed worker are swept at teardown).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        assert self.process.returncode is not None
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the worker (no shutdown code runs; its compilation runs on, orphaned)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


class ExportWorkers:
    """The workers one test started, and the guarantee that all of them stop.

    :meth:`close` stops every worker even when stopping or reading the log of another one
    fails, then kills compilations that killed workers left in the test's temporary
    folder and removes their folders; only then does it report what went wrong.
    """

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        """Workers on ``database_url``, with their logs and temporary files in ``tmp_path``."""
        self.tmp_path = tmp_path
        self.workers: list[WorkerProcess] = []
        # Compilations of a worker killed with SIGKILL are orphaned; as a subreaper this
        # process inherits them instead of PID 1 (which, in a container, may never reap
        # them), so the tests can reap them (reap_orphans).
        become_subreaper()
        self.env = {
            **os.environ,
            "GLOSSATOR_DATABASE_URL": database_url,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
            ),
            # latexmk's private folders (and any a killed worker leaves behind) go here.
            "TMPDIR": str(tmp_path),
        }
        self.env.pop("PYTEST_XDIST_WORKER", None)

    async def start(self, *flags: str, ready_timeout: float | None = None) -> WorkerProcess:
        """Start a worker with test defaults, then ``flags``; return once it is ready."""
        name = f"worker{len(self.workers) + 1}"
        log_path = self.tmp_path / f"{name}.log"
        # The lease is scaled like every deadline (tests/_timing.py): on a loaded machine a
        # heartbeat can come seconds late, and a lease lost that way is a retry the test
        # did not ask for (attempt 2 where it asserts 1).
        command = [
            sys.executable, "-m", "glossator", "worker",
            "--poll-interval", "0.5", "--lease", f"{scaled(LEASE):g}", "--heartbeat", "0.5",
            "--retry-delay", "0.1", "--grace", "10",
            "--renderer", "tests.integration.export_renderers:render",
            *flags,
        ]  # fmt: skip
        with log_path.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own group: teardown can kill all of it
            )
        worker = WorkerProcess(process=process, log_path=log_path, name=name)
        self.workers.append(worker)
        await worker.wait_for_event(
            "worker.ready", within=ready_timeout if ready_timeout is not None else scaled(30)
        )
        return worker

    async def close(self) -> None:
        """Stop every worker and sweep their leftovers; then raise if any step failed."""
        errors: list[BaseException] = []
        for worker in self.workers:
            try:
                await worker.stop()
            except BaseException as error:  # even a cancellation: the others must still stop
                worker.kill()
                errors.append(error)
        for worker in self.workers:
            # Only after every worker stopped: a failure here must not leave one running.
            print(f"----- {worker.name} (pid {worker.pid}) log -----\n{worker.log_text()}")  # noqa: T201 - shown by pytest when the test failed
        # Compilations still running now belong to killed workers: kill, remove, reap.
        orphans = compilation_processes(self.tmp_path)
        sweep_leftovers(self.tmp_path)
        await reap_orphans(orphans)
        if errors:
            raise BaseExceptionGroup("stopping export workers failed", errors)


async def reap_orphans(processes: list[LeakedProcess]) -> dict[int, int]:
    """Wait for orphaned compilation processes that became this process's children.

    Args:
        processes: Processes expected to exit (killed). One that is not a child of this
            process is waited for until it is gone (its parent reaped it), or until its pid
            names another process.

    Returns:
        The wait status of each process reaped here, by pid.
    """
    statuses: dict[int, int] = {}
    pending = {process.pid: process for process in processes}
    deadline = time.monotonic() + scaled(10)
    while pending and time.monotonic() < deadline:
        for pid, process in list(pending.items()):
            try:
                reaped, status = os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 - WNOHANG never blocks
            except ChildProcessError:
                # Not (yet) our child: its parent may reap it, or die first and leave it
                # to us. Done with it once it is gone.
                if not process.exists():
                    del pending[pid]
                continue
            if reaped:
                statuses[pid] = status
                del pending[pid]
        if pending:
            await asyncio.sleep(0.02)
    return statuses


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
    lease 3 s (scaled), heartbeat 0.5 s, retry delay 0.1 s, grace 10 s, the test renderer of
    :mod:`tests.integration.export_renderers`) come first, so flags given override them.
    At teardown every worker gets SIGTERM, then SIGKILL (with its process group), even if
    the test or another worker's teardown failed (:class:`ExportWorkers`); their logs are
    printed, so pytest shows them when the test failed.
    """
    workers = ExportWorkers(pgsandbox_url, tmp_path)
    try:
        yield workers.start
    finally:
        await workers.close()


async def wait_until_finished(
    job_id: int, *, within: float | None = None, worker: WorkerProcess | None = None
) -> services.ExportRecord:
    """Poll an export job until it is done, failed or cancelled.

    Fails after ``within`` seconds (default :data:`FINISH_TIMEOUT` scaled, see
    ``tests/_timing.py``).
    """
    within = within if within is not None else scaled(FINISH_TIMEOUT)
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
