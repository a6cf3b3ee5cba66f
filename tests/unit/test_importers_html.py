"""The HTML sanitiser and normaliser, on hostile snippets and on LibreOffice's real output.

The RTF fixtures in ``fixtures/generated/rtf`` are what LibreOffice made of our sources
(``nox -s regen-fixtures``); these tests run them through the normaliser without needing
LibreOffice.
"""

# ruff: noqa: RUF001 -- the fixtures are about non-Latin scripts and typography: ambiguous-looking characters are the point

from __future__ import annotations

import gzip
import importlib
from pathlib import Path

import pytest

from glossator.importers.html import (
    ID_PREFIX,
    html_to_plain_text,
    normalize_html,
    sanitize_html,
)

GENERATED_RTF = Path(__file__).resolve().parents[2] / "fixtures" / "generated" / "rtf"


def _generated_rtf_html(name: str) -> str:
    path = GENERATED_RTF / name
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")


# Every HTML output of the RTF fixtures, with text that must survive normalisation and
# markup that must be in the sanitised HTML.
RTF_EXPECTATIONS: dict[str, tuple[list[str], list[str]]] = {
    "headings.html": (
        ["Reading Primary Sources", "Questions of Provenance", "grep -n claim notes.txt"],
        ["<h1>", "<h2>Before You Begin</h2>", "<h3>", "<b>bold</b>", "<i>italic</i>", "<u>"],
    ),
    "nested_lists.html": (
        ["Check the seal description", "Note the hand", "End of checklist."],
        ["<ul>", "<ol>", '<ol type="a">', '<ol type="i">'],
    ),
    "tables.html": (
        ["Agnes Miller", "3 March 1871", "Heard two voices in the yard.", "Travel"],
        ["<table>", "<tr>", "<td>", '<td colspan="2">', "<i>two</i>"],
    ),
    "footnotes.html": (
        ["The seal survives only as a fragment", "Compare the chronicle’s account"],
        [f'href="#{ID_PREFIX}sdfootnote1sym"', f'id="{ID_PREFIX}sdfootnote1"', "<sup>1</sup>"],
    ),
    "cjk.html": (
        [
            "学而时习之，不亦说乎？",
            "古池や蛙飛び込む水の音",
            "훈민정음은 백성을 가르치는 바른 소리이다.",
        ],
        ["<p>"],
    ),
    "rtl.html": (
        ["قرأ الطالب الوثيقة بعناية", "בראשית ברא אלהים את השמים ואת הארץ", "שלום"],
        ['dir="rtl"'],
    ),
    "special_characters.html": (
        ["“quoted”", "em dash—and", "€ £ ¥", "Straße", "Ἐν ἀρχῇ", "📜", "braces { and }"],
        ["&lt;b&gt;not bold&lt;/b&gt;", "5 &lt; 6 &amp; 7 &gt; 3"],
    ),
    "hostile_content.html": (
        ["<script>alert('rtf')</script>", "dangerous link", "safe link"],
        ['<a href="https://example.org/safe"', "&lt;script&gt;"],
    ),
    "long_judgment.html.gz": (
        ["IN THE COURT OF APPEAL (CIVIL DIVISION)", "L. Conclusion", "432.", "Appeal dismissed."],
        ["<h1>", "<h2>", "<i>Arnold v Britton</i>"],
    ),
}


