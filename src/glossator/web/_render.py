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

The rules are mirrored here character by character from :mod:`glossator.importers.html`
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
import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Final

from markupsafe import Markup

from glossator.importers.html import BLOCK_TAGS, DROPPED_WITH_CONTENT, HTML_WHITESPACE
from glossator.ranges import Span, split_overlapping

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

# Block, dropped-with-content and whitespace rules are the importer's own (imported): the
# renderer must split text exactly where the importer's plain text does, whose offsets are
# the highlights' offsets.
_VOID_TAGS: Final = frozenset({"br", "hr", "img", "wbr"})
_NEWLINE: Final = re.compile("\n")


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


@dataclasses.dataclass(slots=True)
class _Piece:
    """The text of one ``handle_data`` call, and what of it reaches the plain text."""

    raw: str
    kept: list[str] = dataclasses.field(default_factory=list)
    start: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PageStart:
    """Where a page starts, enough to render it without the pages before it.

    Attributes:
        html_position: Index in the sanitised HTML right after the tag the page follows.
        offset: Plain-text offset where the previous page's text ends.
        text_before: Whether any line of text precedes the page.
        open_tags: The elements open at that point, outermost first: ``(tag, start tag)``.
    """

    html_position: int
    offset: int
    text_before: bool
    open_tags: tuple[tuple[str, str], ...]


_FIRST_PAGE: Final = PageStart(0, 0, False, ())


@dataclasses.dataclass(frozen=True, slots=True)
class PageIndex:
    """Where each page of one document starts; small, so the server can keep it.

    Attributes:
        html_length: Length of the HTML it was computed from.
        text_length: Length of the plain text.
        starts: One entry per page, the first one at the document's start.
    """

    html_length: int
    text_length: int
    starts: tuple[PageStart, ...]


