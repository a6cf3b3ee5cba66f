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
overlap.
"""

from __future__ import annotations

import dataclasses
import html
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Final

from markupsafe import Markup

from glossator.importers.html import BLOCK_TAGS, DROPPED_WITH_CONTENT, HTML_WHITESPACE
from glossator.ranges import Span, split_overlapping

if TYPE_CHECKING:
    from collections.abc import Sequence

    from glossator.services import HighlightRecord

__all__ = ["render_annotated_html"]

# Block, dropped-with-content and whitespace rules are the importer's own (imported): the
# renderer must split text exactly where the importer's plain text does, whose offsets are
# the highlights' offsets.
_VOID_TAGS: Final = frozenset({"br", "hr", "img", "wbr"})


@dataclasses.dataclass(slots=True)
class _Piece:
    """The text of one ``handle_data`` call, and what of it reaches the plain text."""

    raw: str
    kept: list[str] = dataclasses.field(default_factory=list)
    start: int | None = None


class _OffsetRenderer(HTMLParser):
    """Re-emits sanitised HTML with text pieces as placeholders, computing their offsets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str | _Piece] = []
        self.lines: list[str] = []
        self._line_pieces: list[_Piece] = []
        self._pre_depth = 0
        self._skip_depth = 0
        self._offset = 0  # plain-text offset where the next line starts

    # ------------------------------------------------------------------ parser events

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self._skip_depth += 1
            return
        if tag == "br":
            self._end_line(keep_empty=self._pre_depth > 0)
        elif tag in BLOCK_TAGS:
            self._end_line()
            if tag == "pre":
                self._pre_depth += 1
        if not self._skip_depth:
            self.parts.append(f"<{tag}{_attributes(attrs)}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._end_line(keep_empty=self._pre_depth > 0)
        elif tag in BLOCK_TAGS:
            self._end_line()
        if not self._skip_depth:
            closing = "" if tag in _VOID_TAGS else f"</{tag}>"
            self.parts.append(f"<{tag}{_attributes(attrs)}>{closing}")

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

    # ------------------------------------------------------------------ lines

    def _end_line(self, *, keep_empty: bool = False) -> None:
        pieces = self._line_pieces
        self._line_pieces = []
        # Every character of the line, with the piece it came from.
        chars = [(char, piece) for piece in pieces for char in piece.raw]
        if self._pre_depth:
            self._end_pre_lines(chars, keep_empty=keep_empty)
        else:
            self._end_flow_line(chars)

    def _end_flow_line(self, chars: list[tuple[str, _Piece]]) -> None:
        # Collapse runs of whitespace to one space and strip the line, as
        # `HTML_WHITESPACE.sub(" ", text).strip(" ")` does, keeping track of the pieces.
        kept: list[tuple[str, _Piece]] = []
        for char, piece in chars:
            if char in " \t\n\r\f":
                if kept and kept[-1][0] != " ":
                    kept.append((" ", piece))
            else:
                kept.append((char, piece))
        while kept and kept[-1][0] == " ":
            kept.pop()
        if kept:
            self._commit([kept])

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
            if self.lines:
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
    sanitized_html: str,
    plain_text: str,
    highlights: Sequence[HighlightRecord],
    *,
    labels: dict[int, str] | None = None,
) -> Markup:
    """The document's HTML with offset spans and highlight marks (see the module docs).

    Args:
        sanitized_html: The stored, sanitised HTML.
        plain_text: The stored plain text the highlights point into.
        highlights: The document's highlights.
        labels: Tooltip text per highlight id (tag and comment); defaults to the tag.

    Returns:
        Markup safe to insert into a page: every text piece is escaped here, and the
        markup around it is the sanitised HTML re-serialised with escaped attributes.
    """
    renderer = _OffsetRenderer()
    renderer.feed(sanitized_html)
    renderer.close()
    pieces_consistent = all(
        isinstance(part, str)
        or (part.start is None and not part.kept)
        or (part.start is not None and plain_text[part.start : part.start + len(part.kept)])
        == "".join(part.kept)
        for part in renderer.parts
    )
    if "\n".join(renderer.lines) != plain_text or not pieces_consistent:
        return _render_plain_text(plain_text, highlights, labels)
    spans = split_overlapping(highlights)
    titles = labels or {highlight.id: highlight.tag for highlight in highlights}
    out: list[str] = []
    for part in renderer.parts:
        if isinstance(part, str):
            out.append(part)
        elif part.start is not None:
            out.append(_text_span(part.start, "".join(part.kept), spans, titles))
        elif part.raw:
            # Whitespace that collapsed away: keep it for the layout, outside any span.
            out.append(html.escape(part.raw, quote=False))
    return Markup("".join(out))  # noqa: S704 - built from escaped text and sanitised markup


def _render_plain_text(
    plain_text: str, highlights: Sequence[HighlightRecord], labels: dict[int, str] | None
) -> Markup:
    spans = split_overlapping(highlights)
    titles = labels or {highlight.id: highlight.tag for highlight in highlights}
    out: list[str] = []
    offset = 0
    for line in plain_text.split("\n"):
        out.append(f"<p>{_text_span(offset, line, spans, titles)}</p>")
        offset += len(line) + 1
    return Markup("".join(out))  # noqa: S704 - every piece of text is escaped


def _text_span(start: int, text: str, spans: Sequence[Span], titles: dict[int, str]) -> str:
    """``<span data-start>`` around ``text``, with ``<mark>`` on the highlighted parts."""
    end = start + len(text)
    inner: list[str] = []
    cursor = start
    for span in spans:
        # An empty line (plain-text fallback) lies inside a highlight but shows nothing of it.
        if span.end <= start or span.start >= end or start == end:
            continue
        cut_start, cut_end = max(span.start, start), min(span.end, end)
        if cut_start > cursor:
            inner.append(html.escape(text[cursor - start : cut_start - start], quote=False))
        ids = " ".join(str(highlight_id) for highlight_id in span.highlight_ids)
        title = "; ".join(titles.get(highlight_id, "") for highlight_id in span.highlight_ids)
        depth = min(len(span.highlight_ids), 3)
        inner.append(
            f'<mark class="hl hl-{depth}" data-highlights="{ids}" '
            f'title="{html.escape(title, quote=True)}">'
            f"{html.escape(text[cut_start - start : cut_end - start], quote=False)}</mark>"
        )
        cursor = cut_end
    if cursor < end:
        inner.append(html.escape(text[cursor - start :], quote=False))
    return f'<span class="t" data-start="{start}">{"".join(inner)}</span>'
