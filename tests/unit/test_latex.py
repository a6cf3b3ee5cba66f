"""LaTeX rendering of annotated documents: escaping, overlaps, colours, notes, log excerpts.

Pure functions, no compiler: the compiled output is checked in
``tests/integration/test_export_latex.py``.
"""

from __future__ import annotations

import re

import pytest

from glossator.export import latex as latex_module
from glossator.export.compile import latex_log_excerpt
from glossator.export.latex import (
    MAX_SOURCE_LINE,
    PARAGRAPH_HARD,
    PARAGRAPH_SOFT,
    SUPPORTED_CHARACTERS,
    WORD_CHUNK,
    ExportDocument,
    ExportHighlight,
    escape_text,
    render_latex,
)

# The only commands escaping may produce: each prints one character.
PRINTING_COMMANDS = {
    "textbackslash",
    "textasciicircum",
    "textasciitilde",
    "textless",
    "textgreater",
    "textbar",
    "textquotedbl",
    "textquotesingle",
    "textasciigrave",
    "glsmissing",
}
HOSTILE_TEXTS = [
    r"\input{/etc/passwd}",
    r"\write18{rm -rf /}",
    r"\immediate\write18{id}",
    r"\catcode`\@=11 \def\x{}",
    "^^5cinput{/etc/passwd}",
    r"}\end{document}",
    r"$\alpha$ & # % _ ~ { }",
    "\\\\\\",
    "\\",
    "%",
    "{",
]


def _commands(latex: str) -> set[str]:
    return set(re.findall(r"\\([A-Za-z@]+)", latex))


def _braces_balanced(latex: str) -> bool:
    depth = 0
    for match in re.finditer(r"\\[{}]|\\[A-Za-z]+|[{}]", latex):
        piece = match.group()
        if piece == "{":
            depth += 1
        elif piece == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _body(latex: str) -> str:
    return latex.split("\\begin{document}", 1)[1]


class TestEscapeText:
    @pytest.mark.parametrize("text", HOSTILE_TEXTS)
    def test_user_text_yields_only_printing_commands(self, text: str) -> None:
        """Whatever the input, the output uses only commands that print a character."""
        escaped = escape_text(text)
        assert _commands(escaped) <= PRINTING_COMMANDS
        assert _braces_balanced(escaped)

    @pytest.mark.parametrize(
        ("char", "expected"),
        [
            ("\\", r"\textbackslash{}"),
            ("{", r"\{"),
            ("}", r"\}"),
            ("$", r"\$"),
            ("&", r"\&"),
            ("#", r"\#"),
            ("%", r"\%"),
            ("_", r"\_"),
            ("^", r"\textasciicircum{}"),
            ("~", r"\textasciitilde{}"),
        ],
    )
    def test_specials_are_escaped(self, char: str, expected: str) -> None:
        """Each LaTeX special character becomes the command that prints it."""
        assert escape_text(char) == expected

    def test_ligature_characters_are_kept_apart(self) -> None:
        """-- `` '' << ,, print as typed, not as dashes, curly quotes or guillemets."""
        escaped = escape_text("a--b ``c'' <<d>> ,,e")
        for ligature in ("--", "``", "''", "<<", ">>", ",,"):
            assert ligature not in escaped

    def test_plain_text_is_unchanged(self) -> None:
        """Letters, digits, accents and ordinary punctuation pass through."""
        assert escape_text("Café No. 5: naïve. Zoë?") == "Café No. 5: naïve. Zoë?"

    def test_unsupported_characters_become_markers(self) -> None:
        """Characters the fonts lack become a visible code-point marker, not an error."""
        assert escape_text("Ω🎉") == r"\glsmissing{03A9}\glsmissing{1F389}"

    def test_control_characters_become_spaces(self) -> None:
        """NUL, escape and delete cannot reach LaTeX (they would end or corrupt the input)."""
        assert escape_text("a\x00b\x1bc\x7fd") == "a b c d"

    def test_supported_set_holds_printable_ascii(self) -> None:
        """Every printable ASCII character is in the supported set."""
        assert {chr(code) for code in range(0x20, 0x7F)} <= SUPPORTED_CHARACTERS


