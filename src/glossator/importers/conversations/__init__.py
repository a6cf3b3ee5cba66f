"""Chatbot conversation exports (JSON) to semantic, sanitised HTML.

Three formats are recognised automatically (see each module for its shape):

==================  ========================================================
``chatgpt``         ChatGPT's ``conversations.json`` (:mod:`.chatgpt`)
``claude``          Claude's ``conversations.json`` (:mod:`.claude`)
``openai-messages`` OpenAI chat ``{"messages": [...]}`` (:mod:`.openai_messages`)
==================  ========================================================

:func:`import_conversations` turns an export into one
:class:`~glossator.importers.html.NormalizedDocument` per conversation. Invalid JSON,
an unknown shape or a missing field is an
:class:`~glossator.importers.errors.InvalidImport` with a message that says what is wrong;
no input makes it crash with anything else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from glossator.importers.conversations import chatgpt, claude, openai_messages
from glossator.importers.conversations._model import Conversation, Role, Turn
from glossator.importers.conversations._render import render_conversation, render_markdown
from glossator.importers.errors import DocumentTooLarge, InvalidImport, UnknownConversationFormat
from glossator.importers.html import NormalizedDocument, normalize_html, sanitize_html

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_FORMATS",
    "Conversation",
    "Role",
    "Turn",
    "detect_format",
    "import_conversations",
    "parse_export",
    "render_conversation",
    "render_export_html",
    "render_markdown",
]

#: The largest export accepted (ChatGPT exports of heavy users run to tens of megabytes).
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024

_Detector = Callable[[object], bool]
_Parser = Callable[[object], list[Conversation]]
_PARSERS: Final[dict[str, tuple[_Detector, _Parser]]] = {
    chatgpt.FORMAT: (chatgpt.looks_like, chatgpt.parse),
    claude.FORMAT: (claude.looks_like, claude.parse),
    openai_messages.FORMAT: (openai_messages.looks_like, openai_messages.parse),
}
#: Names of the export formats :func:`detect_format` recognises.
SUPPORTED_FORMATS: Final = tuple(_PARSERS)
_FORMAT_DESCRIPTIONS: Final = (
    "ChatGPT conversations.json (an array of objects with 'mapping'), "
    "Claude conversations.json (an array of objects with 'chat_messages'), "
    "OpenAI chat messages (an object with a 'messages' array)"
)


def _load_json(data: bytes | str, max_bytes: int) -> object:
    size = len(data.encode() if isinstance(data, str) else data)
    if size > max_bytes:
        raise DocumentTooLarge(size, max_bytes)
    try:
        return json.loads(data)
    except UnicodeDecodeError as error:
        raise InvalidImport(f"the file is not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise InvalidImport(
            f"the file is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}; a conversation export is a .json file"
        ) from None
    except RecursionError:
        raise InvalidImport("the JSON is nested too deeply to be a conversation export") from None


def detect_format(document: object) -> str:
    """Name the export format of parsed JSON.

    Raises:
        UnknownConversationFormat: It matches none of :data:`SUPPORTED_FORMATS`.
    """
    for name, (looks_like, _) in _PARSERS.items():
        if looks_like(document):
            return name
    if document in ([], {}):
        raise UnknownConversationFormat("the export is empty: it holds no conversations")
    raise UnknownConversationFormat(
        "the JSON is not a conversation export glossator knows; supported formats: "
        f"{_FORMAT_DESCRIPTIONS}"
    )


def parse_export(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Conversation]:
    """Parse an export file into conversations, detecting its format.

    Args:
        data: The file's content (UTF-8 JSON).
        max_bytes: The largest file accepted.

    Raises:
        DocumentTooLarge: The file is larger than ``max_bytes``.
        InvalidImport: It is not JSON (or not UTF-8).
        UnknownConversationFormat: It is JSON of no supported format.
        MalformedConversation: It is a supported format with a missing or wrong field.
    """
    document = _load_json(data, max_bytes)
    _, parse = _PARSERS[detect_format(document)]
    return parse(document)


def import_conversations(
    data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[NormalizedDocument]:
    """Import every conversation of an export as a sanitised document.

    Returns:
        One document per conversation, in the export's order, titled as in the export.

    Raises:
        The errors of :func:`parse_export`.
    """
    return [
        normalize_html(render_conversation(conversation), title=conversation.title)
        for conversation in parse_export(data, max_bytes=max_bytes)
    ]


def render_export_html(conversations: list[Conversation]) -> str:
    """All conversations of an export as one sanitised HTML fragment (fixtures use it)."""
    return sanitize_html("".join(render_conversation(c) for c in conversations)) + "\n"
