"""Conversation exports (ChatGPT, Claude, OpenAI messages) to semantic, sanitised HTML.

The sources are ``fixtures/sources/conversations/*.json``; the generated ``.html.gz``
files are what the importer made of them at the last ``nox -s regen-fixtures``.
"""

# ruff: noqa: RUF001 -- the fixtures are about non-Latin scripts and typography: ambiguous-looking characters are the point

from __future__ import annotations

import copy
import gzip
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from glossator.importers import (
    DocumentTooLarge,
    InvalidImport,
    MalformedConversation,
    UnknownConversationFormat,
    import_conversations,
)
from glossator.importers.conversations import (
    SUPPORTED_FORMATS,
    detect_format,
    parse_export,
    render_export_html,
    render_markdown,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SOURCES = FIXTURES / "sources" / "conversations"
GENERATED = FIXTURES / "generated" / "conversations"


class _ActiveMarkupFinder(HTMLParser):
    """Collects elements and attributes that could run code or load content."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "img", "iframe", "object", "embed", "svg", "form"}:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"{tag} {name}=")
            if name in {"href", "src"} and not (value or "").startswith(("https:", "#")):
                self.found.append(f"{tag} {name}={value}")


def _active_markup(html: str) -> list[str]:
    finder = _ActiveMarkupFinder()
    finder.feed(html)
    finder.close()
    return finder.found


def _source(name: str) -> bytes:
    return (SOURCES / f"{name}.json").read_bytes()


def _generated(name: str) -> str:
    return gzip.decompress((GENERATED / f"{name}.html.gz").read_bytes()).decode("utf-8")


# Per fixture: format, conversation titles, and text/markup the generated HTML must hold.
EXPECTATIONS: dict[str, tuple[str, list[str | None], list[str]]] = {
    "chatgpt_branching": (
        "chatgpt",
        ["Dating a medieval charter", "Short question"],
        [
            '<section class="turn" data-role="user">',
            '<h2 class="turn-author">ChatGPT (gpt-4o)</h2>',
            "<ol>",
            "<th>Witness</th>",
            "<td>1129–1171</td>",
            '<code class="language-python">def date_range(',
            '<a href="https://example.org/fasti" rel="noopener noreferrer nofollow">',
        ],
    ),
    "chatgpt_code_interpreter": (
        "chatgpt",
        ["Counting words in a transcription"],
        [
            "<em>[image]</em>",
            '<section class="turn" data-role="tool">',
            '<h2 class="turn-author">Tool (python)</h2>',
            "<blockquote>",
            "ſ, þ and ȝ",
            "&lt;script&gt;alert('chat')&lt;/script&gt;",
        ],
    ),
    "claude_unicode": (
        "claude",
        ["Translating a colophon"],
        [
            '<h2 class="turn-author">Claude</h2>',
            "書寫於長安，貞觀十年。",
            "كتبه الفقير إلى الله 🙏",
            "<td>Zhēnguàn</td>",
            '<ul class="attachments"><li>colophon-photo-notes.txt</li></ul>',
            "<li>margin.jpg</li>",
            "<em>[used the tool dictionary_lookup]</em>",
        ],
    ),
    "claude_legacy_text": (
        "claude",
        ["Citation styles", None],
        [
            "<h4>Footnote</h4>",
            '<code class="language-bibtex">',
            "<h1>Untitled conversation</h1>",
            "&lt;img src=x onerror=alert(1)&gt;",
        ],
    ),
    "openai_messages_single": (
        "openai-messages",
        ["Paleography practice"],
        [
            '<section class="turn" data-role="system">',
            "<th>Secretary</th>",
            "<s>modern</s>",
            '<h2 class="turn-author">Assistant (tutor)</h2>',
            "<li>minuscules first,</li>",
        ],
    ),
    "openai_messages_batch": (
        "openai-messages",
        [None, "Greek dates"],
        [
            '<h2 class="turn-author">Tool (roman_to_int)</h2>',
            "<p><em>[called the tool roman_to_int]</em></p>",
            '<code class="language-json">{"numeral": "MCMXLIV"}',
            "<strong>1944</strong>",
            "Ἀθῆναι",
            "<code>Ol. 87.1</code>",
        ],
    ),
    "claude_artifacts_unordered": (
        "claude",
        ["A page for the exhibition", "Ordering by time"],
        [
            "<p><em>Artifact: Psalter page</em></p>",
            '<pre><code class="language-html">&lt;!DOCTYPE html&gt;',
            "&lt;script&gt;alert('artifact')&lt;/script&gt;",
            "<p><em>Artifact: exhibit.css</em></p>",
            '<code class="language-css">h1 { font-variant: small-caps; }',
        ],
    ),
    "chatgpt_voice_citations": (
        "chatgpt",
        ["Voice notes on a charter"],
        [
            '<ul class="attachments"><li>charter-transcription.pdf</li><li>seal.jpg</li></ul>',
            "<p>The dating clause gives 1148, which fits the witness list.</p>",
            "<p><em>[voice]</em> Could the scribe have used the Pisan style of the year?</p>",
            "<p><em>[voice]</em> Yes: the Pisan year runs nine months ahead",
            "<li>witness-list.xlsx</li>",
        ],
    ),
}


class TestGeneratedFixtures:
    def test_every_source_and_output_has_expectations(self) -> None:
        """Each conversation source and generated file is checked by this module."""
        assert {path.stem for path in SOURCES.glob("*.json")} == set(EXPECTATIONS)
        assert {path.name.removesuffix(".html.gz") for path in GENERATED.iterdir()} == set(
            EXPECTATIONS
        )

    def test_fixtures_cover_every_supported_format(self) -> None:
        """At least one fixture per format, six in all."""
        formats = {export_format for export_format, _, _ in EXPECTATIONS.values()}
        assert formats == set(SUPPORTED_FORMATS)
        assert len(EXPECTATIONS) >= 6

    @pytest.mark.parametrize("name", sorted(EXPECTATIONS))
    def test_generated_html_holds_turns_code_tables_and_unicode(self, name: str) -> None:
        """The generated HTML has the expected structure and text, and no active content."""
        html = _generated(name)
        for fragment in EXPECTATIONS[name][2]:
            assert fragment in html, fragment
        # Typed-in markup and links stay visible as text, but never become markup.
        assert _active_markup(html) == []

    @pytest.mark.parametrize("name", sorted(EXPECTATIONS))
    def test_importer_reproduces_the_generated_html(self, name: str) -> None:
        """Rendering the source today gives the committed output byte for byte."""
        assert render_export_html(parse_export(_source(name))) == _generated(name)

    @pytest.mark.parametrize("name", sorted(EXPECTATIONS))
    def test_format_and_titles_are_detected(self, name: str) -> None:
        """Each export is recognised as its format, with its conversations' titles."""
        export_format, titles, _ = EXPECTATIONS[name]
        conversations = parse_export(_source(name))
        assert detect_format(json.loads(_source(name))) == export_format
        assert [c.title for c in conversations] == titles
        assert {c.export_format for c in conversations} == {export_format}


class TestTurns:
    def test_chatgpt_follows_the_current_branch(self) -> None:
        """An edited (abandoned) message is left out; hidden system messages too."""
        conversation = parse_export(_source("chatgpt_branching"))[0]
        texts = [turn.markdown for turn in conversation.turns]
        assert [turn.role for turn in conversation.turns] == [
            "user",
            "assistant",
            "user",
            "assistant",
        ]
        assert not any("first draft" in text for text in texts)

    def test_chatgpt_without_current_node_takes_the_last_branch(self) -> None:
        """Without current_node, the last child is followed at every step."""
        export = json.loads(_source("chatgpt_branching"))
        del export[0]["current_node"]
        export[0]["mapping"]["n1"]["children"] = ["n2", "n2a"]
        turns = parse_export(json.dumps(export))[0].turns
        assert [turn.markdown for turn in turns] == [
            "How old is this charter? (first draft, later edited)"
        ]

    def test_one_document_per_conversation_with_plain_text(self) -> None:
        """import_conversations gives titled documents whose plain text has every turn."""
        documents = import_conversations(_source("claude_unicode"))
        assert len(documents) == 1
        document = documents[0]
        assert document.title == "Translating a colophon"
        lines = document.plain_text.split("\n")
        assert lines[:3] == [
            "Translating a colophon",
            "User",
            "Translate this colophon: 書寫於長安，貞觀十年。",
        ]
        assert "The era name Zhenguan" not in document.plain_text  # thinking is left out

    def test_claude_follows_parent_links_to_the_latest_message(self) -> None:
        """Shuffled messages with parents: root to latest, the retried branch left out."""
        conversation = parse_export(_source("claude_artifacts_unordered"))[0]
        texts = [turn.markdown.strip() for turn in conversation.turns]
        assert [turn.role for turn in conversation.turns] == [
            "user",
            "assistant",
            "user",
            "assistant",
        ]
        assert texts[0].startswith("Write a small HTML page")
        assert texts[2] == "Put the stylesheet in a separate file instead."
        assert not any("Make it blue" in text for text in texts)

    def test_claude_without_parents_is_in_time_order(self) -> None:
        """Without parent links, created_at decides (mixed Z and +00:00 forms)."""
        conversation = parse_export(_source("claude_artifacts_unordered"))[1]
        assert [turn.markdown.split(":")[0] for turn in conversation.turns] == [
            "First",
            "Second",
            "Third",
        ]

    def test_claude_without_times_keeps_the_array_order(self) -> None:
        """No created_at and no parents: the export's order is all there is."""

        def drop_times(export: Any) -> None:
            for message in export[1]["chat_messages"]:
                del message["created_at"]

        conversation = parse_export(_mutated("claude_artifacts_unordered", drop_times))[1]
        assert [turn.markdown.split(":")[0] for turn in conversation.turns] == [
            "Third",
            "First",
            "Second",
        ]

    def test_claude_artifacts_become_labelled_code_blocks(self) -> None:
        """The artifact's HTML and CSS stay line by line in a code block, not a paragraph."""
        document = import_conversations(_source("claude_artifacts_unordered"))[0]
        lines = document.plain_text.split("\n")
        assert "Artifact: Psalter page" in lines
        assert "  .caption { font-style: italic; }" in lines
        assert "  <h1>The Luttrell Psalter</h1>" in lines
        assert "<antArtifact" not in document.plain_text
        assert "Artifact: exhibit.css" in lines

    def test_an_unclosed_artifact_tag_stays_text(self) -> None:
        """A cut-off artifact is left as the message's (escaped) text, in linear time."""
        export = [
            {
                "name": "Cut off",
                "chat_messages": [
                    {"sender": "assistant", "text": "<antArtifact type='x'" * 20_000},
                ],
            }
        ]
        (document,) = import_conversations(json.dumps(export))
        assert document.plain_text.count("<antArtifact") == 20_000

    def test_chatgpt_keeps_attachments_and_voice_and_drops_citation_markers(self) -> None:
        """File names and voice transcripts are kept, labelled; no private-use character."""
        document = import_conversations(_source("chatgpt_voice_citations"))[0]
        assert "charter-transcription.pdf" in document.plain_text
        assert "[voice] Could the scribe" in document.plain_text
        assert not any("\ue000" <= char <= "\uf8ff" for char in document.plain_text)
        assert "cite" not in document.plain_text
        # The last message has no text, only an attachment: it is still a turn.
        assert document.plain_text.endswith("User\nwitness-list.xlsx")

    def test_openai_tool_calls_with_null_content_are_shown(self) -> None:
        """An assistant message that only calls a tool shows the call and its arguments."""
        export = {
            "messages": [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"function": {"name": "lookup", "arguments": '{"q": "```"}'}},
                        {"function": {"name": "noargs", "arguments": ""}},
                    ],
                },
                {"role": "assistant", "content": None, "function_call": {"name": "legacy"}},
            ]
        }
        (document,) = import_conversations(json.dumps(export))
        assert "[called the tool lookup]" in document.plain_text
        assert '{"q": "```"}' in document.plain_text.split("\n")
        assert "[called the tool noargs]" in document.plain_text
        assert "[called the tool legacy]" in document.plain_text

    def test_markdown_headings_move_below_the_turn_heading(self) -> None:
        """# in a message is <h3>, never competing with the turn's <h2>."""
        assert render_markdown("# A\n\n###### B") == "<h3>A</h3>\n<h6>B</h6>\n"

    def test_raw_html_in_messages_is_shown_as_text(self) -> None:
        """A message's <script> is escaped by markdown-it and never reaches the page."""
        html = render_markdown("<script>alert(1)</script> [x](javascript:alert(1))")
        assert "<script>" not in html
        assert "href" not in html


