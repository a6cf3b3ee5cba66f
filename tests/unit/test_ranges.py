"""Character ranges: validation, and cutting overlapping highlights into flat spans."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from glossator.errors import InvalidRange
from glossator.ranges import Span, split_overlapping, validate_range


@dataclasses.dataclass(frozen=True)
class _Range:
    id: int
    start_offset: int
    end_offset: int


class TestValidateRange:
    @pytest.mark.parametrize(("start", "end"), [(0, 1), (0, 10), (3, 7), (9, 10)])
    def test_ranges_inside_the_text_pass(self, start: int, end: int) -> None:
        """A non-empty range within [0, length] is valid, including one ending at the end."""
        try:
            validate_range(start, end, 10)
        except InvalidRange as exc:
            pytest.fail(f"a valid range was rejected: {exc}")

    @pytest.mark.parametrize(
        ("start", "end", "reason"),
        [
            (4, 4, "empty"),
            (5, 2, "ends before it starts"),
            (-1, 3, "before the text"),
            (8, 11, "past the end"),
            (10, 12, "past the end"),
        ],
    )
    def test_bad_ranges_are_invalid(self, start: int, end: int, reason: str) -> None:
        """Empty, reversed, negative and out-of-range ranges raise InvalidRange saying why."""
        with pytest.raises(InvalidRange, match=reason):
            validate_range(start, end, 10)

    def test_empty_text_has_no_valid_range(self) -> None:
        """Nothing can be highlighted in an empty text."""
        with pytest.raises(InvalidRange):
            validate_range(0, 1, 0)


class TestSplitOverlapping:
    def test_no_highlights_no_spans(self) -> None:
        """An empty input gives no spans."""
        assert split_overlapping([]) == []

    def test_disjoint_highlights_stay_as_they_are(self) -> None:
        """Non-overlapping highlights map to one span each, gaps are left out."""
        spans = split_overlapping([_Range(2, 10, 15), _Range(1, 0, 5)])
        assert spans == [Span(0, 5, (1,)), Span(10, 15, (2,))]

    def test_partial_overlap_is_cut_in_three(self) -> None:
        """[0,10) and [5,15) give [0,5) {1}, [5,10) {1,2}, [10,15) {2}."""
        spans = split_overlapping([_Range(1, 0, 10), _Range(2, 5, 15)])
        assert spans == [Span(0, 5, (1,)), Span(5, 10, (1, 2)), Span(10, 15, (2,))]

    def test_nested_highlight(self) -> None:
        """A highlight inside another splits the outer one around it."""
        spans = split_overlapping([_Range(1, 0, 20), _Range(2, 5, 8)])
        assert spans == [Span(0, 5, (1,)), Span(5, 8, (1, 2)), Span(8, 20, (1,))]

    def test_adjacent_highlights_do_not_merge(self) -> None:
        """Touching ranges ([0,5) and [5,9)) stay separate spans."""
        spans = split_overlapping([_Range(1, 0, 5), _Range(2, 5, 9)])
        assert spans == [Span(0, 5, (1,)), Span(5, 9, (2,))]

    def test_identical_ranges_share_spans(self) -> None:
        """Two highlights over the same text give one span listing both, ids ascending."""
        assert split_overlapping([_Range(7, 2, 4), _Range(3, 2, 4)]) == [Span(2, 4, (3, 7))]

    def test_empty_and_reversed_ranges_are_ignored(self) -> None:
        """Degenerate ranges contribute nothing."""
        assert split_overlapping([_Range(1, 3, 3), _Range(2, 6, 4)]) == []

    def test_spans_never_overlap_and_cover_exactly_the_highlights(self) -> None:
        """For a tangle of ranges, spans are ordered, disjoint, and cover each highlight."""
        ranges = [
            _Range(1, 0, 7),
            _Range(2, 3, 12),
            _Range(3, 5, 6),
            _Range(4, 10, 20),
            _Range(5, 25, 30),
        ]
        spans = split_overlapping(ranges)
        for earlier, later in itertools.pairwise(spans):
            assert earlier.end <= later.start
        for highlight in ranges:
            covered = sorted(
                offset
                for span in spans
                if highlight.id in span.highlight_ids
                for offset in range(span.start, span.end)
            )
            assert covered == list(range(highlight.start_offset, highlight.end_offset))