class _OffsetRenderer(HTMLParser):
    """Re-emits sanitised HTML with text pieces as placeholders, computing their offsets.

    With ``page_chars``, it also records where pages end (see the module docs).
    """

    def __init__(
        self, source: str, *, page_chars: int | None = None, start: PageStart = _FIRST_PAGE
    ) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str | _Piece] = []
        self.lines: list[str] = []
        #: Page boundaries found: (index into ``parts``, where the next page starts).
        self.cuts: list[tuple[int, PageStart]] = []
        self._source = source
        self._line_starts: list[int] | None = None
        self._page_chars = page_chars
        self._page_start = start.offset
        self._cut_pending = False
        self._text_before = start.text_before
        self._open: list[tuple[str, str]] = list(start.open_tags)
        self._line_pieces: list[_Piece] = []
        self._pre_depth = 0
        self._skip_depth = 0
        self._offset = start.offset  # plain-text offset where the next line starts

    def run(self) -> None:
        """Parse the whole source."""
        self.feed(self._source)
        self.close()

    # ------------------------------------------------------------------ parser events

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self._skip_depth += 1
            return
        if tag == "br":
            self._end_line(keep_empty=self._pre_depth > 0)
        elif tag in BLOCK_TAGS:
            self._end_line()
        if self._cut_pending:
            self._cut(self._tag_start())
        if tag == "pre":
            self._pre_depth += 1
        if not self._skip_depth:
            markup = f"<{tag}{_attributes(attrs)}>"
            self.parts.append(markup)
            if tag not in _VOID_TAGS:
                self._open.append((tag, markup))
            elif tag == "br":
                self._maybe_cut(block_end=False)  # inside an over-long paragraph

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._end_line(keep_empty=self._pre_depth > 0)
        elif tag in BLOCK_TAGS:
            self._end_line()
        if self._cut_pending:
            self._cut(self._tag_start())
        if not self._skip_depth:
            closing = "" if tag in _VOID_TAGS else f"</{tag}>"
            self.parts.append(f"<{tag}{_attributes(attrs)}>{closing}")
            if tag == "br":
                self._maybe_cut(block_end=False)  # inside an over-long paragraph

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag in BLOCK_TAGS:
            self._end_line()
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)
        if not self._skip_depth and tag not in _VOID_TAGS:
            self.parts.append(f"</{tag}>")
            # Sanitised HTML is well-formed: the innermost open element is this one.
            if any(open_tag == tag for open_tag, _ in self._open):
                while self._open and self._open.pop()[0] != tag:
                    pass
            self._maybe_cut(block_end=tag in BLOCK_TAGS)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        raw = data if self._pre_depth else HTML_WHITESPACE.sub(" ", data)
        piece = _Piece(raw)
        self._line_pieces.append(piece)
        self.parts.append(piece)

    def close(self) -> None:
        super().close()
        self._end_line()

    def _maybe_cut(self, *, block_end: bool) -> None:
        """After a block's end (or a ``<br>``): cut here if the page is full.

        After a block, the cut waits for the next start tag, so that the end tags that
        follow stay on this page (no empty elements opened again on the next one).
        """
        if self._page_chars is None or self._pre_depth or self._line_pieces:
            return
        written = self._offset - self._page_start
        if written < self._page_chars:
            return
        if block_end:
            self._cut_pending = True
        elif written >= 2 * self._page_chars:
            self._cut(self._tag_start(), after_tag=True)

    def _cut(self, tag_start: int, *, after_tag: bool = False) -> None:
        if self._pre_depth or self._skip_depth or self._line_pieces:
            return  # not a place to cut; try again at the next tag
        position = tag_start
        if after_tag:
            start_tag = self.get_starttag_text() or ""
            position = tag_start + len(start_tag)
        start = PageStart(position, self._offset, self._has_text, tuple(self._open))
        self.cuts.append((len(self.parts), start))
        self._page_start = self._offset
        self._cut_pending = False

    def _tag_start(self) -> int:
        """Index in the source where the tag being handled starts."""
        if self._line_starts is None:
            self._line_starts = [0]
            self._line_starts.extend(m.end() for m in _NEWLINE.finditer(self._source))
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    @property
    def _has_text(self) -> bool:
        return self._text_before or bool(self.lines)

    # ------------------------------------------------------------------ lines

    def _end_line(self, *, keep_empty: bool = False) -> None:
        pieces = self._line_pieces
        self._line_pieces = []
        if self._pre_depth:
            # Every character of the line, with the piece it came from.
            chars = [(char, piece) for piece in pieces for char in piece.raw]
            self._end_pre_lines(chars, keep_empty=keep_empty)
        else:
            self._end_flow_line(pieces)

    def _end_flow_line(self, pieces: list[_Piece]) -> None:
        # Collapse runs of whitespace to one space and strip the line, as
        # `HTML_WHITESPACE.sub(" ", text).strip(" ")` does, piece by piece: each piece's
        # whitespace runs are single spaces already (handle_data), so only a space at
        # the start of a piece after a space (or at the line's start) and the line's
        # final space go.
        kept: list[tuple[_Piece, str]] = []
        after_space = True
        for piece in pieces:
            text = piece.raw.lstrip(" ") if after_space else piece.raw
            if text:
                kept.append((piece, text))
                after_space = text.endswith(" ")
        if kept and after_space:
            piece, text = kept[-1]
            if text == " ":
                kept.pop()
            else:
                kept[-1] = (piece, text[:-1])
        if not kept:
            return
        if self._has_text:
            self._offset += 1  # the "\n" joining this line to the previous one
        position = self._offset
        for piece, text in kept:
            if piece.start is None:
                piece.start = position
            piece.kept.append(text)
            position += len(text)
        self.lines.append("".join(text for _, text in kept))
        self._offset = position

    def _end_pre_lines(self, chars: list[tuple[str, _Piece]], *, keep_empty: bool) -> None:
        # text.removeprefix("\n").removesuffix("\n").split("\n"), each line rstrip("\r").
        if not chars and not keep_empty:
            return
        body = chars
        if body and body[0][0] == "\n":
            body = body[1:]
        if body and body[-1][0] == "\n":
            body = body[:-1]
        lines: list[list[tuple[str, _Piece]]] = [[]]
        for char, piece in body:
            if char == "\n":
                lines.append([])
            else:
                lines[-1].append((char, piece))
        for line in lines:
            while line and line[-1][0] == "\r":
                line.pop()
        # The newlines between these lines are characters of the plain text, and they
        # sit inside the pieces' DOM text too: keep them, so each piece stays contiguous.
        self._commit(lines, newline_pieces=[piece for char, piece in body if char == "\n"])

    def _commit(
        self,
        lines: list[list[tuple[str, _Piece]]],
        newline_pieces: Sequence[_Piece] = (),
    ) -> None:
        for index, line in enumerate(lines):
            if self._has_text:
                self._offset += 1  # the "\n" joining this line to the previous one
                if index > 0:
                    piece = newline_pieces[index - 1]
                    self._keep(piece, "\n", self._offset - 1)
            position = self._offset
            for char, piece in line:
                self._keep(piece, char, position)
                position += 1
            self.lines.append("".join(char for char, _ in line))
            self._offset = position

    @staticmethod
    def _keep(piece: _Piece, char: str, position: int) -> None:
        if piece.start is None:
            piece.start = position
        piece.kept.append(char)


def _attributes(attrs: list[tuple[str, str | None]]) -> str:
    return "".join(
        f' {name}="{html.escape(value or "", quote=True)}"'
        for name, value in attrs
        if name.replace("-", "").isalnum()
    )


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
    renderer = _OffsetRenderer(sanitized_html, page_chars=page_chars)
    renderer.run()
    if "\n".join(renderer.lines) != plain_text or not _pieces_consistent(
        renderer.parts, plain_text
    ):
        return _render_plain_text(plain_text, spans, page=page, page_chars=page_chars)
    cuts = [(0, _FIRST_PAGE), *renderer.cuts]
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
    renderer = _OffsetRenderer(sanitized_html[first.html_position : end_position], start=first)
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
    parts: Sequence[str | _Piece], first: PageStart, last: PageStart | None, spans: list[Span]
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


def _pieces_consistent(parts: Sequence[str | _Piece], plain_text: str) -> bool:
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
