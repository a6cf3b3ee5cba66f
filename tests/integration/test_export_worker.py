"""The export worker as a real subprocess: exports, crashes, failures, shutdown.

Each test gets its own database (``isolation="database"``): the worker is another
process, so it sees only committed rows, and it sees only this test's rows, which is
what keeps parallel tests from taking each other's jobs (see TestIsolation). Tests
enqueue through the services and poll with deadlines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from glossator import db, services
from glossator.db.models import ExportJobStatus, SourceKind
from glossator.errors import ConfigurationError
from glossator.export.pipeline import load_renderer
from glossator.export.worker import WorkerConfig, asyncpg_dsn
from tests._leaks import (
    compilation_processes,
    leftover_folders,
    processes_of_compilation,
)
from tests._timing import scaled
from tests.integration.export_fixtures import (
    EVENT_TIMEOUT,
    ExportWorkers,
    WorkerProcess,
    pdf_text,
    reap_orphans,
    wait_until_finished,
)
from tests.integration.export_renderers import BROKEN, SLOW, UNDEFINED_COMMAND

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    StartWorker = Callable[..., Awaitable[WorkerProcess]]

database = pytest.mark.pgsandbox(isolation="database")

COMMENT = (
    r"Compare \input{/etc/passwd} and \write18{rm -rf /}: 100% of $x_1^2$ & {braces} #1 ~ ^ "
    r"`x' -- ''y''"
)


async def _document(
    workspace: services.WorkspaceRecord, title: str, text_: str = "Some text to export."
) -> services.DocumentRecord:
    return await services.add_document(workspace.id, title, SourceKind.HTML, text_, text_)


async def _wait_for_status(job_id: int, status: ExportJobStatus) -> None:
    deadline = time.monotonic() + scaled(EVENT_TIMEOUT)
    while (record := await services.get_export(job_id)).status is not status:
        if time.monotonic() > deadline:
            pytest.fail(f"export {job_id} is {record.status.value}, not {status.value}")
        await asyncio.sleep(0.05)


@database
class TestExports:
    async def test_three_documents_become_pdfs_with_passages_and_comments(
        self,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
        tutor: services.UserRecord,
    ) -> None:
        """Three exports finish; pdftotext shows each passage and the comment verbatim."""
        overlapping = await _document(
            workspace, "Overlaps & {specials}", "The quick brown fox jumps over the lazy dog."
        )
        # "quick brown fox" and "brown fox jumps over" overlap; "fox" lies inside both.
        await services.add_highlight(overlapping.id, student.id, 4, 19, "claim")
        await services.add_highlight(overlapping.id, tutor.id, 10, 30, "evidence", comment=COMMENT)
        await services.add_highlight(overlapping.id, student.id, 16, 19, "term")
        plain = await _document(workspace, "Plain", "Nothing highlighted here.")
        second = await _document(workspace, "Second", "Über naïve Zoë said: 50% off!")
        await services.add_highlight(second.id, student.id, 0, 10, "claim", comment="why?")

        worker = await start_export_worker("--concurrency", "2")
        job_ids = [
            await services.request_export(doc.id, student.id)
            for doc in (overlapping, plain, second)
        ]
        texts = []
        for job_id in job_ids:
            record = await wait_until_finished(job_id, worker=worker)
            assert record.status is ExportJobStatus.DONE, record.last_error
            assert record.attempts == 1
            pdf = await services.get_export_pdf(job_id, user_id=student.id)
            assert pdf.startswith(b"%PDF")
            texts.append(await pdf_text(pdf))

        assert "Overlaps & {specials}" in texts[0]
        for passage in ("quick brown fox", "brown fox jumps over", "fox"):
            assert passage in texts[0]
        assert f"evidence (Tu Tor): {COMMENT}" in texts[0]
        assert "root:" not in texts[0]
        assert "Nothing highlighted here." in texts[1]
        assert "Über naïve" in texts[2]
        assert "claim (Stu Dent): why?" in texts[2]
        # The row says done a moment before the worker logs it: wait for the log too.
        for job_id in job_ids:
            await worker.wait_for_event("job.done", job_id=job_id)
        done = worker.events("job.done")
        assert sorted(event["job_id"] for event in done) == sorted(job_ids)
        assert all(event["duration_ms"] >= 0 for event in done)

    async def test_notify_wakes_the_worker_before_its_poll(
        self,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
    ) -> None:
        """With a 60 s poll interval, a job is still claimed at once: NOTIFY woke the worker."""
        document = await _document(workspace, "Notified")
        worker = await start_export_worker("--poll-interval", "60")
        job_id = await services.request_export(document.id, student.id)
        claimed = await worker.wait_for_event("job.claimed", job_id=job_id)
        assert claimed["job_id"] == job_id

    async def test_polling_alone_finds_jobs(
        self,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
    ) -> None:
        """Without LISTEN the worker still finds the job by polling."""
        document = await _document(workspace, "Polled")
        worker = await start_export_worker("--no-listen", "--poll-interval", "0.2")
        assert worker.events("worker.ready")[0]["listening"] is False
        job_id = await services.request_export(document.id, student.id)
        assert (await wait_until_finished(job_id, worker=worker)).status is ExportJobStatus.DONE


@database
class TestFailures:
    async def test_uncompilable_document_fails_after_bounded_attempts(
        self,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
    ) -> None:
        """A document that cannot compile ends failed after 3 attempts, with the LaTeX error."""
        document = await _document(workspace, f"{BROKEN} cannot compile")
        worker = await start_export_worker()
        job_id = await services.request_export(document.id, student.id)
        record = await wait_until_finished(job_id, worker=worker)
        assert (record.status, record.attempts) == (ExportJobStatus.FAILED, 3)
        # Every viewer sees last_error: a message for users, the LaTeX log in the worker's.
        assert record.last_error == (
            "The PDF could not be typeset; please tell the administrator if this persists."
        )
        failed = await worker.wait_for_event("job.failed", job_id=job_id)
        assert "Undefined control sequence" in failed["error"]
        assert UNDEFINED_COMMAND in failed["error"]
        assert failed["message"] == record.last_error
        assert [event["attempt"] for event in worker.events("job.retry")] == [1, 2]
        assert [event["job_id"] for event in worker.events("job.failed")] == [job_id]

    async def test_killed_worker_job_is_retried_by_another(
        self,
        tmp_path: Path,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
    ) -> None:
        """SIGKILL mid-job: the next worker cleans up after it, retries the job, once."""
        document = await _document(workspace, f"{SLOW} crash during compile")
        # The fixture's lease (scaled). A shorter one can be lost to a heartbeat that comes
        # late on a loaded machine: the job is then claimed again, a third attempt.
        first = await start_export_worker()
        job_id = await services.request_export(document.id, student.id)
        await first.wait_for_event("job.claimed", job_id=job_id)
        await _wait_for_status(job_id, ExportJobStatus.RUNNING)
        await _wait_for_compilation(tmp_path)
        orphans = compilation_processes(tmp_path)
        [left_folder] = leftover_folders(tmp_path)
        assert processes_of_compilation(left_folder)  # what the check below must see gone
        first.kill()
        assert await first.process.wait() < 0

        second = await start_export_worker()
        # The new worker killed the orphaned compilation and removed its folder on start.
        swept = await second.wait_for_event("worker.swept")
        assert swept["folders"] == [str(left_folder)]
        # Every process of the orphaned compilation is gone: killed and reaped (here, or
        # by latexmk for a pdflatex that ended before the sweep), none left a zombie.
        await reap_orphans(orphans)
        assert [process for process in orphans if process.exists()] == []
        # Only the orphaned compilation's: the second worker may have begun its own retry.
        assert processes_of_compilation(left_folder) == []
        record = await wait_until_finished(job_id, worker=second)
        assert record.status is ExportJobStatus.DONE
        assert record.attempts == 2
        assert record.last_error == (
            "Attempt 1 was interrupted (the export worker stopped); trying again."
        )
        assert str(first.pid) not in record.last_error
        assert _host() not in record.last_error
        assert await _claimed_by(job_id) == f"{_host()}:{second.pid}"
        # The row says done a moment before the worker logs it: wait for the log too.
        await second.wait_for_event("job.done", job_id=job_id)
        assert first.events("job.done") == []
        assert [(e["job_id"], e["attempt"]) for e in second.events("job.done")] == [(job_id, 2)]

    async def test_cancelled_running_job_is_abandoned(
        self,
        tmp_path: Path,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
    ) -> None:
        """Cancelling a running job stops its compilation; it stays cancelled, without PDF."""
        document = await _document(workspace, f"{SLOW} cancelled")
        worker = await start_export_worker()
        job_id = await services.request_export(document.id, student.id)
        await worker.wait_for_event("job.claimed", job_id=job_id)
        await _wait_for_compilation(tmp_path)
        await services.cancel_export(job_id, user_id=student.id)
        await worker.wait_for_event("job.abandoned", job_id=job_id)
        # Abandoned, not finished: the compilation was killed (by structure, not by a
        # time bound, which a loaded machine would break) and its folder removed.
        assert compilation_processes(tmp_path) == []
        assert leftover_folders(tmp_path) == []
        record = await services.get_export(job_id)
        assert (record.status, record.result_size) == (ExportJobStatus.CANCELLED, None)
        assert worker.events("job.done") == []


@database
class TestGracefulShutdown:
    async def test_sigterm_lets_the_running_job_finish(
        self,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
    ) -> None:
        """SIGTERM with a long grace: the job finishes, then the worker exits 0."""
        document = await _document(workspace, f"{SLOW} finish me")
        worker = await start_export_worker("--grace", "30")
        job_id = await services.request_export(document.id, student.id)
        await worker.wait_for_event("job.claimed", job_id=job_id)
        assert await worker.stop(grace=40) == 0
        record = await services.get_export(job_id)
        assert (record.status, record.attempts) == (ExportJobStatus.DONE, 1)
        assert worker.events("worker.stopped")

    async def test_sigterm_past_the_grace_gives_the_job_back(
        self,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
    ) -> None:
        """SIGTERM with a short grace: the worker exits in time and the job is queued again."""
        document = await _document(workspace, f"{SLOW} give me back")
        worker = await start_export_worker("--grace", "0.5")
        job_id = await services.request_export(document.id, student.id)
        await worker.wait_for_event("job.claimed", job_id=job_id)
        assert await worker.stop(grace=scaled(10)) == 0  # exited by itself: SIGTERM, no SIGKILL
        record = await services.get_export(job_id)
        assert (record.status, record.attempts) == (ExportJobStatus.QUEUED, 0)
        assert await _claimed_by(job_id) is None
        assert [event["job_id"] for event in worker.events("job.released")] == [job_id]


@database
class TestIsolation:
    @pytest.mark.parametrize("run", range(4))
    async def test_parallel_tests_never_take_each_others_jobs(
        self,
        run: int,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
        pgsandbox_url: str,
    ) -> None:
        """Each test's worker serves its own database: it claims exactly this test's jobs.

        Run under ``-n 2`` these four tests overlap in time, each with a worker and jobs
        numbered from 1; every worker must claim exactly the jobs of its own test.
        """
        worker = await start_export_worker()
        documents = [await _document(workspace, f"run {run} doc {n}") for n in range(3)]
        job_ids = [await services.request_export(doc.id, student.id) for doc in documents]
        for job_id in job_ids:
            record = await wait_until_finished(job_id, worker=worker)
            assert record.status is ExportJobStatus.DONE
            assert await _claimed_by(job_id) == f"{_host()}:{worker.pid}"
            await worker.wait_for_event("job.done", job_id=job_id)
        assert sorted(event["job_id"] for event in worker.events("job.claimed")) == job_ids
        async with db.session() as db_session:
            database_name = await db_session.scalar(text("SELECT current_database()"))
            claimed_by = set(await db_session.scalars(text("SELECT worker_id FROM export_jobs")))
        assert database_name is not None
        assert pgsandbox_url.endswith(f"/{database_name}")
        assert claimed_by == {f"{_host()}:{worker.pid}"}


@database
@pytest.mark.usefixtures("latex_tools")
class TestTeardown:
    """The fixture's finalizer stops every worker it started, whatever else fails."""

    async def test_unreadable_log_does_not_stop_the_teardown(
        self, pgsandbox_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A worker's log file is gone: both workers still stop, and the report says why."""
        workers = ExportWorkers(pgsandbox_url, tmp_path)
        try:
            first = await workers.start()
            second = await workers.start()
            first.log_path.unlink()
        finally:
            await workers.close()
        assert (first.process.returncode, second.process.returncode) == (0, 0)
        assert _gone(first.pid)
        assert _gone(second.pid)
        assert f"<log {first.log_path} unreadable" in capsys.readouterr().out

    async def test_a_failing_stop_does_not_leave_the_others_running(
        self, pgsandbox_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Stopping one worker raises: it is killed, the next one stopped, then the error."""
        workers = ExportWorkers(pgsandbox_url, tmp_path)
        try:
            first = await workers.start()
            second = await workers.start()
        except BaseException:
            await workers.close()
            raise

        async def broken_stop(**_: object) -> int:
            raise OSError("cannot signal")

        monkeypatch.setattr(first, "stop", broken_stop)
        with pytest.raises(BaseExceptionGroup) as raised:
            await workers.close()
        assert [type(error) for error in raised.value.exceptions] == [OSError]
        assert await first.process.wait() == -signal.SIGKILL
        assert second.process.returncode == 0
        assert _gone(first.pid)
        assert _gone(second.pid)


class TestWorkerConfiguration:
    def test_rejects_unworkable_settings(self) -> None:
        """A heartbeat not shorter than the lease, or no concurrency, is refused."""
        url = "postgresql+asyncpg://u@h/db"
        with pytest.raises(ValueError, match="heartbeat_interval"):
            WorkerConfig(database_url=url, lease_seconds=5, heartbeat_interval=5)
        with pytest.raises(ValueError, match="concurrency"):
            WorkerConfig(database_url=url, concurrency=0)

    def test_asyncpg_dsn_drops_the_driver(self) -> None:
        """asyncpg gets a plain postgresql:// URL with the password kept."""
        assert asyncpg_dsn("postgresql+asyncpg://u:p%40ss@h:5/db") == "postgresql://u:p%40ss@h:5/db"

    def test_renderer_must_be_importable(self) -> None:
        """A bad --renderer is a configuration error naming the problem."""
        with pytest.raises(ConfigurationError, match="must look like"):
            load_renderer("no_colon")
        with pytest.raises(ConfigurationError, match="cannot import"):
            load_renderer("glossator.no_such_module:render")
        with pytest.raises(ConfigurationError, match="not a callable"):
            load_renderer("glossator.export.queue:NOTIFY_CHANNEL")


def _gone(pid: int) -> bool:
    """Whether no process ``pid`` exists any more (exited and reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _host() -> str:
    return socket.gethostname()


async def _claimed_by(job_id: int) -> str | None:
    """The job's ``worker_id`` column: internal, so the services no longer return it."""
    async with db.session() as db_session:
        worker_id: str | None = await db_session.scalar(
            text("SELECT worker_id FROM export_jobs WHERE id = :id"), {"id": job_id}
        )
    return worker_id


async def _wait_for_compilation(root: Path) -> None:
    """Wait until a latexmk of a worker whose temporary folder is ``root`` runs."""
    deadline = time.monotonic() + scaled(EVENT_TIMEOUT)
    while not compilation_processes(root):
        if time.monotonic() > deadline:
            pytest.fail(f"no compilation started under {root}")
        await asyncio.sleep(0.02)
