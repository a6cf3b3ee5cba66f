"""Highlights: range checks against the document's text, overlaps, access, order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from glossator import services
from glossator.db.models import Highlight, SourceKind
from glossator.errors import InvalidRange, NotFound, PermissionDenied, ValidationError
from glossator.ranges import Span, split_overlapping

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession


class TestAddHighlight:
    async def test_stores_the_highlight(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A valid range is stored with its tag, comment and author."""
        highlight = await services.add_highlight(
            document.id, student.id, 4, 9, " adjective ", comment=" why quick? "
        )
        assert document.plain_text[highlight.start_offset : highlight.end_offset] == "quick"
        assert (highlight.tag, highlight.comment, highlight.author_id) == (
            "adjective",
            "why quick?",
            student.id,
        )

    async def test_blank_comment_means_none(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A whitespace-only comment is stored as no comment."""
        highlight = await services.add_highlight(document.id, student.id, 0, 3, "t", comment=" ")
        assert highlight.comment is None

    async def test_comment_length_is_bounded(
        self, document: services.DocumentRecord, tutor: services.UserRecord
    ) -> None:
        """5,000 characters (the form's maxlength) are accepted; one more is a clear error.

        The bound protects the document's owner: a viewer's comment is typeset in the
        owner's export, and an endless one made it fail.
        """
        longest = await services.add_highlight(document.id, tutor.id, 0, 3, "t", comment="c" * 5000)
        assert longest.comment == "c" * 5000
        with pytest.raises(ValidationError, match="comment must be at most 5000 characters"):
            await services.add_highlight(document.id, tutor.id, 0, 3, "t", comment="c" * 5001)
        # Surrounding whitespace does not count; the refused one was not stored.
        await services.add_highlight(document.id, tutor.id, 4, 9, "t", comment=f" {'d' * 5000} ")
        assert len(await services.list_highlights(document.id)) == 2

    async def test_whole_text_is_a_valid_range(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A range may end exactly at the end of the text."""
        length = len(document.plain_text)
        highlight = await services.add_highlight(document.id, student.id, 0, length, "all")
        assert highlight.end_offset == length

    @pytest.mark.parametrize(
        "make_range",
        [
            pytest.param(lambda length: (5, 5), id="empty"),
            pytest.param(lambda length: (-1, 4), id="negative"),
            pytest.param(lambda length: (9, 4), id="reversed"),
            pytest.param(lambda length: (0, length + 1), id="past-the-end"),
            pytest.param(lambda length: (length, length + 2), id="after-the-end"),
        ],
    )
    async def test_bad_ranges_are_rejected(
        self,
        document: services.DocumentRecord,
        student: services.UserRecord,
        make_range: Callable[[int], tuple[int, int]],
    ) -> None:
        """Empty, negative, reversed and out-of-range ranges raise InvalidRange; none is stored."""
        start, end = make_range(len(document.plain_text))
        with pytest.raises(InvalidRange):
            await services.add_highlight(document.id, student.id, start, end, "bad")
        assert await services.list_highlights(document.id) == []

    async def test_offsets_count_code_points(
        self, workspace: services.WorkspaceRecord, student: services.UserRecord
    ) -> None:
        """Offsets count characters, not bytes: a text with accents and emoji ends at len()."""
        text = "naïve café 🎉"
        doc = await services.add_document(workspace.id, "Unicode", SourceKind.HTML, text, text)
        highlight = await services.add_highlight(doc.id, student.id, 6, len(text), "tail")
        assert text[highlight.start_offset : highlight.end_offset] == "café 🎉"
        with pytest.raises(InvalidRange):
            await services.add_highlight(doc.id, student.id, 6, len(text.encode()), "bytes")

    async def test_overlapping_highlights_are_allowed(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """Ranges may overlap; split_overlapping then cuts them into flat spans."""
        first = await services.add_highlight(document.id, student.id, 4, 15, "a")
        second = await services.add_highlight(document.id, student.id, 10, 19, "b")
        spans = split_overlapping(await services.list_highlights(document.id))
        assert spans == [
            Span(4, 10, (first.id,)),
            Span(10, 15, (first.id, second.id)),
            Span(15, 19, (second.id,)),
        ]

    async def test_blank_tag_is_rejected(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """A highlight needs a tag."""
        with pytest.raises(ValidationError, match="tag"):
            await services.add_highlight(document.id, student.id, 0, 3, "  ")

    async def test_tutor_of_the_course_may_annotate(
        self, document: services.DocumentRecord, tutor: services.UserRecord
    ) -> None:
        """A tutor of the workspace's course can highlight the student's document."""
        highlight = await services.add_highlight(document.id, tutor.id, 0, 3, "feedback")
        assert highlight.author_id == tutor.id

    async def test_stranger_may_not_annotate(self, document: services.DocumentRecord) -> None:
        """A user who cannot see the workspace gets PermissionDenied."""
        stranger = await services.find_or_create_user("stranger@example.org")
        with pytest.raises(PermissionDenied):
            await services.add_highlight(document.id, stranger.id, 0, 3, "graffiti")

    async def test_unknown_document_or_author_is_not_found(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """The document and the author must exist."""
        with pytest.raises(NotFound, match="document"):
            await services.add_highlight(987_654_321, student.id, 0, 3, "t")
        with pytest.raises(NotFound, match="user"):
            await services.add_highlight(document.id, 987_654_321, 0, 3, "t")


class TestListHighlights:
    async def test_ordered_by_start_then_end(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """Highlights are listed by start offset, then end offset, whatever the insert order."""
        for start, end in [(10, 19), (4, 15), (4, 9), (0, 3)]:
            await services.add_highlight(document.id, student.id, start, end, "t")
        listed = await services.list_highlights(document.id)
        assert [(h.start_offset, h.end_offset) for h in listed] == [
            (0, 3),
            (4, 9),
            (4, 15),
            (10, 19),
        ]

    async def test_unknown_document_is_not_found(self) -> None:
        """Listing highlights of an unknown document raises NotFound."""
        with pytest.raises(NotFound):
            await services.list_highlights(987_654_321)


class TestDeleteHighlight:
    async def test_deleted_highlight_is_gone(
        self, document: services.DocumentRecord, student: services.UserRecord
    ) -> None:
        """After delete_highlight the highlight is no longer listed."""
        kept = await services.add_highlight(document.id, student.id, 0, 3, "keep")
        dropped = await services.add_highlight(document.id, student.id, 4, 9, "drop")
        await services.delete_highlight(dropped.id)
        assert await services.list_highlights(document.id) == [kept]

    async def test_unknown_highlight_is_not_found(self) -> None:
        """Deleting an unknown highlight raises NotFound."""
        with pytest.raises(NotFound, match="highlight"):
            await services.delete_highlight(987_654_321)


class TestDatabaseBacksTheRangeRules:
    async def test_reversed_range_is_refused_by_the_database(
        self,
        document: services.DocumentRecord,
        student: services.UserRecord,
        pgsandbox_session: AsyncSession,
    ) -> None:
        """Even bypassing the service, the CHECK constraint refuses a reversed range."""
        highlight = await services.add_highlight(document.id, student.id, 0, 3, "t")
        with pytest.raises(IntegrityError, match="ck_highlights_start_before_end"):
            async with pgsandbox_session.begin_nested():
                await pgsandbox_session.execute(
                    update(Highlight).where(Highlight.id == highlight.id).values(end_offset=0)
                )