class TestRenderLatex:
    def test_document_without_highlights(self) -> None:
        """Title and text appear; no legend and no footnote without highlights."""
        latex = render_latex(ExportDocument("A title", "Just text."))
        assert latex.startswith("\\documentclass")
        assert "A title" in latex
        assert "Just text." in _body(latex)
        assert "Tags:" not in latex
        assert "\\footnote" not in latex
        assert latex.rstrip().endswith("\\end{document}")

    def test_no_shell_escape_packages_or_commands(self) -> None:
        """The document itself never asks for shell escape or file input of user data."""
        latex = render_latex(ExportDocument("t", r"\input{/etc/passwd}"))
        assert "write18" not in latex
        assert "\\input{/etc" not in latex
        assert "\\textbackslash{}input\\{/etc/passwd\\}" in latex

    @pytest.mark.parametrize("text", HOSTILE_TEXTS)
    def test_hostile_comments_titles_and_tags_are_escaped(self, text: str) -> None:
        """User text in the title, the body, a tag and a comment adds no command of its own."""
        baseline = _commands(render_latex(ExportDocument("t", "x y", [
            ExportHighlight(1, 0, 1, "tag", "comment", "Au Thor"),
        ])))  # fmt: skip
        latex = render_latex(
            ExportDocument(text, f"x {text} y", [ExportHighlight(1, 0, 1, text, text, text)])
        )
        assert _commands(latex) <= baseline | PRINTING_COMMANDS
        assert _braces_balanced(_body(latex))

    def test_overlapping_highlights_are_split_and_mixed(self) -> None:
        """The overlap of two differently tagged highlights gets the mix of both colours."""
        text = "alpha beta gamma"
        latex = render_latex(
            ExportDocument(
                "t",
                text,
                [ExportHighlight(1, 0, 10, "claim"), ExportHighlight(2, 6, 16, "evidence")],
            )
        )
        assert r"\glshl{glstag0}{alpha}" in latex
        assert r"\glshl{glsmix0}{beta}" in latex
        assert r"\glshl{glstag1}{gamma}" in latex
        assert r"\colorlet{glsmix0}{glstag0!50!glstag1}" in latex

    def test_highlight_boundary_inside_a_word(self) -> None:
        """A boundary inside a word splits it into boxes without inserting a space."""
        latex = render_latex(ExportDocument("t", "wonderful", [ExportHighlight(1, 0, 6, "x")]))
        assert r"\glshl{glstag0}{wonder}ful" in latex

    def test_same_tag_shares_one_colour_in_alphabetical_order(self) -> None:
        """Colours go to tags in alphabetical order; highlights of one tag share it."""
        latex = render_latex(
            ExportDocument(
                "t",
                "one two three",
                [
                    ExportHighlight(1, 0, 3, "zeta"),
                    ExportHighlight(2, 4, 7, "alpha"),
                    ExportHighlight(3, 8, 13, "zeta"),
                ],
            )
        )
        assert r"\glshl{glstag0}{two}" in latex
        assert r"\glshl{glstag1}{one}" in latex
        assert r"\glshl{glstag1}{three}" in latex
        assert latex.count("\\definecolor") == 2

    def test_comment_is_a_footnote_after_the_passage(self) -> None:
        """A comment becomes a footnote right after the highlight's last word."""
        latex = render_latex(
            ExportDocument(
                "t",
                "one two three",
                [ExportHighlight(1, 0, 8, "claim", "why?", "Stu Dent")],
            )
        )
        footnote = r"\footnote{\raggedright\textbf{claim} (Stu Dent): why?}"
        assert r"\glshl{glstag0}{two}" + footnote + " three" in latex

    def test_paragraphs_and_line_breaks(self) -> None:
        """A blank line starts a paragraph, a single newline breaks the line."""
        body = _body(render_latex(ExportDocument("t", "\n\na\nb\n\n\nc  d\n")))
        assert "a\\newline\nb\\par\nc d\n\\end{document}" in body

    def test_ranges_outside_the_text_are_clipped(self) -> None:
        """A highlight reaching past the end is cut at the end; an empty one is dropped."""
        latex = render_latex(
            ExportDocument(
                "t", "abc", [ExportHighlight(1, 1, 99, "x"), ExportHighlight(2, 5, 9, "y")]
            )
        )
        assert r"a\glshl{glstag0}{bc}" in latex
        assert "glstag1" not in latex


