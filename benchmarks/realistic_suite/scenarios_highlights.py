"""Highlights: stored, listed, overlapping, refused ranges and strangers; concurrent ones."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.realistic_suite._counts import cases
from benchmarks.realistic_suite.fixtures import FOX
from glossator import services
from glossator.errors import InvalidRange, NotFound, PermissionDenied
from glossator.ranges import Span, split_overlapping

DATABASE = pytest.mark.pgsandbox(isolation="database")
#: Ranges add_highlight refuses, for the fixture document's text.
BAD_RANGES = ((5, 5), (-1, 4), (9, 4), (0, len(FOX) + 1), (len(FOX), len(FOX) + 2))


@pytest.mark.parametrize("n", cases(__file__, "highlights_stored"))
async def test_stores_the_highlight(
    n: int, document: services.DocumentRecord, student: services.UserRecord
) -> None:
    """Tag and comment are cleaned; the offsets point at the highlighted word."""
    highlight = await services.add_highlight(
        document.id, student.id, 4, 9, " adjective ", comment=f" why quick? ({n}) "
    )
    assert document.plain_text[highlight.start_offset : highlight.end_offset] == "quick"
    assert (highlight.tag, highlight.comment, highlight.author_id) == (
        "adjective",
        f"why quick? ({n})",
        student.id,
    )
    assert await services.list_highlights(document.id) == [highlight]


@pytest.mark.parametrize("n", cases(__file__, "highlights_overlapping"))
async def test_overlapping_highlights_split_into_spans(
    n: int, document: services.DocumentRecord, tutor: services.UserRecord
) -> None:
    """Two overlapping highlights make three spans."""
    end = 15 + n % 4
    first = await services.add_highlight(document.id, tutor.id, 4, end, "a")
    second = await services.add_highlight(document.id, tutor.id, 10, 19, "b")
    spans = split_overlapping(await services.list_highlights(document.id))
    assert spans == [
        Span(4, 10, (first.id,)),
        Span(10, end, (first.id, second.id)),
        Span(end, 19, (second.id,)),
    ]


@pytest.mark.parametrize("n", cases(__file__, "highlights_ordered"))
async def test_listed_by_start_then_end(
    n: int, document: services.DocumentRecord, student: services.UserRecord
) -> None:
    """Highlights come back ordered by start, then end, whatever the order they were made."""
    ranges = [(10, 19), (4, 15), (4, 9), (0, 3)]
    rotated = ranges[n % 4 :] + ranges[: n % 4]
    for start, end in rotated:
        await services.add_highlight(document.id, student.id, start, end, "t")
    listed = await services.list_highlights(document.id)
    assert [(h.start_offset, h.end_offset) for h in listed] == sorted(ranges)


@pytest.mark.parametrize("n", cases(__file__, "highlights_bad_range"))
async def test_bad_ranges_are_refused(
    n: int, document: services.DocumentRecord, student: services.UserRecord
) -> None:
    """An empty, negative, reversed or out-of-text range is refused and nothing is stored."""
    start, end = BAD_RANGES[n % len(BAD_RANGES)]
    with pytest.raises(InvalidRange):
        await services.add_highlight(document.id, student.id, start, end, "bad")
    assert await services.list_highlights(document.id) == []


@pytest.mark.parametrize("n", cases(__file__, "highlights_stranger"))
async def test_stranger_may_not_annotate(
    n: int, uid: str, document: services.DocumentRecord
) -> None:
    """Someone outside the workspace's course gets PermissionDenied."""
    stranger = await services.find_or_create_user(f"stranger-{uid}-{n}@example.org")
    with pytest.raises(PermissionDenied):
        await services.add_highlight(document.id, stranger.id, 0, 3, "graffiti")
    assert await services.list_highlights(document.id) == []


@pytest.mark.parametrize("n", cases(__file__, "highlights_delete"))
async def test_deleted_highlight_is_gone(
    n: int, document: services.DocumentRecord, student: services.UserRecord
) -> None:
    """Deleting one highlight keeps the other; deleting it again is NotFound."""
    kept = await services.add_highlight(document.id, student.id, 0, 3, "keep")
    dropped = await services.add_highlight(document.id, student.id, 4, 9 + n % 3, "drop")
    await services.delete_highlight(dropped.id)
    assert await services.list_highlights(document.id) == [kept]
    with pytest.raises(NotFound, match="highlight"):
        await services.delete_highlight(dropped.id)


@DATABASE
@pytest.mark.parametrize("n", cases(__file__, "highlights_concurrent"))
async def test_student_and_tutor_annotate_at_once(
    n: int,
    document: services.DocumentRecord,
    student: services.UserRecord,
    tutor: services.UserRecord,
) -> None:
    """Six highlights by two authors at once are all stored."""
    made = await asyncio.gather(
        *(
            services.add_highlight(document.id, author.id, k, k + 3 + n % 3, f"t{k}")
            for k, author in enumerate([student, tutor] * 3)
        )
    )
    listed = await services.list_highlights(document.id)
    assert sorted(h.id for h in listed) == sorted(h.id for h in made)
    assert {h.author_id for h in listed} == {student.id, tutor.id}