class TestRtfFixtures:
    def test_every_generated_rtf_html_has_expectations(self) -> None:
        """Each LibreOffice output in fixtures/generated/rtf is checked by this module."""
        outputs = {path.name for path in GENERATED_RTF.iterdir() if ".html" in path.name}
        assert outputs == set(RTF_EXPECTATIONS)

    @pytest.mark.parametrize("name", sorted(RTF_EXPECTATIONS))
    def test_text_and_structure_survive_normalisation(self, name: str) -> None:
        """The text is in the plain text and the structure in the sanitised HTML."""
        document = normalize_html(_generated_rtf_html(name))
        texts, markup = RTF_EXPECTATIONS[name]
        for text in texts:
            assert text in document.plain_text, text
        for fragment in markup:
            assert fragment in document.html, fragment

    @pytest.mark.parametrize("name", sorted(RTF_EXPECTATIONS))
    def test_libreoffice_presentation_and_active_content_are_removed(self, name: str) -> None:
        """No style, font, meta, script or javascript: link is left from LibreOffice."""
        html = normalize_html(_generated_rtf_html(name)).html.lower()
        for forbidden in ("<style", "<font", "style=", "<meta", "<script", "javascript:", "<span"):
            assert forbidden not in html, forbidden

    @pytest.mark.parametrize("name", sorted(RTF_EXPECTATIONS))
    def test_normalisation_is_deterministic_and_idempotent(self, name: str) -> None:
        """Normalising twice gives the same bytes; sanitising sanitised HTML changes nothing."""
        raw = _generated_rtf_html(name)
        first, second = normalize_html(raw), normalize_html(raw)
        assert first == second
        assert sanitize_html(first.html) == first.html
        assert html_to_plain_text(first.html) == first.plain_text

    def test_footnotes_plain_text_is_exactly_one_line_per_block(self) -> None:
        """The plain text of the footnotes fixture, character for character."""
        document = normalize_html(_generated_rtf_html("footnotes.html"))
        assert document.plain_text == (
            "The charter was sealed at Winchester1 in the spring of 1141.\n"
            "Its witness list is unusually long2, which suggests a public ceremony3.\n"
            "No later copy is known.\n"
            "1 The seal survives only as a fragment; see the catalogue entry.\n"
            "2 Twenty-three names, against a usual eight to twelve.\n"
            "3 Compare the chronicle’s account of the Easter court."
        )

    def test_rtf_title_comes_from_the_info_group(self) -> None:
        """The RTF's {\\info{\\title}} becomes the document title; none gives None."""
        assert normalize_html(_generated_rtf_html("headings.html")).title == (
            "Reading Primary Sources"
        )
        assert normalize_html(_generated_rtf_html("tables.html")).title is None

    def test_hostile_rtf_link_loses_its_javascript_target(self) -> None:
        """LibreOffice keeps the RTF's javascript: hyperlink; the sanitiser drops the href."""
        raw = _generated_rtf_html("hostile_content.html")
        assert 'href="javascript:' in raw  # the fixture really carries the attack
        html = normalize_html(raw).html
        assert "javascript" not in html
        assert '<a rel="noopener noreferrer nofollow"><u>dangerous' in html

    def test_long_judgment_is_over_a_hundred_pages_of_text(self) -> None:
        """The long fixture keeps all 432 numbered paragraphs, 12 sections, 43 footnotes."""
        document = normalize_html(_generated_rtf_html("long_judgment.html.gz"))
        lines = document.plain_text.split("\n")
        numbered = [line for line in lines if line.split(".", 1)[0].isdigit()]
        assert len(numbered) == 432
        assert len(document.plain_text.split()) > 45_000  # ~160 pages double-spaced
        assert document.html.count("<h2>") == 12
        assert document.html.count(f'<div id="{ID_PREFIX}sdfootnote') == 43


class TestSanitiser:
    @pytest.mark.parametrize(
        "hostile",
        [
            "<script>alert(1)</script>",
            "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
            '<img src="x" onerror="alert(1)">',
            "<svg onload=alert(1)><circle/></svg>",
            '<p onclick="alert(1)" onmouseover=alert(2)>text</p>',
            '<a href="javascript:alert(1)">x</a>',
            '<a href="JaVaScRiPt:alert(1)">x</a>',
            '<a href=" javascript:alert(1)">x</a>',
            '<a href="jav&#x09;ascript:alert(1)">x</a>',
            '<a href="vbscript:msgbox(1)">x</a>',
            '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
            '<iframe src="https://evil.example"></iframe>',
            '<form action="https://evil.example"><input name="q"></form>',
            '<meta http-equiv="refresh" content="0;url=https://evil.example">',
            '<base href="https://evil.example/">',
            "<style>body{background:url(javascript:alert(1))}</style>",
            '<p style="background:url(javascript:alert(1))">x</p>',
            "<object data='x.swf'></object><embed src='x.swf'>",
        ],
    )
    def test_active_content_is_removed(self, hostile: str) -> None:
        """Scripts, handlers, script URLs, frames, forms, styles and plugins disappear."""
        clean = sanitize_html(f"<p>before</p>{hostile}<p>after</p>").lower()
        for forbidden in (
            "<script", "onerror", "onload", "onclick", "onmouseover", "javascript", "vbscript",
            "data:", "<iframe", "<form", "<input", "<meta", "<base", "<style", "style=",
            "<object", "<embed", "<svg", "alert(1)</",
        ):  # fmt: skip
            assert forbidden not in clean, forbidden
        assert "<p>before</p>" in clean
        assert "<p>after</p>" in clean

    def test_script_content_is_dropped_not_shown(self) -> None:
        """The text inside <script> and <style> does not leak into the document."""
        document = normalize_html("<p>a</p><script>var secret = 1;</script><style>p{}</style>")
        assert document.plain_text == "a"
        assert "secret" not in document.html

    def test_structure_is_kept(self) -> None:
        """Headings, lists, tables, emphasis and code pass through unchanged."""
        html = (
            "<h1>T</h1><h2>S</h2><ul><li>a<ol><li>b</li></ol></li></ul>"
            "<table><thead><tr><th>h</th></tr></thead><tbody><tr><td>d</td></tr></tbody></table>"
            "<p><strong>s</strong> <em>e</em> <code>c</code> <sub>1</sub><sup>2</sup></p>"
            "<pre><code>x = 1</code></pre><blockquote><p>q</p></blockquote>"
        )
        assert sanitize_html(html) == html

    def test_safe_links_get_rel_and_in_page_links_follow_prefixed_ids(self) -> None:
        """http(s)/mailto links stay (with rel); #fragments and ids get the doc- prefix."""
        clean = sanitize_html(
            '<a href="https://example.org/a">w</a><a href="mailto:a@example.org">m</a>'
            '<a href="#n1">1</a><p id="n1">note</p><a href="/relative">r</a>'
        )
        assert '<a href="https://example.org/a" rel="noopener noreferrer nofollow">w</a>' in clean
        assert 'href="mailto:a@example.org"' in clean
        assert f'<a href="#{ID_PREFIX}n1"' in clean
        assert f'<p id="{ID_PREFIX}n1">' in clean
        assert "/relative" not in clean

    def test_unknown_classes_and_data_attributes_are_dropped(self) -> None:
        """Only glossator's own classes and language-* on code survive."""
        clean = sanitize_html(
            '<section class="turn evil" data-role="user" data-x="1">'
            '<pre><code class="language-python hljs">x</code></pre></section>'
        )
        assert '<section class="turn" data-role="user">' in clean
        assert '<code class="language-python">' in clean

    def test_sanitising_is_idempotent(self) -> None:
        """Ids are not prefixed twice; the output of a second pass equals the first."""
        once = sanitize_html('<p id="x">a</p><a href="#x">b</a><a name="y">c</a>')
        assert sanitize_html(once) == once
        assert once.count(ID_PREFIX) == 3


