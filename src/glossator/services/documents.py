"""Documents of a workspace, kept in a user-defined order."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from sqlalchemy import case, delete, func, select, update

from glossator import db
from glossator.db.models import Document, SourceKind, Workspace
from glossator.errors import NotFound, ValidationError
from glossator.services._common import clean_text, get_or_raise

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "DocumentRecord",
    "DocumentSummary",
    "add_document",
    "delete_document",
    "get_document",
    "list_documents",
    "reorder_documents",
]


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentSummary:
    """A document without its content, for listings."""

    id: int
    workspace_id: int
    title: str
    source_kind: SourceKind
    position: int
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Document) -> DocumentSummary:
        """Copy the fields of a ``Document`` row, leaving out its content."""
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            title=row.title,
            source_kind=row.source_kind,
            position=row.position,
            created_at=row.created_at,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A document with its sanitised HTML and the plain text highlights point into."""

    id: int
    workspace_id: int
    title: str
    source_kind: SourceKind
    position: int
    created_at: dt.datetime
    html: str
    plain_text: str

    @classmethod
    def from_row(cls, row: Document) -> DocumentRecord:
        """Copy the fields of a ``Document`` row."""
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            title=row.title,
            source_kind=row.source_kind,
            position=row.position,
            created_at=row.created_at,
            html=row.html,
            plain_text=row.plain_text,
        )


async def _lock_workspace(db_session: AsyncSession, workspace_id: int) -> Workspace:
    # Every change to positions locks the workspace row first, so concurrent appends,
    # reorders and deletes in one workspace take turns instead of colliding on positions.
    return await get_or_raise(db_session, Workspace, workspace_id, "workspace", lock=True)


async def add_document(
    workspace_id: int,
    title: str,
    source_kind: SourceKind | str,
    html: str,
    plain_text: str,
) -> DocumentRecord:
    """Append a document to a workspace (it gets the next position).

    Args:
        workspace_id: The workspace.
        title: Its title.
        source_kind: What it was imported from (``"rtf"``, ``"conversation"``, ``"html"``).
        html: Its sanitised HTML.
        plain_text: The text highlights point into.

    Raises:
        ValidationError: The title is empty or too long, or the source kind is unknown.
        NotFound: There is no such workspace.
    """
    clean_title = clean_text(title, "document title", max_length=200)
    try:
        kind = SourceKind(source_kind)
    except ValueError:
        choices = ", ".join(kind.value for kind in SourceKind)
        raise ValidationError(
            f"unknown source kind {source_kind!r}; use one of {choices}"
        ) from None
    async with db.session() as db_session:
        await _lock_workspace(db_session, workspace_id)
        last_position = await db_session.scalar(
            select(func.max(Document.position)).where(Document.workspace_id == workspace_id)
        )
        document = Document(
            workspace_id=workspace_id,
            title=clean_title,
            source_kind=kind,
            html=html,
            plain_text=plain_text,
            position=0 if last_position is None else last_position + 1,
        )
        db_session.add(document)
        await db_session.flush()
        record = DocumentRecord.from_row(document)
        await db_session.commit()
    return record


async def get_document(document_id: int) -> DocumentRecord:
    """Return a document with its content.

    Raises:
        NotFound: There is no such document.
    """
    async with db.session() as db_session:
        return DocumentRecord.from_row(
            await get_or_raise(db_session, Document, document_id, "document")
        )


async def list_documents(workspace_id: int) -> list[DocumentSummary]:
    """List a workspace's documents in their order.

    Raises:
        NotFound: There is no such workspace.
    """
    async with db.session() as db_session:
        await get_or_raise(db_session, Workspace, workspace_id, "workspace")
        return await _summaries(db_session, workspace_id)


async def _summaries(db_session: AsyncSession, workspace_id: int) -> list[DocumentSummary]:
    rows = await db_session.execute(
        select(
            Document.id,
            Document.workspace_id,
            Document.title,
            Document.source_kind,
            Document.position,
            Document.created_at,
        )
        .where(Document.workspace_id == workspace_id)
        .order_by(Document.position)
    )
    return [DocumentSummary(*row) for row in rows]


async def reorder_documents(workspace_id: int, ordered_ids: Sequence[int]) -> list[DocumentSummary]:
    """Put a workspace's documents in the given order.

    Args:
        workspace_id: The workspace.
        ordered_ids: Every document id of the workspace, each once, in the new order.

    Returns:
        The documents in their new order (positions 0, 1, 2, ...).

    Raises:
        NotFound: There is no such workspace.
        ValidationError: ``ordered_ids`` is not a permutation of the workspace's documents.
    """
    async with db.session() as db_session:
        await _lock_workspace(db_session, workspace_id)
        current_ids = set(
            await db_session.scalars(
                select(Document.id).where(Document.workspace_id == workspace_id)
            )
        )
        if len(ordered_ids) != len(set(ordered_ids)) or set(ordered_ids) != current_ids:
            raise ValidationError(
                f"the new order must list each of the workspace's {len(current_ids)} documents "
                f"exactly once; got {list(ordered_ids)!r}"
            )
        if ordered_ids:
            # One statement, so the DEFERRABLE unique (workspace_id, position) constraint
            # is checked once all rows moved, not after each one.
            new_position = case(
                {document_id: index for index, document_id in enumerate(ordered_ids)},
                value=Document.id,
            )
            await db_session.execute(
                update(Document)
                .where(Document.workspace_id == workspace_id)
                .values(position=new_position),
                execution_options={"synchronize_session": False},
            )
        summaries = await _summaries(db_session, workspace_id)
        await db_session.commit()
    return summaries


async def delete_document(document_id: int) -> None:
    """Delete a document with its highlights; the documents after it move up one place.

    Raises:
        NotFound: There is no such document.
    """
    async with db.session() as db_session:
        workspace_id = await db_session.scalar(
            select(Document.workspace_id).where(Document.id == document_id)
        )
        if workspace_id is None:
            raise NotFound("document", document_id)
        await _lock_workspace(db_session, workspace_id)
        # Read the position only under the lock: a concurrent reorder may have changed it.
        position = await db_session.scalar(
            delete(Document).where(Document.id == document_id).returning(Document.position),
            execution_options={"synchronize_session": False},
        )
        if position is None:  # deleted by someone else while we waited for the lock
            raise NotFound("document", document_id)
        await db_session.execute(
            update(Document)
            .where(Document.workspace_id == workspace_id, Document.position > position)
            .values(position=Document.position - 1),
            execution_options={"synchronize_session": False},
        )
        await db_session.commit()
