"""Documents that used to break the export for good now export, or fail at once and clearly.

Issue 17 found shapes that failed every attempt with a TeX error and left the owner no way
out: a long highlighted word (``Dimension too large``), a longer unhighlighted one
(``number too big``), a comment of 210,000 characters or 14,000 backslashes (TeX's
200,000-character line buffer), 2.1 million characters without a blank line (TeX's main
memory). Each is exported here by a real worker with real latexmk, and pdftotext must show
its text. Comments longer than the service's bound are written straight to the table:
they stand for comments stored before the bound existed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from glossator import db, services
from glossator.db.models import ExportJobStatus, Highlight, SourceKind
from glossator.errors import ValidationError
from glossator.export import queue as job_queue
from glossator.export.limits import MAX_HIGHLIGHTS
from tests.integration.export_fixtures import WorkerProcess, pdf_text, wait_until_finished

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    StartWorker = Callable[..., Awaitable[WorkerProcess]]

database = pytest.mark.pgsandbox(isolation="database")


async def _document(workspace: services.WorkspaceRecord, title: str, body: str) -> int:
    record = await services.add_document(workspace.id, title, SourceKind.HTML, body, body)
    return record.id


async def _stored_comment(document_id: int, author_id: int, end: int, comment: str) -> None:
    """A highlight of ``[0, end)`` whose comment bypasses the service's length bound."""
    async with db.session() as db_session:
        db_session.add(
            Highlight(
                document_id=document_id,
                author_id=author_id,
                start_offset=0,
                end_offset=end,
                tag="note",
                comment=comment,
            )
        )
        await db_session.commit()


async def _export_text(job_id: int, worker: WorkerProcess) -> str:
    record = await wait_until_finished(job_id, worker=worker)
    assert (record.status, record.attempts) == (ExportJobStatus.DONE, 1), record.last_error
    return await pdf_text(await services.get_export_pdf(job_id))


def _numbered(prefix: str, count: int) -> str:
    return " ".join(f"{prefix}{n}" for n in range(count))


def _letters(extracted: str) -> str:
    """The text without spaces and digits (line ends and page numbers)."""
    return re.sub(r"[\s\d]", "", extracted)


def _tokens(prefix: str, extracted: str) -> list[str]:
    """The numbered tokens in reading order (page numbers and line ends fall away)."""
    return re.findall(rf"\b{prefix}\d+\b", extracted)


@database
class TestShapesThatBrokeTheExport:
    async def test_long_words_and_huge_comments_export(
        self,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
        tutor: services.UserRecord,
    ) -> None:
        """Long words, a 210,000-character comment and 14,000 backslashes all become PDFs."""
        highlighted_word = "h" * 3000
        plain_word = "p" * 35000
        words = await _document(
            workspace, "Long words", f"start {highlighted_word} middle {plain_word} end"
        )
        await services.add_highlight(words, student.id, 6, 6 + len(highlighted_word), "word")
        long_comment = _numbered("c", 32000)
        assert len(long_comment) > 210_000
        commented = await _document(workspace, "Long comment", "one two three")
        await _stored_comment(commented, tutor.id, 3, long_comment)
        backslashes = await _document(workspace, "Backslashes", "one two three")
        await _stored_comment(backslashes, tutor.id, 3, "\\" * 14000)

        worker = await start_export_worker("--concurrency", "2")
        jobs = [
            await services.request_export(document_id, student.id)
            for document_id in (words, commented, backslashes)
        ]
        # A long word is set across lines and pages: compare without the line ends and
        # the page numbers pdftotext shows in between (the words hold no digits).
        words_text = _letters(await _export_text(jobs[0], worker))
        assert f"start{highlighted_word}middle{plain_word}end" in words_text
        comment_text = await _export_text(jobs[1], worker)
        assert _tokens("c", comment_text) == long_comment.split()
        backslash_text = _letters(await _export_text(jobs[2], worker))
        assert "\\" * 14000 in backslash_text

    async def test_two_million_characters_without_a_blank_line_export(
        self,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
    ) -> None:
        """2.1 million characters, not one line break: a PDF with every word in order."""
        body = _numbered("w", 300_000)
        assert len(body) > 2_100_000
        assert "\n" not in body
        document = await _document(workspace, "One endless paragraph", body)
        worker = await start_export_worker()
        job_id = await services.request_export(document, student.id)
        assert _tokens("w", await _export_text(job_id, worker)) == body.split()


@database
class TestTooLarge:
    async def test_request_is_refused_with_a_message(
        self, workspace: services.WorkspaceRecord, student: services.UserRecord
    ) -> None:
        """Too many highlights: request_export says so, and queues nothing."""
        document = await _document(workspace, "Crowded", "x" * 100)
        await _many_highlights(document, student.id, MAX_HIGHLIGHTS + 1)
        with pytest.raises(
            ValidationError, match=f"a PDF export can show at most {MAX_HIGHLIGHTS:,}"
        ):
            await services.request_export(document, student.id)
        async with db.session() as db_session:
            assert await db_session.scalar(text("SELECT count(*) FROM export_jobs")) == 0

    async def test_worker_fails_it_at_once_without_compiling(
        self,
        start_export_worker: StartWorker,
        workspace: services.WorkspaceRecord,
        student: services.UserRecord,
    ) -> None:
        """Grown too large after it was queued: failed on the first attempt, no retries."""
        document = await _document(workspace, "Grew", "x" * 100)
        async with db.session() as db_session:
            job_id = await job_queue.enqueue(db_session, document, student.id)
            await db_session.commit()
        await _many_highlights(document, student.id, MAX_HIGHLIGHTS + 1)
        worker = await start_export_worker()
        record = await wait_until_finished(job_id, worker=worker)
        assert (record.status, record.attempts) == (ExportJobStatus.FAILED, 1)
        assert record.last_error is not None
        assert record.last_error.startswith(f"This document has {MAX_HIGHLIGHTS + 1:,} highlights")
        failed = await worker.wait_for_event("job.failed", job_id=job_id)
        assert failed["attempt"] == 1
        assert worker.events("job.retry") == []


async def _many_highlights(document_id: int, author_id: int, count: int) -> None:
    async with db.session() as db_session:
        await db_session.execute(
            text(
                "INSERT INTO highlights (document_id, author_id, start_offset, end_offset, tag)"
                " SELECT :document, :author, 0, 1, 't' FROM generate_series(1, :count)"
            ),
            {"document": document_id, "author": author_id, "count": count},
        )
        await db_session.commit()
