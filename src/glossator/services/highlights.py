"""Highlights: tagged, possibly overlapping character ranges of a document's text."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final

from sqlalchemy import func, select

from glossator import db
from glossator.db.models import Document, Highlight, User
from glossator.errors import NotFound, PermissionDenied, ValidationError
from glossator.ranges import validate_range
from glossator.services._access import can_access_workspace
from glossator.services._common import clean_text, get_or_raise

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["HighlightRecord", "add_highlight", "delete_highlight", "list_highlights"]

#: Most characters a highlight's comment may have, after stripping; the comment form's
#: ``maxlength`` says the same. A bound keeps one viewer's comment from making an owner's
#: document too large to export (docs/export.md, "Limits").
MAX_COMMENT_LENGTH: Final = 5000


@dataclasses.dataclass(frozen=True, slots=True)
class HighlightRecord:
    """A highlight as the services return it; satisfies :class:`glossator.ranges.HasRange`."""

    id: int
    document_id: int
    start_offset: int
    end_offset: int
    tag: str
    comment: str | None
    author_id: int
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Highlight) -> HighlightRecord:
        """Copy the fields of a ``Highlight`` row."""
        return cls(
            id=row.id,
            document_id=row.document_id,
            start_offset=row.start_offset,
            end_offset=row.end_offset,
            tag=row.tag,
            comment=row.comment,
            author_id=row.author_id,
            created_at=row.created_at,
        )


async def add_highlight(
    document_id: int,
    author_id: int,
    start: int,
    end: int,
    tag: str,
    *,
    comment: str | None = None,
) -> HighlightRecord:
    """Highlight the characters ``[start, end)`` of a document's plain text.

    Highlights may overlap. The author must be allowed to see the document's workspace
    (owner, or tutor/instructor of its course).

    Args:
        document_id: The document.
        author_id: The user making the highlight.
        start: First character, counted in code points from 0.
        end: One past the last character.
        tag: A short label, e.g. ``"claim"``.
        comment: Optional note; blank means none; at most :data:`MAX_COMMENT_LENGTH`
            characters.

    Raises:
        NotFound: The document or the author does not exist.
        InvalidRange: The range is empty, negative, reversed or past the end of the text.
        ValidationError: The tag is empty or too long, or the comment is too long.
        PermissionDenied: The author may not see the document's workspace.
    """
    clean_tag = clean_text(tag, "tag", max_length=100)
    clean_comment = (comment.strip() or None) if comment is not None else None
    if clean_comment is not None and len(clean_comment) > MAX_COMMENT_LENGTH:
        raise ValidationError(
            f"comment must be at most {MAX_COMMENT_LENGTH} characters, got {len(clean_comment)}"
        )
    async with db.session() as db_session:
        # Only the text's length is needed; the text itself may be large.
        found = (
            await db_session.execute(
                select(Document.workspace_id, func.char_length(Document.plain_text)).where(
                    Document.id == document_id
                )
            )
        ).one_or_none()
        if found is None:
            raise NotFound("document", document_id)
        workspace_id, text_length = found
        await get_or_raise(db_session, User, author_id, "user")
        validate_range(start, end, text_length)
        if not await can_access_workspace(db_session, author_id, workspace_id):
            raise PermissionDenied(
                f"user {author_id} may not annotate documents of workspace {workspace_id}"
            )
        highlight = Highlight(
            document_id=document_id,
            author_id=author_id,
            start_offset=start,
            end_offset=end,
            tag=clean_tag,
            comment=clean_comment,
        )
        db_session.add(highlight)
        await db_session.flush()
        record = HighlightRecord.from_row(highlight)
        await db_session.commit()
    return record


async def list_highlights(document_id: int) -> list[HighlightRecord]:
    """List a document's highlights ordered by start (then end, then creation).

    Raises:
        NotFound: There is no such document.
    """
    async with db.session() as db_session:
        exists = await db_session.scalar(select(Document.id).where(Document.id == document_id))
        if exists is None:
            raise NotFound("document", document_id)
        rows = await db_session.scalars(
            select(Highlight)
            .where(Highlight.document_id == document_id)
            .order_by(Highlight.start_offset, Highlight.end_offset, Highlight.id)
        )
        return [HighlightRecord.from_row(row) for row in rows]


async def delete_highlight(highlight_id: int) -> None:
    """Delete a highlight.

    Raises:
        NotFound: There is no such highlight.
    """
    async with db.session() as db_session:
        highlight = await get_or_raise(db_session, Highlight, highlight_id, "highlight")
        await db_session.delete(highlight)
        await db_session.commit()
