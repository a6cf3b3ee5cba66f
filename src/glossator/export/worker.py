"""The export worker: takes jobs from the PostgreSQL queue and turns them into PDFs.

``glossator worker`` runs one :class:`ExportWorker`. It

* waits for work on a dedicated asyncpg connection that LISTENs to
  :data:`~glossator.export.queue.NOTIFY_CHANNEL`, and also polls every
  ``poll_interval`` seconds, so a lost notification (or a dropped connection) only
  delays a job;
* runs up to ``concurrency`` jobs at once, each under a lease it renews every
  ``heartbeat_interval`` seconds; when renewal fails (the job was cancelled, or the
  lease ran out and another worker took it over) it abandons the job and kills latexmk;
* on a failed attempt puts the job back after ``retry_delay * 2**(attempt-1)`` seconds,
  or fails it for good after ``max_attempts``;
* on :meth:`ExportWorker.request_stop` (SIGTERM, SIGINT) stops claiming, lets running
  jobs finish for ``grace_period`` seconds, then cancels the rest and gives them back
  to the queue without counting the attempt;
* logs every job's outcome and duration as a JSON line (``job.done``, ``job.retry``,
  ``job.failed``, ``job.abandoned``, ``job.released``); the details of a failure
  (exception, LaTeX log lines) are in this log only, the job row keeps a message for users;
* when it starts, makes itself its compilations' subreaper and removes what workers
  killed with SIGKILL left behind (:func:`~glossator.export.compile.sweep_leftovers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from glossator import db
from glossator.db.models import ExportJobStatus
from glossator.export import queue as job_queue
from glossator.export._logging import log_event
from glossator.export.compile import LatexError, become_subreaper, sweep_leftovers
from glossator.export.latex import render_latex
from glossator.export.limits import ExportTooLarge, user_message
from glossator.export.pipeline import Renderer, export_document

__all__ = ["ExportWorker", "WorkerConfig", "asyncpg_dsn"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How a worker behaves; the ``glossator worker`` flags of the same names set it.

    Attributes:
        database_url: The database (SQLAlchemy asyncpg URL); used for the LISTEN connection.
        queue: The queue to take jobs from.
        concurrency: Jobs run at the same time.
        poll_interval: Seconds between looks at the queue when no notification comes.
        lease_seconds: How long a claimed job stays this worker's without a heartbeat.
        heartbeat_interval: Seconds between lease renewals (well below ``lease_seconds``).
        compile_time_limit: Seconds latexmk may run for one job.
        retry_delay: Seconds before the first retry of a failed attempt; doubles each time.
        grace_period: Seconds running jobs get to finish after a stop request.
        listen: Whether to LISTEN for notifications (``False``: poll only).
        worker_id: Recorded on the jobs this worker claims.
        renderer: Makes the LaTeX for a document.
    """

    database_url: str
    queue: str = job_queue.DEFAULT_QUEUE
    concurrency: int = 1
    poll_interval: float = 5.0
    lease_seconds: float = 60.0
    heartbeat_interval: float = 15.0
    compile_time_limit: float = 120.0
    retry_delay: float = 5.0
    grace_period: float = 30.0
    listen: bool = True
    worker_id: str = dataclasses.field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}"
    )
    renderer: Renderer = render_latex

    def __post_init__(self) -> None:
        """Reject settings a worker cannot run with."""
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if not 0 < self.heartbeat_interval < self.lease_seconds:
            raise ValueError(
                f"heartbeat_interval ({self.heartbeat_interval}) must be positive and shorter "
                f"than lease_seconds ({self.lease_seconds}), or leases expire while jobs run"
            )
        for name in ("poll_interval", "compile_time_limit"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("retry_delay", "grace_period"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")


def asyncpg_dsn(database_url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg takes, from a SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclasses.dataclass(slots=True)
class _Running:
    job: job_queue.ClaimedJob
    started: float
    settled: bool = False  # its outcome is recorded; nothing to give back on shutdown


class ExportWorker:
    """Takes export jobs from one queue and runs them; see the module docstring."""

    def __init__(self, config: WorkerConfig) -> None:
        """Prepare a worker; nothing connects before :meth:`run`."""
        self.config = config
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running: dict[asyncio.Task[None], _Running] = {}
        self._listener: Any = None  # asyncpg.Connection (asyncpg ships no type hints)

    def request_stop(self) -> None:
        """Stop claiming jobs; :meth:`run` returns once running jobs are settled."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Work until :meth:`request_stop`, then shut down gracefully."""
        config = self.config
        # Orphaned pdflatex processes (latexmk killed first) become this worker's to reap.
        subreaper = become_subreaper()
        # What workers killed with SIGKILL left: their latexmk still running, their folders.
        swept = await asyncio.to_thread(sweep_leftovers)
        if swept:
            log_event(
                logger, "worker.swept", folders=[str(path) for path in swept], count=len(swept)
            )
        await self._connect_listener()
        log_event(
            logger,
            "worker.ready",
            subreaper=subreaper,
            worker_id=config.worker_id,
            queue=config.queue,
            concurrency=config.concurrency,
            listening=self._listener is not None,
            pid=os.getpid(),
        )
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                await self._fill_slots()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(config.poll_interval):
                        await self._wake.wait()
                if config.listen and self._listener is None:
                    await self._connect_listener()
        finally:
            await self._shut_down()

    # ------------------------------------------------------------------ claiming

    async def _fill_slots(self) -> None:
        config = self.config
        try:
            while len(self._running) < config.concurrency and not self._stopping.is_set():
                async with db.session() as db_session:
                    for job_id in await job_queue.fail_expired(db_session, queue=config.queue):
                        log_event(logger, "job.failed", job_id=job_id, reason="lease expired")
                    job = await job_queue.claim(
                        db_session,
                        queue=config.queue,
                        worker_id=config.worker_id,
                        lease_seconds=config.lease_seconds,
                    )
                    await db_session.commit()
                if job is None:
                    return
                log_event(
                    logger,
                    "job.claimed",
                    job_id=job.id,
                    document_id=job.document_id,
                    attempt=job.attempt,
                    max_attempts=job.max_attempts,
                )
                running = _Running(job=job, started=time.monotonic())
                task = asyncio.create_task(self._process(running), name=f"export-job-{job.id}")
                self._running[task] = running
                task.add_done_callback(self._job_task_done)
        except (DBAPIError, OSError) as error:
            log_event(logger, "worker.db_error", level=logging.WARNING, error=str(error))

    def _job_task_done(self, task: asyncio.Task[None]) -> None:
        running = self._running.pop(task, None)
        self._wake.set()  # a slot is free
        if not task.cancelled() and (error := task.exception()) is not None:
            # Recording the outcome failed (database gone?): the lease runs out and the
            # job is retried; say so instead of leaving asyncio to complain.
            log_event(
                logger,
                "job.crashed",
                level=logging.ERROR,
                job_id=running.job.id if running else None,
                error=f"{type(error).__name__}: {error}",
            )

    async def _connect_listener(self) -> None:
        if not self.config.listen:
            return
        import asyncpg

        try:
            connection = await asyncpg.connect(asyncpg_dsn(self.config.database_url))
            await connection.add_listener(job_queue.NOTIFY_CHANNEL, self._on_notify)
            connection.add_termination_listener(self._on_listener_lost)
        except (OSError, asyncpg.PostgresError) as error:
            log_event(logger, "worker.listen_failed", level=logging.WARNING, error=str(error))
            return
        self._listener = connection

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.config.queue:
            self._wake.set()

    def _on_listener_lost(self, _connection: object) -> None:
        log_event(logger, "worker.listen_lost", level=logging.WARNING)
        self._listener = None

    # ------------------------------------------------------------------ one job

    async def _process(self, running: _Running) -> None:
        """Run one job under its lease and record the outcome."""
        job = running.job
        work = asyncio.create_task(
            export_document(
                job.document_id,
                renderer=self.config.renderer,
                compile_time_limit=self.config.compile_time_limit,
            )
        )
        lost = asyncio.Event()
        heartbeat = asyncio.create_task(self._keep_lease(job, work, lost))
        try:
            try:
                pdf = await work
            except asyncio.CancelledError:
                if not lost.is_set():
                    raise  # shutting down: run() gives the job back
                running.settled = True
                self._log_outcome("job.abandoned", running, reason="cancelled or lease lost")
                return
            except Exception as error:  # every failure (LaTeX, missing document) is an outcome
                await self._record_failure(running, error)
                return
            async with db.session() as db_session:
                stored = await job_queue.complete(db_session, job, pdf)
                await db_session.commit()
            running.settled = True
            if stored:
                self._log_outcome("job.done", running, bytes=len(pdf))
            else:
                self._log_outcome("job.abandoned", running, reason="cancelled or lease lost")
        finally:
            heartbeat.cancel()
            work.cancel()
            await asyncio.gather(heartbeat, work, return_exceptions=True)

    async def _keep_lease(
        self, job: job_queue.ClaimedJob, work: asyncio.Task[bytes], lost: asyncio.Event
    ) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            try:
                async with db.session() as db_session:
                    ours = await job_queue.extend_lease(
                        db_session, job, lease_seconds=self.config.lease_seconds
                    )
                    await db_session.commit()
            except (DBAPIError, OSError) as error:
                # The lease may still hold; if it runs out, complete() will refuse.
                log_event(
                    logger,
                    "job.heartbeat_failed",
                    level=logging.WARNING,
                    job_id=job.id,
                    error=str(error),
                )
                continue
            if not ours:
                lost.set()
                work.cancel()
                return

    async def _record_failure(self, running: _Running, error: Exception) -> None:
        job = running.job
        # The details (LaTeX log lines, exception) stay in this worker's log; the job row,
        # which every viewer of the export sees, gets a message for users only.
        details = (
            str(error) if isinstance(error, LatexError) else f"{type(error).__name__}: {error}"
        )
        message = user_message(error)
        delay = self.config.retry_delay * 2 ** (job.attempt - 1)
        async with db.session() as db_session:
            status = await job_queue.fail_attempt(
                db_session,
                job,
                message,
                retry_delay_seconds=delay,
                give_up=isinstance(error, ExportTooLarge),
            )
            await db_session.commit()
        running.settled = True
        if status is None:
            self._log_outcome("job.abandoned", running, reason="cancelled or lease lost")
        elif status is ExportJobStatus.FAILED:
            self._log_outcome(
                "job.failed", running, level=logging.ERROR, error=details, message=message
            )
        else:
            self._log_outcome(
                "job.retry",
                running,
                level=logging.WARNING,
                error=details,
                message=message,
                retry_in_s=delay,
            )

    def _log_outcome(self, event: str, running: _Running, **fields: Any) -> None:
        job = running.job
        log_event(
            logger,
            event,
            job_id=job.id,
            document_id=job.document_id,
            attempt=job.attempt,
            duration_ms=round((time.monotonic() - running.started) * 1000),
            worker_id=self.config.worker_id,
            **fields,
        )

    # ------------------------------------------------------------------ shutdown

    async def _shut_down(self) -> None:
        tasks = list(self._running)
        log_event(logger, "worker.stopping", running_jobs=len(tasks))
        snapshot = dict(self._running)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.config.grace_period)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for running in snapshot.values():
                if not running.settled:
                    await self._give_back(running)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
        await db.dispose_engines()
        log_event(logger, "worker.stopped")

    async def _give_back(self, running: _Running) -> None:
        try:
            async with db.session() as db_session:
                released = await job_queue.release(db_session, running.job)
                await db_session.commit()
        except (DBAPIError, OSError) as error:
            # The lease runs out and another worker retries the job (counting the attempt).
            log_event(
                logger,
                "job.release_failed",
                level=logging.WARNING,
                job_id=running.job.id,
                error=str(error),
            )
            return
        if released:
            self._log_outcome("job.released", running)
