"""The export queue and the export services, in-process against PostgreSQL.

Most tests run in pgsandbox's default rolled-back transaction, where ``now()`` stands
still: an expired lease is made by moving ``lease_until`` into the past, not by waiting.
Concurrency (SKIP LOCKED) and NOTIFY need real commits: those use ``database`` isolation.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

import asyncpg
import pytest
from sqlalchemy import select, text, update

from glossator import db, services
from glossator.db.models import ExportJob, ExportJobStatus
from glossator.errors import Conflict, NotFound, PermissionDenied, ValidationError
from glossator.export import queue as job_queue
from glossator.export.worker import asyncpg_dsn

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

LEASE = 30.0


async def _claim(queue: str = "default", worker_id: str = "w1") -> job_queue.ClaimedJob | None:
    async with db.session() as db_session:
        job = await job_queue.claim(
            db_session, queue=queue, worker_id=worker_id, lease_seconds=LEASE
        )
        await db_session.commit()
    return job


async def _expire_lease(job_id: int) -> None:
    async with db.session() as db_session:
        await db_session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id)
            .values(lease_until=text("now() - interval '1 second'"))
        )
        await db_session.commit()


async def _worker_of(job_id: int) -> str | None:
    """The job's ``worker_id`` column (internal: the services do not return it)."""
    async with db.session() as db_session:
        worker_id: str | None = await db_session.scalar(
            select(ExportJob.worker_id).where(ExportJob.id == job_id)
        )
    return worker_id


