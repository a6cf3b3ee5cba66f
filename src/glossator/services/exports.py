"""Exports: ask for a document's annotated PDF, follow the job, fetch the result.

The services only touch the queue; the PDF is made by ``glossator worker`` (see
:mod:`glossator.export`). A caller requests an export, then polls :func:`get_export`
until :attr:`ExportRecord.finished`, and fetches the PDF with :func:`get_export_pdf`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from glossator import db
from glossator.db.models import Document, ExportJob, ExportJobStatus, Highlight, User
from glossator.errors import Conflict, NotFound, PermissionDenied, ValidationError
from glossator.export import queue as job_queue
from glossator.export.limits import ExportTooLarge, check_export_size, highlighted_characters
from glossator.services._access import can_access_workspace
from glossator.services._common import get_or_raise

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["ExportRecord", "cancel_export", "get_export", "get_export_pdf", "request_export"]

_FINAL = frozenset({ExportJobStatus.DONE, ExportJobStatus.FAILED, ExportJobStatus.CANCELLED})


@dataclasses.dataclass(frozen=True, slots=True)
class ExportRecord:
    """An export job as the services return it (without the PDF's bytes).

    Attributes:
        id: The job's id.
        document_id: The exported document.
        requested_by_id: Who asked for it.
        queue: The queue it is on.
        status: queued, running, done, failed or cancelled.
        attempts: Attempts started so far (a shutdown gives its attempt back).
        max_attempts: Attempts allowed before it fails for good.
        last_error: Why the last attempt failed, if it did, in words for users: every
            viewer of the document sees it, so it names no worker, host, path or LaTeX
            log line (those are in the worker's log).
        result_sha256: SHA-256 (hex) of the PDF, once done.
        result_size: Size of the PDF in bytes, once done.
        created_at: When it was requested.
        started_at: When the last attempt started.
        finished_at: When it reached its final status.
    """

    id: int
    document_id: int
    requested_by_id: int
    queue: str
    status: ExportJobStatus
    attempts: int
    max_attempts: int
    last_error: str | None
    result_sha256: str | None
    result_size: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def finished(self) -> bool:
        """Whether the job reached a final status (done, failed or cancelled)."""
        return self.status in _FINAL


async def request_export(
    document_id: int, user_id: int, *, queue: str = job_queue.DEFAULT_QUEUE, max_attempts: int = 3
) -> int:
    """Queue an export of a document as an annotated PDF.

    The job is committed together with a NOTIFY that wakes the workers of ``queue``.

    Args:
        document_id: The document.
        user_id: Who asks; they must be allowed to see the document's workspace (owner, or
            tutor/instructor of its course), as for highlights.
        queue: The queue for the job.
        max_attempts: Attempts before the job ends as failed.

    Returns:
        The job's id; follow it with :func:`get_export`.

    Raises:
        NotFound: The document or the user does not exist.
        PermissionDenied: The user may not see the document.
        ValidationError: ``max_attempts`` is below 1 or ``queue`` is empty or too long,
            or the document is too large to export (the message says why and what to do;
            see :mod:`glossator.export.limits`).
    """
    if max_attempts < 1:
        raise ValidationError(f"max_attempts must be at least 1, got {max_attempts}")
    if not queue or len(queue) > 64:
        raise ValidationError("queue must be 1 to 64 characters long")
    async with db.session() as db_session:
        workspace_id = await db_session.scalar(
            select(Document.workspace_id).where(Document.id == document_id)
        )
        if workspace_id is None:
            raise NotFound("document", document_id)
        await get_or_raise(db_session, User, user_id, "user")
        if not await can_access_workspace(db_session, user_id, workspace_id):
            raise PermissionDenied(
                f"user {user_id} may not export documents of workspace {workspace_id}"
            )
        await _check_size(db_session, document_id)
        job_id = await job_queue.enqueue(
            db_session, document_id, user_id, queue=queue, max_attempts=max_attempts
        )
        await db_session.commit()
    return job_id


async def _check_size(db_session: AsyncSession, document_id: int) -> None:
    """Refuse a document too large to export, before a worker tries (4xx, not a failed job)."""
    text_length = await db_session.scalar(
        select(func.char_length(Document.plain_text)).where(Document.id == document_id)
    )
    rows = (
        await db_session.execute(
            select(
                Highlight.start_offset,
                Highlight.end_offset,
                func.coalesce(func.length(Highlight.comment), 0),
            ).where(Highlight.document_id == document_id)
        )
    ).all()
    try:
        check_export_size(
            text_length=text_length or 0,
            comment_characters=sum(row[2] for row in rows),
            highlighted=highlighted_characters(
                ((row[0], row[1]) for row in rows), text_length or 0
            ),
            highlight_count=len(rows),
        )
    except ExportTooLarge as error:
        raise ValidationError(str(error)) from None


async def get_export(job_id: int, *, user_id: int | None = None) -> ExportRecord:
    """The current state of an export job.

    Args:
        job_id: The job.
        user_id: When given, the user must be allowed to see the job's document (the rule
            of :func:`request_export`); ``None`` skips the check (trusted callers, tests).

    Raises:
        NotFound: There is no such job.
        PermissionDenied: ``user_id`` may not see it.
    """
    async with db.session() as db_session:
        return await _record(db_session, job_id, user_id)


async def get_export_pdf(job_id: int, *, user_id: int | None = None) -> bytes:
    """The PDF of a finished export, checked against its stored SHA-256.

    Raises:
        NotFound: There is no such job.
        PermissionDenied: ``user_id`` may not see it.
        Conflict: The job is not done (yet), or its stored PDF does not match its checksum.
    """
    async with db.session() as db_session:
        record = await _record(db_session, job_id, user_id)
        if record.status is not ExportJobStatus.DONE:
            raise Conflict(f"export {job_id} is {record.status.value}, not done; no PDF to fetch")
        pdf = await db_session.scalar(select(ExportJob.result).where(ExportJob.id == job_id))
    if pdf is None or hashlib.sha256(pdf).hexdigest() != record.result_sha256:
        raise Conflict(f"export {job_id}'s stored PDF does not match its SHA-256")
    return pdf


async def cancel_export(job_id: int, *, user_id: int | None = None) -> ExportRecord:
    """Cancel an export that has not finished; a running worker abandons it at its next heartbeat.

    Cancelling a cancelled job changes nothing.

    Raises:
        NotFound: There is no such job.
        PermissionDenied: ``user_id`` may not see it.
        Conflict: The job is done or failed already.
    """
    async with db.session() as db_session:
        await _record(db_session, job_id, user_id)
        status = await job_queue.cancel(db_session, job_id)
        if status in (ExportJobStatus.DONE, ExportJobStatus.FAILED):
            raise Conflict(f"export {job_id} is {status.value} already; it cannot be cancelled")
        await db_session.commit()
        return await _record(db_session, job_id, None)


async def _record(db_session: AsyncSession, job_id: int, user_id: int | None) -> ExportRecord:
    row = (
        await db_session.execute(
            select(
                ExportJob.id,
                ExportJob.document_id,
                ExportJob.requested_by_id,
                ExportJob.queue,
                ExportJob.status,
                ExportJob.attempts,
                ExportJob.max_attempts,
                ExportJob.last_error,
                ExportJob.result_sha256,
                func.octet_length(ExportJob.result).label("result_size"),
                ExportJob.created_at,
                ExportJob.started_at,
                ExportJob.finished_at,
                Document.workspace_id,
            )
            .join(Document, Document.id == ExportJob.document_id)
            .where(ExportJob.id == job_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("export", job_id)
    # The document's access rule, not "who asked": a tutor who left the course loses the PDF.
    if user_id is not None and not await can_access_workspace(
        db_session, user_id, row.workspace_id
    ):
        raise PermissionDenied(f"user {user_id} may not see export {job_id}")
    fields = row._asdict()
    del fields["workspace_id"]
    return ExportRecord(**fields)