def _mutated(name: str, change: Any) -> bytes:
    export = copy.deepcopy(json.loads(_source(name)))
    change(export)
    return json.dumps(export).encode()


class TestHostileAndBrokenInput:
    @pytest.mark.parametrize(
        ("name", "change", "path_in_message"),
        [
            (
                "chatgpt_branching",
                lambda e: e[0]["mapping"]["n3"]["message"].pop("author"),
                "$[0].mapping['n3'].message.author is missing",
            ),
            (
                "chatgpt_branching",
                lambda e: e[0]["mapping"]["n3"]["message"]["content"].pop("parts"),
                "$[0].mapping['n3'].message.content.parts is missing",
            ),
            (
                "chatgpt_branching",
                lambda e: e[0]["mapping"]["n4"].update(parent="nowhere"),
                "has no node 'nowhere'",
            ),
            (
                "chatgpt_branching",
                lambda e: e[0]["mapping"]["root"].update(parent="n5"),
                "is its own ancestor",
            ),
            (
                "claude_unicode",
                lambda e: e[0]["chat_messages"][1].pop("sender"),
                "$[0].chat_messages[1].sender is missing",
            ),
            (
                "claude_unicode",
                lambda e: e[0]["chat_messages"][0].update(sender="robot"),
                "is 'robot', not one of",
            ),
            (
                "claude_legacy_text",
                lambda e: e[0]["chat_messages"][0].pop("text"),
                "has neither text nor content",
            ),
            (
                "openai_messages_single",
                lambda e: e["messages"][2].pop("content"),
                "$[0].messages[2].content is missing",
            ),
            (
                "openai_messages_single",
                lambda e: e["messages"][1].update(role=7),
                "$[0].messages[1].role should be a string, not a number",
            ),
        ],
    )
    def test_missing_or_wrong_fields_name_format_and_path(
        self, name: str, change: Any, path_in_message: str
    ) -> None:
        """A broken export is a MalformedConversation naming the format and the field."""
        with pytest.raises(MalformedConversation) as raised:
            import_conversations(_mutated(name, change))
        assert path_in_message in str(raised.value)
        assert "export" in str(raised.value)

    @pytest.mark.parametrize(
        "document",
        [{"foo": 1}, [1, 2, 3], "just a string", [{"mapping": {}}, {"chat_messages": []}]],
    )
    def test_unknown_json_names_the_supported_formats(self, document: object) -> None:
        """JSON of no known shape is refused with the list of supported formats."""
        with pytest.raises(UnknownConversationFormat) as raised:
            parse_export(json.dumps(document))
        for name in ("ChatGPT", "Claude", "OpenAI"):
            assert name in str(raised.value)

    def test_empty_export_says_it_is_empty(self) -> None:
        """An empty array is not an unknown format but an export with no conversations."""
        with pytest.raises(UnknownConversationFormat, match="no conversations"):
            parse_export(b"[]")

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b'[{"mapping": ', "not valid JSON"),
            (b"\xff\xfe\x00garbage", "not"),
            (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ],
    )
    def test_invalid_json_is_a_clear_error(self, data: bytes, message: str) -> None:
        """Truncated, binary or absurdly nested JSON is an InvalidImport, not a crash."""
        with pytest.raises(InvalidImport, match=message):
            parse_export(data)

    def test_size_limit(self) -> None:
        """An export larger than max_bytes is refused before parsing."""
        with pytest.raises(DocumentTooLarge) as raised:
            parse_export(_source("claude_unicode"), max_bytes=100)
        assert raised.value.limit == 100
