"""The export's size budget and the messages users see about failed exports."""

from __future__ import annotations

import pytest

from glossator.errors import NotFound
from glossator.export.compile import LatexError, LatexNotInstalled, LatexTimeout
from glossator.export.latex import ExportDocument, ExportHighlight
from glossator.export.limits import (
    EXPORT_WORK_LIMIT,
    HIGHLIGHTED_WEIGHT,
    MAX_HIGHLIGHTS,
    ExportTooLarge,
    check_document,
    check_export_size,
    highlighted_characters,
    user_message,
)


class TestHighlightedCharacters:
    def test_overlaps_count_once_and_ranges_are_clipped(self) -> None:
        """Overlapping ranges are merged; parts outside the text are not counted."""
        ranges = [(0, 10), (5, 15), (20, 25), (-5, 2), (90, 200), (300, 400)]
        assert highlighted_characters(ranges, 100) == 15 + 5 + 10

    def test_nothing_highlighted(self) -> None:
        """No ranges: nothing covered."""
        assert highlighted_characters([], 100) == 0


class TestCheckExportSize:
    def test_two_million_characters_of_plain_text_fit(self) -> None:
        """The issue's 2.1 M-character document is well within the budget."""
        check_document(ExportDocument("t", "lorem ipsum " * 175_000))

    def test_too_much_highlighted_text_is_refused_with_advice(self) -> None:
        """Highlighted characters weigh more; past the budget the message says what to do."""
        highlighted = EXPORT_WORK_LIMIT // HIGHLIGHTED_WEIGHT + 1
        with pytest.raises(ExportTooLarge) as raised:
            check_export_size(
                text_length=highlighted,
                comment_characters=0,
                highlighted=highlighted,
                highlight_count=1,
            )
        message = str(raised.value)
        assert "too large to export" in message
        assert f"{highlighted:,} highlighted" in message
        assert "Split the document, or remove some highlights." in message

    def test_comments_count(self) -> None:
        """Comments are typeset too: their characters use the budget."""
        with pytest.raises(ExportTooLarge):
            check_export_size(
                text_length=10,
                comment_characters=EXPORT_WORK_LIMIT,
                highlighted=1,
                highlight_count=1,
            )

    def test_too_many_highlights(self) -> None:
        """More highlights than MAX_HIGHLIGHTS is refused whatever their size."""
        document = ExportDocument(
            "t", "x" * 10, [ExportHighlight(n, 0, 1, "t") for n in range(MAX_HIGHLIGHTS + 1)]
        )
        with pytest.raises(ExportTooLarge, match=f"at most {MAX_HIGHLIGHTS:,}"):
            check_document(document)


class TestUserMessage:
    @pytest.mark.parametrize(
        "error",
        [
            LatexError("latexmk failed", "./export.tex:12: Undefined control sequence"),
            LatexTimeout(
                "latexmk took longer than 120 s", "/var/work/glossator-export-x/export.log"
            ),
            LatexNotInstalled("'latexmk' not found on PATH"),
            NotFound("document", 7),
            RuntimeError("connection to server at 10.0.0.5 failed"),
        ],
    )
    def test_messages_reveal_nothing_internal(self, error: Exception) -> None:
        """Paths, hosts, log lines and exception texts never reach the user's message."""
        message = user_message(error)
        for internal in ("export.tex", "/var/work", "10.0.0.5", "latexmk", "Undefined", "PATH"):
            assert internal not in message
        assert message.endswith(".")

    def test_too_large_keeps_its_own_message(self) -> None:
        """ExportTooLarge's message is written for users already."""
        assert user_message(ExportTooLarge("This document is too large.")) == (
            "This document is too large."
        )