class TestLatexLogExcerpt:
    def test_picks_error_lines_with_context(self) -> None:
        """Error lines and the two lines after each are quoted, nothing else."""
        log = "\n".join(
            [
                "This is pdfTeX",
                "(./export.tex",
                "./export.tex:12: Undefined control sequence.",
                "l.12 \\glossatorTestUndefinedCommand",
                "",
                "! Emergency stop.",
                "<*> export.tex",
                "noise",
            ]
        )
        excerpt = latex_log_excerpt(log)
        assert excerpt.splitlines() == [
            "./export.tex:12: Undefined control sequence.",
            "l.12 \\glossatorTestUndefinedCommand",
            "",
            "! Emergency stop.",
            "<*> export.tex",
            "noise",
        ]

    def test_log_without_error_gives_nothing(self) -> None:
        """A clean log has no excerpt."""
        assert latex_log_excerpt("This is pdfTeX\nOutput written on export.pdf") == ""

    def test_excerpt_is_bounded(self) -> None:
        """A log full of errors yields at most a dozen lines."""
        assert len(latex_log_excerpt("! error\n" * 500).splitlines()) <= 12


def _as_tex_reads_it(source: str) -> str:
    """The character stream TeX makes of ``source``'s lines, with spaces collapsed.

    A line's leading spaces are skipped; a ``%`` (not ``\\%``) ends it without a space;
    otherwise its end is a space.
    """
    stream = []
    for line in source.split("\n"):
        stripped = line.lstrip(" ")
        comment = re.search(r"(?<!\\)%", stripped)
        stream.append(stripped[: comment.start()] if comment else stripped + " ")
    return re.sub(" +", " ", "".join(stream))


def _paragraph_lengths(body: str) -> list[int]:
    """Letters and digits between paragraph ends (what the renderer counts, commands aside)."""
    parts = re.split(r"\\par\b|\\glscontinue\b", body)
    return [len(re.sub(r"\\[A-Za-z]+|[^A-Za-z0-9]", "", part)) for part in parts]


