"""How much one export may typeset, and the messages users see when an export fails.

The LaTeX renderer makes any text compile (long words, lines and paragraphs are cut to
TeX's limits), but a large enough document still takes pdflatex longer than the worker's
time limit. :func:`check_export_size` refuses such a document before anything compiles,
with a message the user can act on; the services check it when an export is requested,
and the worker again before compiling (highlights may have been added in between).

The cost model comes from measurements with pdflatex on a 2-core machine (docs/export.md,
"Limits"): plain text and comments typeset at about 3 s per million characters, while a
highlighted character (set in a coloured box) costs about ten times as much. The budget,
:data:`EXPORT_WORK_LIMIT`, is about 60 s of typesetting on an idle machine, half the
default compile time limit, so a busy machine still finishes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from glossator.errors import GlossatorError, NotFound
from glossator.export.compile import LatexError, LatexNotInstalled, LatexTimeout

if TYPE_CHECKING:
    from collections.abc import Iterable

    from glossator.export.latex import ExportDocument

__all__ = [
    "EXPORT_WORK_LIMIT",
    "HIGHLIGHTED_WEIGHT",
    "MAX_HIGHLIGHTS",
    "ExportTooLarge",
    "check_document",
    "check_export_size",
    "export_work",
    "highlighted_characters",
    "user_message",
]

#: Cost of a highlighted character relative to a plain one (a coloured box per word).
HIGHLIGHTED_WEIGHT: Final = 10
#: Most "work units" one export may take: characters of text and comments, highlighted
#: characters counting :data:`HIGHLIGHTED_WEIGHT` times. 20 million is about 20 million
#: characters of plain text or 2 million highlighted ones.
EXPORT_WORK_LIMIT: Final = 20_000_000
#: Most highlights one export may show (each may add a footnote and a colour).
MAX_HIGHLIGHTS: Final = 20_000


class ExportTooLarge(GlossatorError):
    """The document is too large to typeset within the export's limits; retrying is useless.

    The message is meant for the user (it says what is too large and what to do).
    """


def highlighted_characters(ranges: Iterable[tuple[int, int]], text_length: int) -> int:
    """How many characters of the text at least one highlight covers (overlaps count once)."""
    covered = 0
    reached = 0  # everything before this offset is counted already
    for start, end in sorted((max(0, start), min(text_length, end)) for start, end in ranges):
        if end > reached:
            covered += end - max(start, reached)
            reached = end
    return covered


def export_work(text_length: int, comment_characters: int, highlighted: int) -> int:
    """The work units of an export (see :data:`EXPORT_WORK_LIMIT`)."""
    return text_length + comment_characters + (HIGHLIGHTED_WEIGHT - 1) * highlighted


def check_export_size(
    *, text_length: int, comment_characters: int, highlighted: int, highlight_count: int
) -> None:
    """Refuse an export that cannot be typeset within the limits.

    Args:
        text_length: Characters of the document's plain text.
        comment_characters: Characters of all its highlights' comments.
        highlighted: Characters of the text covered by highlights
            (:func:`highlighted_characters`).
        highlight_count: Its number of highlights.

    Raises:
        ExportTooLarge: With a message for the user.
    """
    if highlight_count > MAX_HIGHLIGHTS:
        raise ExportTooLarge(
            f"This document has {highlight_count:,} highlights; a PDF export can show at "
            f"most {MAX_HIGHLIGHTS:,}. Remove some highlights, or split the document."
        )
    work = export_work(text_length, comment_characters, highlighted)
    if work > EXPORT_WORK_LIMIT:
        raise ExportTooLarge(
            f"This document is too large to export as a PDF: {text_length:,} characters of "
            f"text ({highlighted:,} highlighted) and {comment_characters:,} characters of "
            f"comments would take too long to typeset. An export can hold about "
            f"{EXPORT_WORK_LIMIT // 1_000_000} million characters of text, or "
            f"{EXPORT_WORK_LIMIT // HIGHLIGHTED_WEIGHT // 1_000_000} million highlighted "
            "ones. Split the document, or remove some highlights."
        )


def check_document(document: ExportDocument) -> None:
    """:func:`check_export_size` for a loaded document.

    Raises:
        ExportTooLarge: With a message for the user.
    """
    text_length = len(document.plain_text)
    check_export_size(
        text_length=text_length,
        comment_characters=sum(len(h.comment or "") for h in document.highlights),
        highlighted=highlighted_characters(
            ((h.start_offset, h.end_offset) for h in document.highlights), text_length
        ),
        highlight_count=len(document.highlights),
    )


def user_message(error: BaseException) -> str:
    """What a user is told about a failed attempt: no host names, paths or LaTeX logs.

    The details (LaTeX log lines, the exception) go to the worker's log; the job keeps
    only this message, which :func:`glossator.services.get_export` shows to every viewer.
    """
    if isinstance(error, ExportTooLarge):
        return str(error)
    if isinstance(error, NotFound):
        return "The document was deleted before it could be exported."
    if isinstance(error, LatexTimeout):
        return "Typesetting the PDF took longer than the export's time limit."
    if isinstance(error, LatexNotInstalled):
        return "The export service is not set up correctly; please tell the administrator."
    if isinstance(error, LatexError):
        return "The PDF could not be typeset; please tell the administrator if this persists."
    return "The export failed because of an internal error; please tell the administrator."
