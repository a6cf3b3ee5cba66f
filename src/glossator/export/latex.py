"""Render a document with its highlights as a LaTeX source that pdflatex compiles.

Pure functions, no I/O. The engine is pdflatex with T1 fonts (Latin Modern), chosen for
speed and a small TeX Live install (docs/export.md says why). Two rules keep the output
safe and faithful:

* **Everything user-provided is escaped** character by character (:func:`escape_text`):
  the LaTeX specials become commands that print them, so a comment such as
  ``\\input{/etc/passwd}`` prints literally and can never be executed. Characters
  that also form TeX ligatures (``--``, ``''``, ``<<`` and so on) are escaped too, so
  the PDF's text reads exactly like the input.
* **Characters the fonts cannot print** (outside :data:`SUPPORTED_CHARACTERS`: Greek,
  Cyrillic, CJK, emoji, ...) are shown as a visible ``[U+XXXX]`` marker instead of
  failing the compilation.

Highlights may overlap; :func:`glossator.ranges.split_overlapping` cuts them into flat
spans first. Each word of a highlighted span is set in a coloured box (boxes nest badly
and do not break across lines, words do); a span covered by several highlights gets the
mix of their tags' colours. A highlight's comment becomes a footnote placed right after
the highlighted passage.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Final

from glossator.ranges import split_overlapping

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "SUPPORTED_CHARACTERS",
    "TAG_COLOURS",
    "ExportDocument",
    "ExportHighlight",
    "escape_text",
    "render_latex",
]


def _ranges(*spans: tuple[int, int]) -> frozenset[str]:
    return frozenset(chr(code) for first, last in spans for code in range(first, last + 1))


#: Characters pdflatex prints with ``fontenc`` T1, ``textcomp`` and Latin Modern, found by
#: compiling every code point of the candidate blocks (the list is checked by a test that
#: compiles all of them). Everything else becomes a ``[U+XXXX]`` marker.
SUPPORTED_CHARACTERS: Final = _ranges(
    (0x20, 0x7E),
    (0xA0, 0x125),
    (0x128, 0x137),
    (0x139, 0x13E),
    (0x141, 0x148),
    (0x14A, 0x165),
    (0x168, 0x17E),
    (0x192, 0x192),
    (0x1C4, 0x1D4),
    (0x1E2, 0x1E3),
    (0x1E6, 0x1EB),
    (0x1F0, 0x1F0),
    (0x1F4, 0x1F5),
    (0x218, 0x21B),
    (0x232, 0x233),
    (0x237, 0x237),
    (0x2C6, 0x2C7),
    (0x2D8, 0x2D9),
    (0x2DB, 0x2DD),
    (0x2010, 0x2016),
    (0x2018, 0x201A),
    (0x201C, 0x201E),
    (0x2020, 0x2022),
    (0x2026, 0x2026),
    (0x2030, 0x2031),
    (0x2039, 0x203B),
    (0x20AC, 0x20AC),
    (0x2122, 0x2122),
    (0x2190, 0x2193),
)

#: Light background colours (HTML hex) given to a document's tags in alphabetical order.
TAG_COLOURS: Final = (
    "FFE08A",  # yellow
    "A8E6A1",  # green
    "A7D3F5",  # blue
    "F7B2C4",  # pink
    "D4B8F0",  # purple
    "FFC99E",  # orange
    "B5EAD7",  # mint
    "D9D9D9",  # grey
)

# Characters LaTeX treats specially, or that form ligatures in T1 fonts, and how to print
# them literally. The braces after a command end its name without eating a space.
_ESCAPES: Final = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': r"\textquotedbl{}",
    "'": r"\textquotesingle{}",
    "`": r"\textasciigrave{}",
    "-": "-{}",
    ",": ",{}",
    "\N{NO-BREAK SPACE}": "~",
    "\N{SOFT HYPHEN}": r"\-",
}

# Whitespace that separates words; other Unicode spaces are escaped like any character.
_WHITESPACE_RUN: Final = re.compile(r"[ \t\n\r\f\v]+")

#: Most characters set without a place where the line may break. A box of some 2,850
#: characters is wider than TeX's largest dimension, a line of 34,000 unbreakable ones
#: overflows its arithmetic; 40 characters rarely reach across a line.
WORD_CHUNK: Final = 40
#: Source lines end once longer than this (TeX's line buffer holds 200,000 characters).
MAX_SOURCE_LINE: Final = 1000
#: Characters after which a text's next line break also ends the TeX paragraph.
PARAGRAPH_SOFT: Final = 2000
#: Characters after which the next break point of any kind ends the TeX paragraph. TeX
#: holds a paragraph (footnotes included) in main memory until it ends: 2.1 million
#: characters without a blank line exhaust it.
PARAGRAPH_HARD: Final = 10000
_PARAGRAPH: Final = "\\par\n"
_NEWLINE: Final = "\n"  # a single newline of the text (rendered as single_newline)
# Ends a TeX paragraph without a visible trace: no indent, and the parskip cancelled.
_CONTINUE: Final = "\\glscontinue\n"
_WORD_BREAK: Final = r"\allowbreak{}"

_PREAMBLE: Final = r"""\documentclass[11pt,a4paper]{article}
\usepackage[T1]{fontenc}
\usepackage{textcomp}
\usepackage{lmodern}
\usepackage[margin=25mm]{geometry}
\usepackage{xcolor}
\usepackage{microtype}
% Text extracted from the PDF (copy and paste, pdftotext) reads like the input.
\DisableLigatures{encoding = *, family = *}
\input{glyphtounicode}
\pdfgentounicode=1
% No hyphenation: passages stay whole words, lines break between words only.
\hyphenpenalty=10000
\exhyphenpenalty=10000
\emergencystretch=3em
\setlength{\fboxsep}{0.6pt}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.6\baselineskip}
\newcommand{\glshl}[2]{\colorbox{#1}{\strut #2}}
\newcommand{\glsmissing}[1]{{\scriptsize[U+#1]}}
\newcommand{\glscontinue}{\par\vspace{-\parskip}}
"""


@dataclasses.dataclass(frozen=True, slots=True)
class ExportHighlight:
    """A highlight as the export needs it; satisfies :class:`glossator.ranges.HasRange`.

    Attributes:
        id: The highlight's id (footnotes are numbered in text order, not by id).
        start_offset: First character in the document's plain text.
        end_offset: One past the last character.
        tag: Its tag; decides the colour.
        comment: Its comment, printed as a footnote; ``None`` for none.
        author_name: Display name of its author, printed with the comment.
    """

    id: int
    start_offset: int
    end_offset: int
    tag: str
    comment: str | None = None
    author_name: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ExportDocument:
    """Everything the LaTeX rendering of one document needs.

    Attributes:
        title: The document's title.
        plain_text: The text the highlights point into.
        highlights: Its highlights, in any order.
    """

    title: str
    plain_text: str
    highlights: Sequence[ExportHighlight] = ()


def escape_text(text: str) -> str:
    """Escape user text so LaTeX prints it literally, whatever it contains.

    Specials become printing commands; control characters become spaces; characters the
    fonts lack become ``[U+XXXX]`` markers. Line breaks are not interpreted here (see
    :func:`render_latex`): each becomes a space.

    Args:
        text: Any string.

    Returns:
        LaTeX source for text mode.
    """
    return "".join(_escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    escaped = _ESCAPES.get(char)
    if escaped is not None:
        return escaped
    if char in SUPPORTED_CHARACTERS:
        return char
    if char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F:
        return " "
    return rf"\glsmissing{{{ord(char):04X}}}"


def _tag_colours(highlights: Iterable[ExportHighlight]) -> dict[str, str]:
    tags = sorted({highlight.tag for highlight in highlights})
    return {tag: f"glstag{index}" for index, tag in enumerate(tags)}


class _Source:
    """LaTeX source under construction whose lines stay short, whatever the input.

    TeX reads its input a line at a time into a buffer of 200,000 characters; a
    comment of 14,000 backslashes (16 characters of source each) on one line overflows
    it. :meth:`add` ends a line once it is longer than :data:`MAX_SOURCE_LINE`: with
    ``%`` (the end of line then produces nothing, so a word stays whole), or, before a
    piece that starts with a space, with a plain end of line (which is that space: TeX
    skips spaces at the start of a line).
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._line_length = 0

    def add(self, piece: str) -> None:
        """Append ``piece``, a whole unit of LaTeX (never half a command or argument)."""
        if not piece:
            return
        # ">=": the "%" that ends the line counts too.
        if self._line_length > 0 and self._line_length + len(piece) >= MAX_SOURCE_LINE:
            if piece.startswith(" "):
                self._parts.append("\n")
                piece = piece[1:]
            else:
                self._parts.append("%\n")
            self._line_length = 0
        self._parts.append(piece)
        newline = piece.rfind("\n")
        if newline >= 0:
            self._line_length = len(piece) - newline - 1
        else:
            self._line_length += len(piece)

    def text(self) -> str:
        """The source so far."""
        return "".join(self._parts)


def _whitespace_renderings(text: str) -> list[str | None]:
    """For each character: ``None`` if it is not whitespace, else what kind of break it is.

    A run of whitespace counts once, at its first character: :data:`_PARAGRAPH` for a
    blank line, :data:`_NEWLINE` for one newline, ``" "`` otherwise; the run's other
    characters, and leading and trailing whitespace of the text, are ``""`` (nothing).
    """
    rendering: list[str | None] = [None] * len(text)
    for match in _WHITESPACE_RUN.finditer(text):
        newlines = match.group().count("\n") + match.group().count("\r")
        if match.start() == 0 or match.end() == len(text):
            first = ""
        elif newlines >= 2:
            first = _PARAGRAPH
        elif newlines == 1:
            first = _NEWLINE
        else:
            first = " "
        rendering[match.start()] = first
        for index in range(match.start() + 1, match.end()):
            rendering[index] = ""
    return rendering


def _add_text(
    source: _Source,
    text: str,
    *,
    colour_at: Sequence[str | None] | None = None,
    footnotes_after: dict[int, list[ExportHighlight]] | None = None,
    single_newline: str = " ",
) -> None:
    """Add user text: escaped, in coloured boxes where highlighted, footnotes after passages.

    Whatever the text, TeX's limits hold (docs/export.md, "Limits"): a word gets a break
    point every :data:`WORD_CHUNK` characters (a box wider than about 5.7 m is
    ``Dimension too large``, a line of unbreakable material ``number too big``), and a
    paragraph is cut into TeX paragraphs (that look like one) after
    :data:`PARAGRAPH_SOFT` characters at a line break, after :data:`PARAGRAPH_HARD` at
    any break point: TeX keeps a whole paragraph in memory.

    Args:
        source: Where the LaTeX goes.
        text: The user's text.
        colour_at: Colour name per character (``None``: not highlighted); none at all
            when omitted.
        footnotes_after: Highlights whose comment goes after the character before the key.
        single_newline: What one newline becomes (blank lines are paragraph breaks).
    """
    paragraph = 0  # characters (with footnotes) in the current TeX paragraph
    unbroken = 0  # characters since the last place a line may break
    word: list[str] = []
    word_colour: str | None = None

    def flush_word() -> None:
        if word:
            chunk = "".join(word)
            source.add(rf"\glshl{{{word_colour}}}{{{chunk}}}" if word_colour else chunk)
            word.clear()

    whitespace = _whitespace_renderings(text)
    for index, char in enumerate(text):
        space = whitespace[index]
        if space is not None:
            flush_word()
            if space == _PARAGRAPH:
                paragraph = 0
            elif space and paragraph >= (PARAGRAPH_SOFT if space == _NEWLINE else PARAGRAPH_HARD):
                space, paragraph = _CONTINUE, 0
            elif space == _NEWLINE:
                space = single_newline
            source.add(space)
            unbroken = 0
        else:
            colour = colour_at[index] if colour_at is not None else None
            if unbroken >= WORD_CHUNK:
                flush_word()
                if paragraph >= PARAGRAPH_HARD:
                    source.add(_CONTINUE)
                    paragraph = 0
                else:
                    source.add(_WORD_BREAK)
                unbroken = 0
            if colour != word_colour:
                flush_word()
                word_colour = colour
            word.append(_escape_char(char))
            unbroken += 1
            paragraph += 1
        if footnotes_after is not None and index + 1 in footnotes_after:
            flush_word()
            for highlight in footnotes_after[index + 1]:
                _add_footnote(source, highlight)
                # Its text sits in this paragraph's memory until the paragraph ends.
                paragraph += len(highlight.comment or "")
    flush_word()


def _add_footnote(source: _Source, highlight: ExportHighlight) -> None:
    assert highlight.comment is not None
    source.add(r"\footnote{\raggedright\textbf{")
    _add_text(source, " ".join(highlight.tag.split()))
    source.add("}")
    if highlight.author_name:
        source.add(" (")
        _add_text(source, " ".join(highlight.author_name.split()))
        source.add(")")
    source.add(": ")
    _add_text(source, highlight.comment)
    source.add("}")


def render_latex(document: ExportDocument) -> str:
    """Render a document's text with its highlights and comments as a LaTeX document.

    Any text compiles: long words, long comments and long paragraphs are cut so that
    TeX's limits hold (see :func:`_add_text`). Whether the whole document is small enough
    to compile in time is :func:`glossator.export.limits.check_export_size`'s question.

    Args:
        document: The title, plain text and highlights; highlight ranges reaching outside
            the text are clipped to it.

    Returns:
        A complete LaTeX source for pdflatex; it loads only packages of Debian's
        ``texlive-latex-base``, ``texlive-latex-recommended`` and ``lmodern``.
    """
    text = document.plain_text
    highlights = _clipped(document.highlights, len(text))
    tag_colour = _tag_colours(highlights)
    colour_at, span_colours = _colour_per_character(text, highlights, tag_colour)
    colour_definitions = [
        rf"\definecolor{{{name}}}{{HTML}}{{{TAG_COLOURS[index % len(TAG_COLOURS)]}}}"
        for index, name in enumerate(tag_colour.values())
    ]
    colour_definitions += [
        rf"\colorlet{{{name}}}{{{_mix(colours)}}}" for colours, name in span_colours.items()
    ]
    source = _Source()
    source.add(_PREAMBLE)
    for line in colour_definitions:
        source.add(f"{line}\n")
    source.add("\\begin{document}\n\\raggedright\n")
    source.add(r"{\Large\bfseries ")
    if document.title.strip():
        _add_text(source, document.title.strip())
    else:
        source.add("Untitled")
    source.add("\\par}\n")
    _add_legend(source, tag_colour)
    _add_text(
        source,
        text,
        colour_at=colour_at,
        footnotes_after=_footnotes_by_position(text, highlights),
        single_newline="\\newline\n",
    )
    source.add("\n\\end{document}\n")
    return source.text()


def _clipped(highlights: Iterable[ExportHighlight], text_length: int) -> list[ExportHighlight]:
    """The highlights clipped to the text; those left empty are dropped."""
    clipped = [
        dataclasses.replace(
            highlight,
            start_offset=max(0, highlight.start_offset),
            end_offset=min(text_length, highlight.end_offset),
        )
        for highlight in highlights
    ]
    return [highlight for highlight in clipped if highlight.start_offset < highlight.end_offset]


def _colour_per_character(
    text: str, highlights: Sequence[ExportHighlight], tag_colour: dict[str, str]
) -> tuple[list[str | None], dict[tuple[str, ...], str]]:
    """The colour name of each character (``None``: not highlighted) and the mixes used."""
    by_id = {highlight.id: highlight for highlight in highlights}
    span_colours: dict[tuple[str, ...], str] = {}
    colour_at: list[str | None] = [None] * len(text)
    for span in split_overlapping(highlights):
        colours = tuple(sorted({tag_colour[by_id[hid].tag] for hid in span.highlight_ids}))
        if len(colours) == 1:
            name = colours[0]
        else:
            name = span_colours.setdefault(colours, f"glsmix{len(span_colours)}")
        colour_at[span.start : span.end] = [name] * (span.end - span.start)
    return colour_at, span_colours


def _footnotes_by_position(
    text: str, highlights: Sequence[ExportHighlight]
) -> dict[int, list[ExportHighlight]]:
    """Commented highlights keyed by where their footnote goes: after the last non-space."""
    footnotes: dict[int, list[ExportHighlight]] = {}
    for highlight in sorted(highlights, key=lambda h: (h.end_offset, h.start_offset, h.id)):
        if highlight.comment:
            position = highlight.end_offset
            while position > highlight.start_offset + 1 and text[position - 1].isspace():
                position -= 1
            footnotes.setdefault(position, []).append(highlight)
    return footnotes


def _mix(colours: Sequence[str]) -> str:
    """An xcolor expression mixing ``colours`` in equal parts."""
    expression = colours[0]
    for count, colour in enumerate(colours[1:], start=2):
        expression = f"{expression}!{100 * (count - 1) // count}!{colour}"
    return expression


def _add_legend(source: _Source, tag_colour: dict[str, str]) -> None:
    if not tag_colour:
        return
    source.add(r"{\small Tags: ")
    for index, (tag, colour) in enumerate(tag_colour.items()):
        if index:
            source.add(", ")
        _add_text(source, tag, colour_at=[colour] * len(tag))
    source.add("\\par}\n")
