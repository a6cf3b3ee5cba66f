"""Sanitised HTML re-emitted with text pieces whose plain-text offsets are known.

The parsing half of :mod:`glossator.web._render` (see its docs for the rules): an
:class:`HTMLParser` that mirrors :func:`glossator.importers.html_to_plain_text` piece by
piece, and records where pages may start.
"""

from __future__ import annotations

import dataclasses
import html
import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Final

from glossator.importers.html import BLOCK_TAGS, DROPPED_WITH_CONTENT, HTML_WHITESPACE

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["FIRST_PAGE", "OffsetRenderer", "PageIndex", "PageStart", "Piece"]

# Block, dropped-with-content and whitespace rules are the importer's own (imported): the
# renderer must split text exactly where the importer's plain text does, whose offsets are
# the highlights' offsets.
_VOID_TAGS: Final = frozenset({"br", "hr", "img", "wbr"})
_NEWLINE: Final = re.compile("\n")


@dataclasses.dataclass(slots=True)
class Piece:
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


FIRST_PAGE: Final = PageStart(0, 0, False, ())


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


class OffsetRenderer(HTMLParser):
    """Re-emits sanitised HTML with text pieces as placeholders, computing their offsets.

    With ``page_chars``, it also records where pages end (see the module docs).
    """

    def __init__(
        self, source: str, *, page_chars: int | None = None, start: PageStart = FIRST_PAGE
    ) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str | Piece] = []
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
        self._line_pieces: list[Piece] = []
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
        piece = Piece(raw)
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

    def _end_flow_line(self, pieces: list[Piece]) -> None:
        # Collapse runs of whitespace to one space and strip the line, as
        # `HTML_WHITESPACE.sub(" ", text).strip(" ")` does, piece by piece: each piece's
        # whitespace runs are single spaces already (handle_data), so only a space at
        # the start of a piece after a space (or at the line's start) and the line's
        # final space go.
        kept: list[tuple[Piece, str]] = []
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

    def _end_pre_lines(self, chars: list[tuple[str, Piece]], *, keep_empty: bool) -> None:
        # text.removeprefix("\n").removesuffix("\n").split("\n"), each line rstrip("\r").
        if not chars and not keep_empty:
            return
        body = chars
        if body and body[0][0] == "\n":
            body = body[1:]
        if body and body[-1][0] == "\n":
            body = body[:-1]
        lines: list[list[tuple[str, Piece]]] = [[]]
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
        lines: list[list[tuple[str, Piece]]],
        newline_pieces: Sequence[Piece] = (),
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
    def _keep(piece: Piece, char: str, position: int) -> None:
        if piece.start is None:
            piece.start = position
        piece.kept.append(char)


def _attributes(attrs: list[tuple[str, str | None]]) -> str:
    return "".join(
        f' {name}="{html.escape(value or "", quote=True)}"'
        for name, value in attrs
        if name.replace("-", "").isalnum()
    )