class TestInvalidText:
    def test_a_lone_surrogate_is_refused_with_its_place(self) -> None:
        """Text no encoder can write (a JSON "\\ud800" escape) is an InvalidImport, not a crash."""
        from glossator.importers.errors import InvalidImport

        with pytest.raises(InvalidImport, match=r"\\ud800 at character 6.*lone surrogate"):
            sanitize_html("<p>ab\ud800</p>")


class TestPlainText:
    def test_blocks_become_lines_and_inline_whitespace_collapses(self) -> None:
        """Each block is a line; runs of whitespace inside a block become one space."""
        html = (
            "<h1> Title </h1><p>one\n  two\t<b>three</b></p><div></div>"
            "<ul><li>a</li><li>b</li></ul>"
        )
        assert html_to_plain_text(html) == "Title\none two three\na\nb"

    def test_line_breaks_and_table_cells(self) -> None:
        """<br> ends a line; each table cell is a line of its own."""
        html = "<p>a<br>b<br/>c</p><table><tr><td>1</td><td>2</td></tr></table>"
        assert html_to_plain_text(html) == "a\nb\nc\n1\n2"

    def test_preformatted_text_is_kept_verbatim(self) -> None:
        """Inside <pre>, spaces and blank lines stay; the newline after <pre> does not."""
        html = "<p>x</p><pre><code>\ndef f():\n\n    return  1\n</code></pre><p>y</p>"
        assert html_to_plain_text(html) == "x\ndef f():\n\n    return  1\ny"

    def test_character_references_are_decoded_and_nbsp_kept(self) -> None:
        """&amp; and friends become characters; a non-breaking space is not collapsed."""
        assert html_to_plain_text("<p>a &amp; b&nbsp;&nbsp;c &#x1F4DC;</p>") == (
            "a & b\xa0\xa0c 📜"
        )

    def test_offsets_are_code_points(self) -> None:
        """A character beyond the BMP counts as one, as highlights count them."""
        text = normalize_html("<p>📜 charter</p>").plain_text
        assert text.index("charter") == 2


class TestImportersPublicApi:
    @pytest.mark.parametrize(
        "module_name",
        [
            "glossator.importers",
            "glossator.importers.conversations",
            "glossator.importers.errors",
            "glossator.importers.html",
            "glossator.importers.rtf",
        ],
    )
    def test_all_lists_existing_public_names(self, module_name: str) -> None:
        """Each name in __all__ exists, is public, and is listed once."""
        module = importlib.import_module(module_name)
        exported = list(module.__all__)
        assert len(exported) == len(set(exported))
        for name in exported:
            assert hasattr(module, name), f"{module_name}.{name}"
            assert not name.startswith("_")

    def test_package_exports_every_error(self) -> None:
        """glossator.importers re-exports every importer error class."""
        import glossator.importers
        import glossator.importers.errors

        assert set(glossator.importers.errors.__all__) <= set(glossator.importers.__all__)
