"""Documents: appended in order, reordered as a permutation, deleted without gaps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from glossator import services
from glossator.db.models import Document, SourceKind
from glossator.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession


async def _add(workspace_id: int, title: str) -> services.DocumentRecord:
    return await services.add_document(workspace_id, title, "html", f"<p>{title}</p>", title)


class TestAddDocument:
    async def test_documents_are_appended(self, workspace: services.WorkspaceRecord) -> None:
        """Each new document gets the next position, starting at 0."""
        documents = [await _add(workspace.id, title) for title in ("A", "B", "C")]
        assert [d.position for d in documents] == [0, 1, 2]

    async def test_content_is_stored(self, document: services.DocumentRecord) -> None:
        """get_document returns HTML, plain text and the source kind as given."""
        stored = await services.get_document(document.id)
        assert stored == document
        assert stored.source_kind is SourceKind.HTML
        assert stored.plain_text.startswith("The quick brown fox")

    async def test_source_kind_may_be_given_as_text(
        self, workspace: services.WorkspaceRecord
    ) -> None:
        """'conversation' is accepted for SourceKind.CONVERSATION."""
        added = await services.add_document(workspace.id, "Chat", "conversation", "<p/>", "")
        assert added.source_kind is SourceKind.CONVERSATION

    async def test_unknown_source_kind_is_rejected(
        self, workspace: services.WorkspaceRecord
    ) -> None:
        """A source kind outside rtf/conversation/html raises ValidationError listing them."""
        with pytest.raises(ValidationError, match="rtf, conversation, html"):
            await services.add_document(workspace.id, "Doc", "docx", "<p/>", "")

    async def test_unknown_workspace_is_not_found(self) -> None:
        """Adding to an unknown workspace raises NotFound."""
        with pytest.raises(NotFound, match="workspace"):
            await _add(987_654_321, "Orphan")

    async def test_unknown_document_is_not_found(self) -> None:
        """get_document of an unknown id raises NotFound."""
        with pytest.raises(NotFound, match="document"):
            await services.get_document(987_654_321)


class TestListDocuments:
    async def test_listed_in_position_order(self, workspace: services.WorkspaceRecord) -> None:
        """Documents are listed by position, without their content."""
        for title in ("A", "B", "C"):
            await _add(workspace.id, title)
        listed = await services.list_documents(workspace.id)
        assert [(d.title, d.position) for d in listed] == [("A", 0), ("B", 1), ("C", 2)]
        assert all(isinstance(d, services.DocumentSummary) for d in listed)

    async def test_unknown_workspace_is_not_found(self) -> None:
        """Listing an unknown workspace raises NotFound."""
        with pytest.raises(NotFound):
            await services.list_documents(987_654_321)


class TestReorderDocuments:
    async def test_applies_the_new_order(self, workspace: services.WorkspaceRecord) -> None:
        """The documents take positions 0.. in the given order (a full rotation here)."""
        a, b, c = [await _add(workspace.id, title) for title in ("A", "B", "C")]
        reordered = await services.reorder_documents(workspace.id, [c.id, a.id, b.id])
        assert [(d.id, d.position) for d in reordered] == [(c.id, 0), (a.id, 1), (b.id, 2)]
        assert [d.id for d in await services.list_documents(workspace.id)] == [c.id, a.id, b.id]

    async def test_swapping_two_documents(self, workspace: services.WorkspaceRecord) -> None:
        """Swapping positions works despite the unique (workspace, position) constraint."""
        a, b = [await _add(workspace.id, title) for title in ("A", "B")]
        await services.reorder_documents(workspace.id, [b.id, a.id])
        assert [d.title for d in await services.list_documents(workspace.id)] == ["B", "A"]

    @pytest.mark.parametrize(
        "make_order",
        [
            pytest.param(lambda ids: ids[:2], id="missing"),
            pytest.param(lambda ids: [*ids, 987_654_321], id="foreign"),
            pytest.param(lambda ids: [ids[0], ids[0], ids[1]], id="duplicate"),
        ],
    )
    async def test_non_permutation_is_rejected_and_changes_nothing(
        self,
        workspace: services.WorkspaceRecord,
        make_order: Callable[[list[int]], list[int]],
    ) -> None:
        """An order that is not a permutation of the documents raises ValidationError."""
        ids = [(await _add(workspace.id, title)).id for title in ("A", "B", "C")]
        with pytest.raises(ValidationError, match="exactly once"):
            await services.reorder_documents(workspace.id, make_order(ids))
        assert [d.id for d in await services.list_documents(workspace.id)] == ids

    async def test_empty_workspace_accepts_empty_order(
        self, workspace: services.WorkspaceRecord
    ) -> None:
        """Reordering no documents is a no-op, not an error."""
        assert await services.reorder_documents(workspace.id, []) == []

    async def test_unknown_workspace_is_not_found(self) -> None:
        """Reordering an unknown workspace raises NotFound."""
        with pytest.raises(NotFound):
            await services.reorder_documents(987_654_321, [])


class TestDeleteDocument:
    async def test_positions_close_the_gap(self, workspace: services.WorkspaceRecord) -> None:
        """Deleting the middle document moves the later ones up by one."""
        a, b, c = [await _add(workspace.id, title) for title in ("A", "B", "C")]
        await services.delete_document(b.id)
        listed = await services.list_documents(workspace.id)
        assert [(d.id, d.position) for d in listed] == [(a.id, 0), (c.id, 1)]
        appended = await _add(workspace.id, "D")
        assert appended.position == 2

    async def test_unknown_document_is_not_found(self) -> None:
        """Deleting an unknown document raises NotFound."""
        with pytest.raises(NotFound):
            await services.delete_document(987_654_321)


class TestPositionConstraint:
    async def test_duplicate_position_fails_at_once(
        self, document: services.DocumentRecord, pgsandbox_session: AsyncSession
    ) -> None:
        """The unique position is checked per statement, even inside the test's transaction."""
        with pytest.raises(IntegrityError, match="uq_documents_workspace_id_position"):
            async with pgsandbox_session.begin_nested():
                await pgsandbox_session.execute(
                    insert(Document).values(
                        workspace_id=document.workspace_id,
                        title="Clash",
                        source_kind=SourceKind.HTML,
                        html="",
                        plain_text="",
                        position=document.position,
                    )
                )
