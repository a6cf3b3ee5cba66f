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
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Final

from markdown_it import MarkdownIt

if TYPE_CHECKING:
    from glossator.importers.conversations._model import Conversation, Turn

__all__ = ["UNTITLED", "render_conversation", "render_markdown"]

UNTITLED: Final = "Untitled conversation"
_HEADING_SHIFT: Final = 2

# One parser for the process: MarkdownIt instances are reusable and rendering is pure.
_MARKDOWN: Final = MarkdownIt(
    "commonmark", {"html": False, "linkify": False, "typographer": False}
).enable(["table", "strikethrough"])


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
