"""The export queue: SQL over the ``export_jobs`` table, for the worker and the services.

Every function takes the caller's ``AsyncSession`` and leaves committing to it, so an
enqueue joins the transaction of the request that made it (and its NOTIFY is delivered
only if that transaction commits), and tests run the queue inside pgsandbox's sandbox.

Life of a job::

    queued ──claim──▶ running ──complete──▶ done
      ▲                 │ │
      │   fail_attempt  │ └──fail_attempt (last attempt)──▶ failed
      └──(back-off)─────┤
      └──release────────┘   (worker shutting down: the attempt is given back)
    queued/running ──cancel──▶ cancelled

A claim counts an attempt and sets a lease; the worker extends the lease with
:func:`extend_lease` while it works. A running job whose lease ran out (its worker was
killed) is claimed again, or failed by :func:`fail_expired` once it used all its
attempts. ``attempts`` is the fencing token: :func:`complete`, :func:`fail_attempt`,
:func:`release` and :func:`extend_lease` change a job only while the attempt the caller
claimed is the current one and the job still runs, so a worker that lost its lease can
never finish a job that another worker took over.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Final

from sqlalchemy import text

from glossator.db.models import ExportJob, ExportJobStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "DEFAULT_QUEUE",
    "NOTIFY_CHANNEL",
    "ClaimedJob",
    "cancel",
    "claim",
    "complete",
    "enqueue",
    "extend_lease",
    "fail_attempt",
    "fail_expired",
    "release",
]

#: Channel of the NOTIFY sent on enqueue; the payload is the queue's name.
NOTIFY_CHANNEL: Final = "glossator_export_jobs"
#: The queue a job goes to unless told otherwise.
DEFAULT_QUEUE: Final = "default"


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job a worker claimed: what it needs to do the work and to report back.

    Attributes:
        id: The job's id.
        document_id: The document to export.
        attempt: Which attempt this is (1 for the first); the fencing token.
        max_attempts: How many attempts the job may use.
        queue: The queue it came from.
    """

    id: int
    document_id: int
    attempt: int
    max_attempts: int
    queue: str

    @property
    def is_last_attempt(self) -> bool:
        """Whether a failure of this attempt fails the job for good."""
        return self.attempt >= self.max_attempts


async def enqueue(
    db_session: AsyncSession,
    document_id: int,
    requested_by_id: int,
    *,
    queue: str = DEFAULT_QUEUE,
    max_attempts: int = 3,
) -> int:
    """Add a job to the queue and notify the workers, inside the caller's transaction.

    Args:
        db_session: The session of the request; the job exists (and the NOTIFY is sent)
            only when the caller commits it.
        document_id: The document to export.
        requested_by_id: The user asking for it.
        queue: The queue the job goes to; only workers of that queue take it.
        max_attempts: Attempts before the job ends as failed (at least 1).

    Returns:
        The new job's id.
    """
    job = ExportJob(
        document_id=document_id,
        requested_by_id=requested_by_id,
        queue=queue,
        max_attempts=max_attempts,
    )
    db_session.add(job)
    await db_session.flush()
    await db_session.execute(
        text("SELECT pg_notify(:channel, :queue)"), {"channel": NOTIFY_CHANNEL, "queue": queue}
    )
    return job.id


_CLAIM: Final = text(
    """
    UPDATE export_jobs
    SET status = 'running',
        attempts = attempts + 1,
        lease_until = now() + make_interval(secs => :lease_seconds),
        worker_id = :worker_id,
        started_at = now(),
        finished_at = NULL,
        -- Taking over an expired lease: say what happened to the previous attempt.
        -- Users read last_error: no worker names (the workers' logs have them).
        last_error = CASE WHEN status = 'running'
            THEN 'Attempt ' || attempts || ' was interrupted (the export worker stopped); '
                 || 'trying again.'
            ELSE last_error END,
        updated_at = now()
    WHERE id = (
        SELECT id FROM export_jobs
        WHERE queue = :queue
          AND ((status = 'queued' AND run_after <= now())
               OR (status = 'running' AND lease_until < now() AND attempts < max_attempts))
        ORDER BY id
        FOR UPDATE SKIP LOCKED
        LIMIT 1
    )
    RETURNING id, document_id, attempts, max_attempts, queue
    """
)


async def claim(
    db_session: AsyncSession, *, queue: str, worker_id: str, lease_seconds: float
) -> ClaimedJob | None:
    """Take the oldest claimable job of ``queue``: queued and due, or with an expired lease.

    Concurrent claims never block each other and never take the same job
    (``FOR UPDATE SKIP LOCKED``). Commit right after, so the lease becomes visible.

    Args:
        db_session: A session; the caller commits.
        queue: Which queue to take from.
        worker_id: Who takes it, recorded for diagnostics.
        lease_seconds: How long the job is the worker's without :func:`extend_lease`.

    Returns:
        The job, or ``None`` when nothing is claimable.
    """
    row = (
        await db_session.execute(
            _CLAIM,
            {"queue": queue, "worker_id": worker_id, "lease_seconds": lease_seconds},
        )
    ).one_or_none()
    if row is None:
        return None
    return ClaimedJob(
        id=row.id,
        document_id=row.document_id,
        attempt=row.attempts,
        max_attempts=row.max_attempts,
        queue=row.queue,
    )