class TestTexLimits:
    """Whatever the text, the source stays within what TeX can read and hold."""

    def test_long_highlighted_word_gets_break_points(self) -> None:
        """A 5,000-character highlighted word is set in boxes of at most WORD_CHUNK."""
        text = "a " + "x" * 5000 + " b"
        body = _body(render_latex(ExportDocument("t", text, [ExportHighlight(1, 2, 5002, "t")])))
        boxes = re.findall(r"\\glshl\{glstag0\}\{(x+)\}", body.replace("%\n", ""))
        assert "".join(boxes) == "x" * 5000
        assert max(len(box) for box in boxes) == WORD_CHUNK
        assert body.count(r"\allowbreak{}") == 5000 // WORD_CHUNK - 1

    def test_long_plain_word_gets_break_points_and_stays_whole(self) -> None:
        """An unhighlighted 40,000-character word: break points, no space inserted."""
        body = _body(render_latex(ExportDocument("t", "y" * 40000)))
        assert "y" * (WORD_CHUNK + 1) not in body
        # Break points, and paragraph ends every PARAGRAPH_HARD characters: nothing else.
        read = re.sub(r"\\allowbreak\{\}|\\glscontinue ", "", _as_tex_reads_it(body))
        assert "y" * 40000 in read

    def test_breaks_between_colours_count_too(self) -> None:
        """A word whose letters alternate highlights still breaks every WORD_CHUNK characters."""
        highlights = [ExportHighlight(n, n, n + 1, "ab"[n % 2]) for n in range(300)]
        body = _body(render_latex(ExportDocument("t", "z" * 300, highlights)))
        assert body.count(r"\allowbreak{}") == 300 // WORD_CHUNK

    @pytest.mark.parametrize(
        "comment",
        ["\\" * 14000, "lorem ipsum " * 17500, "w" * 210000],
        ids=["backslashes", "words", "one-word"],
    )
    def test_huge_comment_keeps_source_lines_short(self, comment: str) -> None:
        """Comments that overflowed TeX's 200,000-character line buffer now fit in short lines."""
        latex = render_latex(
            ExportDocument("t", "one two", [ExportHighlight(1, 0, 3, "t", comment)])
        )
        assert max(len(line) for line in latex.splitlines()) <= MAX_SOURCE_LINE
        assert _braces_balanced(_body(latex))

    def test_line_breaks_change_nothing_tex_reads(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Ending lines early neither joins words nor splits one: TeX reads the same text."""
        text = " ".join(f"w{n}" for n in range(3000)) + " " + "\\" * 3000 + " end"
        document = ExportDocument("t", text, [ExportHighlight(1, 5, 400, "t", "c " * 900)])
        short_lines = render_latex(document)
        monkeypatch.setattr(latex_module, "MAX_SOURCE_LINE", 10**9)
        one_line = render_latex(document)
        assert max(len(line) for line in short_lines.splitlines()) <= MAX_SOURCE_LINE
        assert max(len(line) for line in one_line.splitlines()) > MAX_SOURCE_LINE
        assert _as_tex_reads_it(short_lines) == _as_tex_reads_it(one_line)

    def test_long_paragraphs_are_cut(self) -> None:
        """Text without blank lines is cut into TeX paragraphs, preferably at line breaks."""
        lines = "\n".join("lorem ipsum dolor sit amet " * 4 for _ in range(2000))
        body = _body(render_latex(ExportDocument("t", lines)))
        lengths = _paragraph_lengths(body)
        # Cut at line breaks (soft), so each piece is at most a line over PARAGRAPH_SOFT.
        assert len(lengths) >= 40
        assert max(lengths) < PARAGRAPH_SOFT + 100

    def test_paragraph_without_line_breaks_is_cut_at_spaces_or_in_words(self) -> None:
        """No newline at all, or one endless word: the cut comes after PARAGRAPH_HARD."""
        for text in ("lorem ipsum " * 5000, "q" * 60000):
            body = _body(render_latex(ExportDocument("t", text)))
            assert max(_paragraph_lengths(body)) < PARAGRAPH_HARD + 2 * WORD_CHUNK

    def test_footnotes_count_toward_their_paragraph(self) -> None:
        """Long comments in one paragraph make it end sooner: TeX holds them with it."""
        text = " ".join(f"w{n}" for n in range(400))
        highlights = [ExportHighlight(n, 5 * n, 5 * n + 2, "t", "c" * 4000) for n in range(10)]
        body = _body(render_latex(ExportDocument("t", text, highlights)))
        assert r"\glscontinue" in body
        assert r"\glscontinue" not in _body(render_latex(ExportDocument("t", text)))

    def test_comment_of_the_maximal_length_is_not_cut(self) -> None:
        """A 5,000-character comment without newlines stays one paragraph (spaces cut late)."""
        comment = ("lorem ipsum " * 420)[:5000]
        body = _body(
            render_latex(ExportDocument("t", "a b", [ExportHighlight(1, 0, 1, "t", comment)]))
        )
        assert r"\glscontinue" not in body