class TestRequestExport:
    async def test_owner_queues_a_job(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """The workspace's owner gets a queued job with no attempt made yet."""
        job_id = await services.request_export(document.id, student.id)
        record = await services.get_export(job_id, user_id=student.id)
        assert (record.status, record.attempts, record.max_attempts) == (
            ExportJobStatus.QUEUED,
            0,
            3,
        )
        assert (record.document_id, record.requested_by_id, record.queue) == (
            document.id,
            student.id,
            "default",
        )
        assert not record.finished
        assert record.result_sha256 is None

    async def test_tutor_of_the_course_may_export(
        self, document: services.DocumentRecord, tutor: services.UserRecord
    ) -> None:
        """A tutor of the workspace's course may export, as they may annotate."""
        job_id = await services.request_export(document.id, tutor.id)
        assert (await services.get_export(job_id, user_id=tutor.id)).id == job_id

    async def test_outsider_is_refused(self, document: services.DocumentRecord) -> None:
        """Someone who may not see the workspace can neither export nor look at an export."""
        outsider = await services.find_or_create_user("out@example.org", "Out Sider")
        with pytest.raises(PermissionDenied):
            await services.request_export(document.id, outsider.id)
        owner_id = (await services.get_workspace(document.workspace_id)).owner_id
        job_id = await services.request_export(document.id, owner_id)
        with pytest.raises(PermissionDenied):
            await services.get_export(job_id, user_id=outsider.id)
        with pytest.raises(PermissionDenied):
            await services.cancel_export(job_id, user_id=outsider.id)

    async def test_unknown_document_user_and_job(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """Unknown ids raise NotFound; a bad attempt limit raises ValidationError."""
        with pytest.raises(NotFound):
            await services.request_export(10**9, student.id)
        with pytest.raises(NotFound):
            await services.request_export(document.id, 10**9)
        with pytest.raises(NotFound):
            await services.get_export(10**9)
        with pytest.raises(ValidationError):
            await services.request_export(document.id, student.id, max_attempts=0)


class TestClaim:
    async def test_claims_oldest_first_and_counts_the_attempt(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """Jobs are claimed in order; a claim makes the job running with attempt 1."""
        first = await services.request_export(document.id, student.id)
        second = await services.request_export(document.id, student.id)
        claimed = [await _claim(), await _claim(), await _claim()]
        assert [job.id if job else None for job in claimed] == [first, second, None]
        record = await services.get_export(first)
        assert (record.status, record.attempts) == (ExportJobStatus.RUNNING, 1)
        assert await _worker_of(first) == "w1"
        assert record.started_at is not None

    async def test_only_the_workers_queue(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A worker takes jobs of its own queue only."""
        job_id = await services.request_export(document.id, student.id, queue="bulk")
        assert await _claim(queue="default") is None
        claimed = await _claim(queue="bulk")
        assert claimed is not None
        assert claimed.id == job_id

    async def test_expired_lease_is_claimed_again_with_a_note(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A running job whose lease ran out goes to the next claimer as attempt 2."""
        job_id = await services.request_export(document.id, student.id)
        assert await _claim(worker_id="dead") is not None
        assert await _claim() is None  # the lease holds
        await _expire_lease(job_id)
        retried = await _claim(worker_id="alive")
        assert retried is not None
        assert (retried.id, retried.attempt) == (job_id, 2)
        record = await services.get_export(job_id)
        # Every viewer reads last_error: it says what happened, naming no worker.
        assert record.last_error == (
            "Attempt 1 was interrupted (the export worker stopped); trying again."
        )

    async def test_expired_last_attempt_fails_the_job(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A job whose last attempt's lease ran out ends failed, with the reason kept."""
        job_id = await services.request_export(document.id, student.id, max_attempts=1)
        assert await _claim(worker_id="dead") is not None
        await _expire_lease(job_id)
        async with db.session() as db_session:
            assert await job_queue.fail_expired(db_session, queue="default") == [job_id]
            await db_session.commit()
        assert await _claim() is None
        record = await services.get_export(job_id)
        assert record.status is ExportJobStatus.FAILED
        assert record.finished_at is not None
        assert record.last_error == (
            "Attempt 1 of 1 was interrupted (the export worker stopped); no attempts are "
            "left. Please request the export again."
        )


class TestFinishing:
    async def test_complete_stores_pdf_and_checksum(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A completed job is done, with its PDF and the PDF's SHA-256."""
        job_id = await services.request_export(document.id, student.id)
        job = await _claim()
        assert job is not None
        async with db.session() as db_session:
            assert await job_queue.complete(db_session, job, b"%PDF-fake")
            await db_session.commit()
        record = await services.get_export(job_id)
        assert record.status is ExportJobStatus.DONE
        assert record.finished
        assert record.result_sha256 == hashlib.sha256(b"%PDF-fake").hexdigest()
        assert record.result_size == len(b"%PDF-fake")
        assert await services.get_export_pdf(job_id, user_id=student.id) == b"%PDF-fake"

    async def test_a_stale_attempt_cannot_finish_the_job(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """After a takeover, the old attempt can neither complete, fail, renew nor release."""
        job_id = await services.request_export(document.id, student.id)
        stale = await _claim(worker_id="slow")
        assert stale is not None
        await _expire_lease(job_id)
        current = await _claim(worker_id="fast")
        assert current is not None
        async with db.session() as db_session:
            assert not await job_queue.complete(db_session, stale, b"stale")
            assert (
                await job_queue.fail_attempt(db_session, stale, "x", retry_delay_seconds=0) is None
            )
            assert not await job_queue.extend_lease(db_session, stale, lease_seconds=LEASE)
            assert not await job_queue.release(db_session, stale)
            assert await job_queue.complete(db_session, current, b"fresh")
            await db_session.commit()
        assert await services.get_export_pdf(job_id) == b"fresh"
        assert (await services.get_export(job_id)).attempts == 2

    async def test_failed_attempts_retry_then_fail(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A failed attempt requeues the job; the last one fails it, keeping the error."""
        job_id = await services.request_export(document.id, student.id, max_attempts=2)
        statuses = []
        for attempt in (1, 2):
            job = await _claim()
            assert job is not None
            assert job.attempt == attempt
            async with db.session() as db_session:
                statuses.append(
                    await job_queue.fail_attempt(
                        db_session, job, f"boom {attempt}", retry_delay_seconds=0
                    )
                )
                await db_session.commit()
        assert statuses == [ExportJobStatus.QUEUED, ExportJobStatus.FAILED]
        record = await services.get_export(job_id)
        assert (record.status, record.attempts, record.last_error) == (
            ExportJobStatus.FAILED,
            2,
            "boom 2",
        )
        assert await _claim() is None

    async def test_retry_waits_for_its_delay(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A job put back with a delay is not claimable before the delay has passed."""
        await services.request_export(document.id, student.id)
        job = await _claim()
        assert job is not None
        async with db.session() as db_session:
            await job_queue.fail_attempt(db_session, job, "boom", retry_delay_seconds=60)
            await db_session.commit()
        assert await _claim() is None

    async def test_release_gives_the_attempt_back(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A released job is queued again and its attempt is not counted."""
        job_id = await services.request_export(document.id, student.id)
        job = await _claim()
        assert job is not None
        async with db.session() as db_session:
            assert await job_queue.release(db_session, job)
            await db_session.commit()
        record = await services.get_export(job_id)
        assert (record.status, record.attempts) == (ExportJobStatus.QUEUED, 0)
        assert await _worker_of(job_id) is None
        again = await _claim()
        assert again is not None
        assert again.attempt == 1


class TestCancel:
    async def test_cancel_queued_and_running_jobs(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """Queued and running jobs can be cancelled; the running one's worker loses it."""
        queued = await services.request_export(document.id, student.id)
        running = await services.request_export(document.id, student.id)
        await _claim()
        job = await _claim()
        assert job is not None
        assert job.id == running
        await services.cancel_export(queued, user_id=student.id)
        record = await services.cancel_export(running)
        assert record.status is ExportJobStatus.CANCELLED
        assert record.finished
        async with db.session() as db_session:
            assert not await job_queue.extend_lease(db_session, job, lease_seconds=LEASE)
            assert not await job_queue.complete(db_session, job, b"late")
        assert (await services.get_export(queued)).status is ExportJobStatus.CANCELLED
        assert (await services.cancel_export(queued)).status is ExportJobStatus.CANCELLED

    async def test_finished_jobs_cannot_be_cancelled(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """Cancelling a done job is a conflict; so is fetching a PDF that is not there."""
        job_id = await services.request_export(document.id, student.id)
        with pytest.raises(Conflict, match="queued, not done"):
            await services.get_export_pdf(job_id)
        job = await _claim()
        assert job is not None
        async with db.session() as db_session:
            await job_queue.complete(db_session, job, b"%PDF")
            await db_session.commit()
        with pytest.raises(Conflict, match="done already"):
            await services.cancel_export(job_id)
        assert (await services.get_export(job_id)).status is ExportJobStatus.DONE


@pytest.mark.pgsandbox(isolation="database")
class TestWithRealCommits:
    async def test_concurrent_claims_never_share_a_job(
        self,
        document: services.DocumentRecord,
        student: services.UserRecord,
        pgsandbox_engine: AsyncEngine,
    ) -> None:
        """Twenty claimers on separate connections take twenty different jobs (SKIP LOCKED)."""
        job_ids = {await services.request_export(document.id, student.id) for _ in range(20)}

        async def claim_on_own_connection(worker: int) -> int | None:
            async with pgsandbox_engine.connect() as connection:
                row = (
                    await connection.execute(
                        text(
                            "UPDATE export_jobs SET status = 'running', attempts = attempts + 1,"
                            " worker_id = :worker WHERE id = (SELECT id FROM export_jobs"
                            " WHERE status = 'queued' ORDER BY id FOR UPDATE SKIP LOCKED"
                            " LIMIT 1) RETURNING id, pg_sleep(0.05)"
                        ),
                        {"worker": str(worker)},
                    )
                ).one_or_none()
                await connection.commit()
            return None if row is None else int(row.id)

        claimed = await asyncio.gather(*(claim_on_own_connection(n) for n in range(20)))
        assert sorted(c for c in claimed if c is not None) == sorted(job_ids)

    async def test_claim_function_under_concurrency(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """job_queue.claim itself: concurrent sessions get distinct jobs, then nothing."""
        job_ids = {await services.request_export(document.id, student.id) for _ in range(6)}
        claimed = await asyncio.gather(*(_claim(worker_id=f"w{n}") for n in range(8)))
        got = [job.id for job in claimed if job is not None]
        assert sorted(got) == sorted(job_ids)

    async def test_notify_is_sent_on_commit_only(
        self,
        document: services.DocumentRecord,
        student: services.UserRecord,
        pgsandbox_url: str,
    ) -> None:
        """request_export wakes listeners with the queue's name once it commits."""
        listener = await asyncpg.connect(asyncpg_dsn(pgsandbox_url))
        received: asyncio.Queue[str] = asyncio.Queue()
        try:
            await listener.add_listener(
                job_queue.NOTIFY_CHANNEL, lambda *args: received.put_nowait(args[-1])
            )
            async with db.session() as db_session:
                await job_queue.enqueue(db_session, document.id, student.id, queue="bulk")
                await db_session.rollback()
            await services.request_export(document.id, student.id)
            async with asyncio.timeout(5):
                payload = await received.get()
            assert payload == "default"  # the rolled-back enqueue sent nothing
            assert received.empty()
        finally:
            await listener.close()