async def fail_expired(db_session: AsyncSession, *, queue: str) -> list[int]:
    """Fail running jobs whose lease ran out on their last attempt (their worker died).

    Args:
        db_session: A session; the caller commits.
        queue: Which queue to look at.

    Returns:
        The ids of the jobs failed.
    """
    result = await db_session.execute(
        text(
            """
            UPDATE export_jobs
            SET status = 'failed', lease_until = NULL, finished_at = now(), updated_at = now(),
                last_error = 'Attempt ' || attempts || ' of ' || max_attempts
                             || ' was interrupted (the export worker stopped); no attempts '
                             || 'are left. Please request the export again.'
            WHERE queue = :queue AND status = 'running' AND lease_until < now()
              AND attempts >= max_attempts
            RETURNING id
            """
        ),
        {"queue": queue},
    )
    return list(result.scalars())


_STILL_OURS: Final = "id = :id AND status = 'running' AND attempts = :attempt"


async def extend_lease(db_session: AsyncSession, job: ClaimedJob, *, lease_seconds: float) -> bool:
    """Push the job's lease ``lease_seconds`` into the future (the worker's heartbeat).

    Returns:
        ``False`` when the job is no longer this attempt's: cancelled, or taken over after
        the lease ran out. The worker should then stop working on it.
    """
    result = await db_session.execute(
        text(
            "UPDATE export_jobs SET lease_until = now() + make_interval(secs => :lease_seconds),"
            f" updated_at = now() WHERE {_STILL_OURS} RETURNING id"
        ),
        {"id": job.id, "attempt": job.attempt, "lease_seconds": lease_seconds},
    )
    return result.one_or_none() is not None


async def complete(db_session: AsyncSession, job: ClaimedJob, pdf: bytes) -> bool:
    """Store the PDF and its SHA-256 and mark the job done, if the attempt is still current.

    Returns:
        ``False`` (and nothing stored) when the job is no longer this attempt's.
    """
    result = await db_session.execute(
        text(
            "UPDATE export_jobs SET status = 'done', result = :pdf, result_sha256 = :sha256,"
            " lease_until = NULL, finished_at = now(), updated_at = now()"
            f" WHERE {_STILL_OURS} RETURNING id"
        ),
        {
            "id": job.id,
            "attempt": job.attempt,
            "pdf": pdf,
            "sha256": hashlib.sha256(pdf).hexdigest(),
        },
    )
    return result.one_or_none() is not None


async def fail_attempt(
    db_session: AsyncSession,
    job: ClaimedJob,
    error: str,
    *,
    retry_delay_seconds: float,
    give_up: bool = False,
) -> ExportJobStatus | None:
    """Record a failed attempt: back to the queue after a delay, or failed if it was the last.

    Args:
        db_session: A session; the caller commits.
        job: The claimed job.
        error: What went wrong, for the user (kept in ``last_error``, which every viewer
            of the job sees: no host names, paths or logs).
        retry_delay_seconds: How long the job waits before it may be claimed again.
        give_up: Fail the job for good even if attempts are left (retrying cannot help,
            e.g. the document is too large).

    Returns:
        The job's new status (queued or failed), or ``None`` when the job is no longer
        this attempt's.
    """
    result = await db_session.execute(
        text(
            "UPDATE export_jobs SET"
            " status = CAST(CASE WHEN attempts >= max_attempts OR :give_up"
            "   THEN 'failed' ELSE 'queued' END AS export_job_status),"
            " finished_at = CASE WHEN attempts >= max_attempts OR :give_up THEN now() END,"
            " run_after = now() + make_interval(secs => :delay),"
            " lease_until = NULL, last_error = :error, updated_at = now()"
            f" WHERE {_STILL_OURS} RETURNING status"
        ),
        {
            "id": job.id,
            "attempt": job.attempt,
            "error": error,
            "delay": retry_delay_seconds,
            "give_up": give_up,
        },
    )
    status = result.scalar_one_or_none()
    return None if status is None else ExportJobStatus(status)


async def release(db_session: AsyncSession, job: ClaimedJob) -> bool:
    """Give an unfinished job back to the queue without counting the attempt (shutdown).

    Returns:
        ``False`` when the job is no longer this attempt's (nothing to give back).
    """
    result = await db_session.execute(
        text(
            "UPDATE export_jobs SET status = 'queued', attempts = attempts - 1,"
            " lease_until = NULL, run_after = now(), worker_id = NULL, started_at = NULL,"
            f" updated_at = now() WHERE {_STILL_OURS} RETURNING id"
        ),
        {"id": job.id, "attempt": job.attempt},
    )
    released = result.one_or_none() is not None
    if released:
        # Wake another worker (it may be running already while this one shuts down).
        await db_session.execute(
            text("SELECT pg_notify(:channel, :queue)"),
            {"channel": NOTIFY_CHANNEL, "queue": job.queue},
        )
    return released


async def cancel(db_session: AsyncSession, job_id: int) -> ExportJobStatus | None:
    """Cancel a queued or running job (a running one's worker notices at its next heartbeat).

    Returns:
        The job's status after the call: cancelled, or the final status it had already;
        ``None`` when there is no such job.
    """
    cancelled = await db_session.execute(
        text(
            "UPDATE export_jobs SET status = 'cancelled', lease_until = NULL,"
            " finished_at = now(), updated_at = now()"
            " WHERE id = :id AND status IN ('queued', 'running') RETURNING status"
        ),
        {"id": job_id},
    )
    status = cancelled.scalar_one_or_none()
    if status is None:
        status = await db_session.scalar(
            text("SELECT status FROM export_jobs WHERE id = :id"), {"id": job_id}
        )
    return None if status is None else ExportJobStatus(status)
