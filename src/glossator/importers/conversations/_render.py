"""Conversations to semantic HTML: one ``<section>`` per turn, Markdown rendered.

::

    <article class="conversation" data-format="claude">
    <h1>Title</h1>
    <section class="turn" data-role="user">
    <h2 class="turn-author">User</h2>
    <div class="turn-body"><p>Message, <em>with</em> Markdown</p></div>
    <ul class="attachments"><li>notes.pdf</li></ul>
    </section>
    ...
    </article>

Markdown goes through markdown-it-py (CommonMark plus tables and strikethrough) with raw
HTML disabled, so HTML typed into a chat shows as text; headings inside messages move
down two levels (``#`` becomes ``<h3>``) to stay below the turn's ``<h2>``. The result is
sanitised like every import (:mod:`glossator.importers.html`).

markdown-it-py's inline parser (links, emphasis) rescans from every ``[`` that is not
closed, so one paragraph of ``"[a" * 200_000`` takes seconds and grows with the square of
its length. A paragraph longer than :data:`INLINE_MARKDOWN_LIMIT` characters is therefore
shown as plain text (still a paragraph, still escaped): no real message has a paragraph
that long with Markdown in it, and the cost of rendering stays linear in the input.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Final

from markdown_it import MarkdownIt
from markdown_it.token import Token

if TYPE_CHECKING:
    from markdown_it.rules_core import StateCore

    from glossator.importers.conversations._model import Conversation, Turn

__all__ = ["INLINE_MARKDOWN_LIMIT", "UNTITLED", "render_conversation", "render_markdown"]

UNTITLED: Final = "Untitled conversation"
_HEADING_SHIFT: Final = 2
#: The longest paragraph (inline content) whose inline Markdown is parsed; see the docs.
INLINE_MARKDOWN_LIMIT: Final = 20_000


def _bounded_inline(state: StateCore) -> None:
    """markdown-it's ``inline`` core rule, except that over-long paragraphs stay text."""
    for token in state.tokens:
        if token.type != "inline":
            continue
        if token.children is None:
            token.children = []
        if len(token.content) > INLINE_MARKDOWN_LIMIT:
            token.children.append(Token("text", "", 0, content=token.content))
        else:
            state.md.inline.parse(token.content, state.md, state.env, token.children)


def _markdown_parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.core.ruler.at("inline", _bounded_inline)
    return parser


# One parser for the process: MarkdownIt instances are reusable and rendering is pure.
_MARKDOWN: Final = _markdown_parser()


def render_markdown(text: str) -> str:
    """Render chat Markdown to (unsanitised) HTML, headings shifted down two levels."""
    tokens = _MARKDOWN.parse(text)
    for token in tokens:
        if token.type in {"heading_open", "heading_close"}:
            level = int(token.tag[1:]) + _HEADING_SHIFT
            token.tag = f"h{min(level, 6)}"
    rendered: str = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    return rendered


def _render_turn(turn: Turn) -> str:
    parts = [
        f'<section class="turn" data-role="{turn.role}">',
        f'<h2 class="turn-author">{escape(turn.author)}</h2>',
        f'<div class="turn-body">\n{render_markdown(turn.markdown)}</div>',
    ]
    if turn.attachments:
        items = "".join(f"<li>{escape(name)}</li>" for name in turn.attachments)
        parts.append(f'<ul class="attachments">{items}</ul>')
    parts.append("</section>")
    return "\n".join(parts)


def render_conversation(conversation: Conversation) -> str:
    """Render one conversation as an ``<article>`` (unsanitised; see the module doc)."""
    title = conversation.title or UNTITLED
    parts = [
        f'<article class="conversation" data-format="{escape(conversation.export_format)}">',
        f"<h1>{escape(title)}</h1>",
        *(_render_turn(turn) for turn in conversation.turns),
        "</article>",
    ]
    return "\n".join(parts) + "\n"
