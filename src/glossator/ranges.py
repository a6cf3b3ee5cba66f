"""Character ranges of highlights: validation and splitting overlaps into flat spans.

Pure functions, no database. A range is half-open, ``[start, end)``, in code points of a
document's plain text (what ``len(str)`` counts and PostgreSQL's ``length()`` counts).

LaTeX (and HTML) markup must nest, but highlights may overlap, so the export first cuts
the text at every highlight boundary with :func:`split_overlapping`: each resulting
:class:`Span` is covered by a fixed set of highlights and can be wrapped on its own.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from typing import TYPE_CHECKING, Protocol

from glossator.errors import InvalidRange

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["HasRange", "Span", "split_overlapping", "validate_range"]


class HasRange(Protocol):
    """Anything with an id and a ``[start_offset, end_offset)`` range (a highlight)."""

    @property
    def id(self) -> int:
        """Identifier reported in :attr:`Span.highlight_ids`."""
        ...

    @property
    def start_offset(self) -> int:
        """First character of the range."""
        ...

    @property
    def end_offset(self) -> int:
        """One past the last character of the range."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class Span:
    """A stretch ``[start, end)`` of text covered by the same highlights throughout.

    Attributes:
        start: First character.
        end: One past the last character.
        highlight_ids: Ids of the highlights covering it, in ascending order.
    """

    start: int
    end: int
    highlight_ids: tuple[int, ...]


def validate_range(start: int, end: int, text_length: int) -> None:
    """Check that ``[start, end)`` is a non-empty range inside a text of ``text_length``.

    Args:
        start: First character of the range.
        end: One past its last character.
        text_length: Length of the text the range points into.

    Raises:
        InvalidRange: The range is negative, empty, reversed, or reaches past the end.
    """
    if start < 0:
        raise InvalidRange(f"range [{start}, {end}) starts before the text (offset < 0)")
    if start == end:
        raise InvalidRange(f"range [{start}, {end}) is empty")
    if end < start:
        raise InvalidRange(f"range [{start}, {end}) ends before it starts")
    if end > text_length:
        raise InvalidRange(
            f"range [{start}, {end}) reaches past the end of the text ({text_length} characters)"
        )


def split_overlapping(highlights: Iterable[HasRange]) -> list[Span]:
    """Cut overlapping highlights into non-overlapping spans, in text order.

    Text covered by no highlight yields no span; adjacent spans always differ in their
    set of highlights. Highlights with empty or reversed ranges are ignored.

    Example:
        Highlights 1 ``[0, 10)`` and 2 ``[5, 15)`` give ``[0, 5) {1}``, ``[5, 10) {1, 2}``,
        ``[10, 15) {2}``.

    Args:
        highlights: The highlights of one document.

    Returns:
        Spans ordered by position, each with the ids of the highlights covering it.
    """
    ranges = [(h.start_offset, h.end_offset, h.id) for h in highlights]
    ranges = [r for r in ranges if r[0] < r[1]]
    boundaries = sorted({offset for start, end, _ in ranges for offset in (start, end)})
    # A sweep over the boundaries with the set of highlights open there: each highlight
    # is added and removed once (comparing every span with every highlight made
    # thousands of highlights take seconds).
    starting: dict[int, list[int]] = collections.defaultdict(list)
    ending: dict[int, list[int]] = collections.defaultdict(list)
    for start, end, highlight_id in ranges:
        starting[start].append(highlight_id)
        ending[end].append(highlight_id)
    open_ids: collections.Counter[int] = collections.Counter()
    spans: list[Span] = []
    for span_start, span_end in itertools.pairwise(boundaries):
        open_ids.subtract(ending.get(span_start, ()))
        open_ids.update(starting.get(span_start, ()))
        open_ids = +open_ids  # drop the ids whose count fell to zero
        if open_ids:
            covering = tuple(sorted(open_ids.elements()))
            spans.append(Span(start=span_start, end=span_end, highlight_ids=covering))
    return spans
