"""A document's sanitised HTML, marked up so the browser can map a selection to offsets.

Highlights store character offsets into the document's *plain text*
(:func:`glossator.importers.html_to_plain_text`), not into its HTML: block boundaries
become newlines, runs of whitespace collapse, lines are stripped. A browser selection is
a position in the DOM. To bridge the two, the server re-emits the sanitised HTML with
every piece of text wrapped in ``<span class="t" data-start="N">``, where ``N`` is the
plain-text offset of the span's first character, and the span holds exactly the
characters of the plain text that piece contributes (collapsed whitespace is left out).
The browser then counts code points inside a span and adds ``data-start``: no
re-implementation of the plain-text rules in JavaScript.

The rules are mirrored (in :mod:`glossator.web._offsets`) from :mod:`glossator.importers.html`
and checked on every render: if the spans' text does not add up to the stored plain text
(the rules changed, or a stored document predates them), the document is shown as plain
text, one paragraph per line, whose offsets are right by construction.

Highlights are painted server-side: each span is cut at the boundaries of
:func:`glossator.ranges.split_overlapping`, and covered pieces are wrapped in
``<mark>``. Marks therefore never cross element boundaries, whatever the highlights
overlap. A mark names the highlights covering it (``data-highlights="3 7"``) and nothing
else: their tags and comments are on the page once, in the highlight list, and the
page's script builds a mark's tooltip from there when the pointer reaches it. (Repeating
the labels in every mark made 150 nested highlights with long comments a 23 MB page.)

Large documents are cut into pages (:func:`render_document_page`): a page ends at the end
of the first block element after :data:`PAGE_TEXT_CHARS` characters of text, or inside a
block after twice that; the elements open at the cut are closed at the end of the page
and opened again at the start of the next, and offsets stay those of the whole document.
Work and page size are linear in the document: one pass over its HTML, one page emitted.
"""

from __future__ import annotations

import bisect
import dataclasses
import html
from typing import TYPE_CHECKING, Final

from markupsafe import Markup

from glossator.ranges import Span, split_overlapping
from glossator.web._offsets import FIRST_PAGE, OffsetRenderer, PageIndex, PageStart, Piece

if TYPE_CHECKING:
    from collections.abc import Sequence

    from glossator.ranges import HasRange

__all__ = [
    "PAGE_TEXT_CHARS",
    "MarkRange",
    "PageIndex",
    "PageStart",
    "RenderedPage",
    "render_annotated_html",
    "render_document_page",
]

#: Characters of plain text after which a page ends at the next block boundary.
PAGE_TEXT_CHARS: Final = 60_000


@dataclasses.dataclass(frozen=True, slots=True)
class MarkRange:
    """A highlight as the renderer needs it: picklable, without its labels."""

    id: int
    start_offset: int
    end_offset: int


@dataclasses.dataclass(frozen=True, slots=True)
class RenderedPage:
    """One page of a rendered document.

    Attributes:
        html: The page's markup (safe to insert).
        number: The page's number, from 1.
        count: How many pages the document has.
        start: Plain-text offset where the page's text starts (at most one newline
            before its first character).
        end: Plain-text offset one past its last character.
        index: The document's page index, to pass back for its next page (``None`` when
            the plain-text fallback was used).
    """

    html: Markup
    number: int
    count: int
    start: int
    end: int
    index: PageIndex | None


def render_annotated_html(
    sanitized_html: str, plain_text: str, highlights: Sequence[HasRange]
) -> Markup:
    """The whole document's HTML with offset spans and highlight marks (one page).

    Args:
        sanitized_html: The stored, sanitised HTML.
        plain_text: The stored plain text the highlights point into.
        highlights: The document's highlights (anything with ``id``, ``start_offset``,
            ``end_offset``).

    Returns:
        Markup safe to insert into a page: every text piece is escaped here, and the
        markup around it is the sanitised HTML re-serialised with escaped attributes.
    """
    return render_document_page(sanitized_html, plain_text, highlights, page_chars=None).html


def render_document_page(
    sanitized_html: str,
    plain_text: str,
    highlights: Sequence[HasRange],
    *,
    page: int = 1,
    page_chars: int | None = PAGE_TEXT_CHARS,
    index: PageIndex | None = None,
) -> RenderedPage:
    """One page of the document with offset spans and highlight marks (see the module docs).

    Args:
        sanitized_html: The stored, sanitised HTML.
        plain_text: The stored plain text the highlights point into.
        highlights: The document's highlights.
        page: The page wanted, from 1; a number past the end gives the last page.
        page_chars: Characters of text per page (about); ``None`` for one page.
        index: The document's :class:`PageIndex` from an earlier call
            (:attr:`RenderedPage.index`): only the wanted page is parsed then. One that
            does not fit the document is ignored.

    Returns:
        The page, where it lies in the document and the document's page index.
    """
    spans = split_overlapping(highlights)
    if (
        index is not None
        and index.html_length == len(sanitized_html)
        and index.text_length == len(plain_text)
    ):
        found = _render_indexed_page(sanitized_html, plain_text, spans, index, page)
        if found is not None:
            return found
    renderer = OffsetRenderer(sanitized_html, page_chars=page_chars)
    renderer.run()
    if "\n".join(renderer.lines) != plain_text or not _pieces_consistent(
        renderer.parts, plain_text
    ):
        return _render_plain_text(plain_text, spans, page=page, page_chars=page_chars)
    cuts = [(0, FIRST_PAGE), *renderer.cuts]
    while len(cuts) > 1 and cuts[-1][1].offset >= len(plain_text):
        cuts.pop()  # a cut after the last text would make a page without text
    number = min(max(page, 1), len(cuts))
    first_part, first = cuts[number - 1]
    last_part, last = cuts[number] if number < len(cuts) else (len(renderer.parts), None)
    markup = _emit(renderer.parts[first_part:last_part], first, last, spans)
    return RenderedPage(
        html=markup,
        number=number,
        count=len(cuts),
        start=first.offset,
        end=last.offset if last else len(plain_text),
        index=PageIndex(len(sanitized_html), len(plain_text), tuple(cut for _, cut in cuts)),
    )


