"""Claude's data export (claude.ai, Settings, Privacy, Export data): ``conversations.json``.

The file is an array of conversations, each with a ``name`` and ``chat_messages`` in
order; a message has a ``sender`` (``human`` or ``assistant``), its ``text`` and, in
newer exports, ``content``: a list of blocks (``{"type": "text", "text": ...}``, tool use
and results, thinking), plus ``attachments`` (``file_name``, ``extracted_content``) and
``files`` (``file_name``)::

    [
        {
            "uuid": "...",
            "name": "...",
            "created_at": "...",
            "chat_messages": [
                {
                    "uuid": "...",
                    "sender": "human",
                    "text": "Hi",
                    "content": [{"type": "text", "text": "Hi"}],
                    "attachments": [],
                    "files": [],
                }
            ],
        }
    ]

The text blocks of ``content`` are used when there are any, else ``text``. Tool use
shows as a one-line note; thinking blocks are left out; attachments are listed by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from glossator.importers.conversations._json import JsonReader
from glossator.importers.conversations._model import Conversation, Role, Turn

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["FORMAT", "looks_like", "parse"]

FORMAT: Final = "claude"
_READ: Final = JsonReader("Claude conversations.json")
_SENDERS: Final[dict[str, tuple[Role, str]]] = {
    "human": ("user", "User"),
    "assistant": ("assistant", "Claude"),
}


def looks_like(document: object) -> bool:
    """Whether ``document`` is a Claude export (objects with ``chat_messages``)."""
    items = document if isinstance(document, list) else [document]
    return bool(items) and all(isinstance(item, dict) and "chat_messages" in item for item in items)


def parse(document: object) -> list[Conversation]:
    """Read every conversation of a Claude export.

    Raises:
        MalformedConversation: A field the format requires is missing or has the wrong type.
    """
    items = document if isinstance(document, list) else [document]
    return [_conversation(item, f"$[{index}]") for index, item in enumerate(items)]


def _conversation(item: object, path: str) -> Conversation:
    conversation = _READ.obj(item, path)
    messages = _READ.array(
        _READ.field(conversation, "chat_messages", path), f"{path}.chat_messages"
    )
    turns = []
    for index, raw in enumerate(messages):
        turn = _turn(_READ.obj(raw, f"{path}.chat_messages[{index}]"), path, index)
        if turn is not None:
            turns.append(turn)
    title = _READ.optional_string(conversation, "name", path)
    return Conversation(export_format=FORMAT, title=title or None, turns=tuple(turns))


def _turn(message: Mapping[str, object], conversation_path: str, index: int) -> Turn | None:
    path = f"{conversation_path}.chat_messages[{index}]"
    sender = _READ.string(message, "sender", path)
    if sender not in _SENDERS:
        _READ.fail(f"{path}.sender", f"is {sender!r}, not one of {sorted(_SENDERS)}")
    role, author = _SENDERS[sender]
    text = _message_text(message, path)
    attachments = _attachment_names(message, path)
    if not text.strip() and not attachments:
        return None
    return Turn(role=role, author=author, markdown=text, attachments=attachments)


def _message_text(message: Mapping[str, object], path: str) -> str:
    blocks = message.get("content")
    if isinstance(blocks, list) and blocks:
        texts = []
        for index, raw in enumerate(blocks):
            block = _READ.obj(raw, f"{path}.content[{index}]")
            block_type = _READ.string(block, "type", f"{path}.content[{index}]")
            if block_type == "text":
                texts.append(_READ.string(block, "text", f"{path}.content[{index}]"))
            elif block_type == "tool_use":
                name = _READ.optional_string(block, "name", f"{path}.content[{index}]")
                texts.append(f"*[used the tool {name or 'unnamed'}]*")
        return "\n\n".join(text for text in texts if text)
    if "text" not in message and blocks is None:
        _READ.fail(path, "has neither text nor content")
    return _READ.optional_string(message, "text", path) or ""


def _attachment_names(message: Mapping[str, object], path: str) -> tuple[str, ...]:
    names: list[str] = []
    for key in ("attachments", "files"):
        entries = _READ.array(message.get(key) or [], f"{path}.{key}")
        for index, raw in enumerate(entries):
            entry = _READ.obj(raw, f"{path}.{key}[{index}]")
            name = _READ.string(entry, "file_name", f"{path}.{key}[{index}]")
            if name not in names:
                names.append(name)
    return tuple(names)