def _render_indexed_page(
    sanitized_html: str, plain_text: str, spans: list[Span], index: PageIndex, page: int
) -> RenderedPage | None:
    """Render one page from its slice of the HTML; ``None`` if it does not add up."""
    number = min(max(page, 1), len(index.starts))
    first = index.starts[number - 1]
    last = index.starts[number] if number < len(index.starts) else None
    end_position = last.html_position if last else len(sanitized_html)
    renderer = OffsetRenderer(sanitized_html[first.html_position : end_position], start=first)
    renderer.run()
    text_start = first.offset + 1 if first.text_before and renderer.lines else first.offset
    text_end = last.offset if last else len(plain_text)
    if "\n".join(renderer.lines) != plain_text[text_start:text_end] or not _pieces_consistent(
        renderer.parts, plain_text
    ):
        return None
    return RenderedPage(
        html=_emit(renderer.parts, first, last, spans),
        number=number,
        count=len(index.starts),
        start=first.offset,
        end=text_end,
        index=index,
    )


def _emit(
    parts: Sequence[str | Piece], first: PageStart, last: PageStart | None, spans: list[Span]
) -> Markup:
    span_ends = [span.end for span in spans]
    out: list[str] = [markup for _, markup in first.open_tags]
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif part.start is not None:
            out.append(_text_span(part.start, "".join(part.kept), spans, span_ends))
        elif part.raw:
            # Whitespace that collapsed away: keep it for the layout, outside any span.
            out.append(html.escape(part.raw, quote=False))
    if last is not None:
        out.extend(f"</{tag}>" for tag, _ in reversed(last.open_tags))
    return Markup("".join(out))  # noqa: S704 - escaped text and sanitised markup


def _pieces_consistent(parts: Sequence[str | Piece], plain_text: str) -> bool:
    for part in parts:
        if isinstance(part, str):
            continue
        kept = "".join(part.kept)
        if part.start is None:
            if kept:
                return False
        elif plain_text[part.start : part.start + len(kept)] != kept:
            return False
    return True


def _render_plain_text(
    plain_text: str, spans: list[Span], *, page: int, page_chars: int | None
) -> RenderedPage:
    """The text, one paragraph per line: its offsets are right by construction."""
    span_ends = [span.end for span in spans]
    # Pages: runs of whole lines of at least page_chars characters.
    pages: list[list[str]] = [[]]
    starts = [0]
    written = 0
    offset = 0
    for line in plain_text.split("\n"):
        if page_chars is not None and written >= page_chars:
            pages.append([])
            starts.append(offset)
            written = 0
        pages[-1].append(f"<p>{_text_span(offset, line, spans, span_ends)}</p>")
        written += len(line) + 1
        offset += len(line) + 1
    number = min(max(page, 1), len(pages))
    end = starts[number] if number < len(pages) else len(plain_text)
    return RenderedPage(
        html=Markup("".join(pages[number - 1])),  # noqa: S704 - every piece of text is escaped
        number=number,
        count=len(pages),
        start=starts[number - 1],
        end=end,
        index=None,
    )


def _text_span(start: int, text: str, spans: Sequence[Span], span_ends: list[int]) -> str:
    """``<span data-start>`` around ``text``, with ``<mark>`` on the highlighted parts.

    ``spans`` are in text order and do not overlap; ``span_ends`` are their ends, for a
    binary search of the first one that reaches into ``text``.
    """
    end = start + len(text)
    inner: list[str] = []
    cursor = start
    # An empty line (plain-text fallback) lies inside a highlight but shows nothing of it.
    index = bisect.bisect_right(span_ends, start) if start < end else len(spans)
    while index < len(spans) and spans[index].start < end:
        span = spans[index]
        index += 1
        cut_start, cut_end = max(span.start, start), min(span.end, end)
        if cut_start > cursor:
            inner.append(html.escape(text[cursor - start : cut_start - start], quote=False))
        ids = " ".join(str(highlight_id) for highlight_id in span.highlight_ids)
        depth = min(len(span.highlight_ids), 3)
        inner.append(
            f'<mark class="hl hl-{depth}" data-highlights="{ids}">'
            f"{html.escape(text[cut_start - start : cut_end - start], quote=False)}</mark>"
        )
        cursor = cut_end
    if cursor < end:
        inner.append(html.escape(text[cursor - start :], quote=False))
    return f'<span class="t" data-start="{start}">{"".join(inner)}</span>'
