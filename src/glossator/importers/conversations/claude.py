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

**Order.** The export does not keep ``chat_messages`` in the order they were written
(edits and retries are appended, and exports have been seen shuffled). When messages
name their parent (``parent_message_uuid``), the conversation shown is the branch from
the root to the latest message, as on claude.ai; otherwise messages are sorted by
``created_at`` (array order breaks ties, and is kept when the times are missing).

**Artifacts.** Claude writes artifacts (a web page, a stylesheet, code) inline as
``<antArtifact identifier="..." type="text/html" title="...">...</antArtifact>``, and
newer exports as an ``artifacts`` tool use (``input.content``); either becomes a
labelled code block ("Artifact: title") in the artifact's language, instead of
Markdown-rendered text.
"""

from __future__ import annotations

import datetime as dt
import re
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
    read = [
        (index, _READ.obj(raw, f"{path}.chat_messages[{index}]"))
        for index, raw in enumerate(messages)
    ]
    turns = []
    for index, message in _in_conversation_order(read):
        turn = _turn(message, path, index)
        if turn is not None:
            turns.append(turn)
    title = _READ.optional_string(conversation, "name", path)
    return Conversation(export_format=FORMAT, title=title or None, turns=tuple(turns))


_Indexed = tuple[int, "Mapping[str, object]"]


def _created_at(message: Mapping[str, object]) -> dt.datetime | None:
    value = message.get("created_at")
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _in_conversation_order(messages: list[_Indexed]) -> list[_Indexed]:
    """The branch ending at the latest message when parents are named, else time order."""
    if not messages:
        return []
    times = {index: _created_at(message) for index, message in messages}
    if all(moment is not None for moment in times.values()):
        by_time = sorted(messages, key=lambda item: (times[item[0]], item[0]))
    else:
        by_time = list(messages)  # no reliable times: the export's order is all there is
    by_uuid = {
        message["uuid"]: (index, message)
        for index, message in messages
        if isinstance(message.get("uuid"), str)
    }
    if not any(message.get("parent_message_uuid") in by_uuid for _, message in messages):
        return by_time
    branch: list[_Indexed] = []
    seen: set[str] = set()
    current: _Indexed | None = by_time[-1]
    while current is not None:
        branch.append(current)
        uuid = current[1].get("uuid")
        if isinstance(uuid, str):
            seen.add(uuid)
        parent = current[1].get("parent_message_uuid")
        current = by_uuid.get(parent) if isinstance(parent, str) and parent not in seen else None
    branch.reverse()
    return branch


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
                texts.append(
                    _artifacts_as_code(_READ.string(block, "text", f"{path}.content[{index}]"))
                )
            elif block_type == "tool_use":
                texts.append(_tool_use(block, f"{path}.content[{index}]"))
        return "\n\n".join(text for text in texts if text)
    if "text" not in message and blocks is None:
        _READ.fail(path, "has neither text nor content")
    return _artifacts_as_code(_READ.optional_string(message, "text", path) or "")


def _tool_use(block: Mapping[str, object], path: str) -> str:
    name = _READ.optional_string(block, "name", path)
    tool_input = block.get("input")
    if name == "artifacts" and isinstance(tool_input, dict):
        content = tool_input.get("content")
        if isinstance(content, str) and content.strip():
            title = tool_input.get("title")
            language = tool_input.get("language")
            return _code_block(
                str(title) if title else None,
                _artifact_language(
                    str(tool_input.get("type") or ""), language if isinstance(language, str) else ""
                ),
                content,
            )
    return f"*[used the tool {name or 'unnamed'}]*"


_ARTIFACT_OPEN: Final = re.compile(r"<antArtifact\b")
_ARTIFACT_CLOSE: Final = "</antArtifact>"
_ATTRIBUTE: Final = re.compile(r'([A-Za-z_-]{1,40})="([^"<>]{0,500})"')
_LANGUAGES_BY_TYPE: Final = {
    "text/html": "html",
    "text/css": "css",
    "text/markdown": "markdown",
    "image/svg+xml": "svg",
    "application/vnd.ant.mermaid": "mermaid",
    "application/vnd.ant.react": "jsx",
}


def _artifact_language(artifact_type: str, language: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_+#.-]{1,40}", language):
        return language
    return _LANGUAGES_BY_TYPE.get(artifact_type, "")


def _artifacts_as_code(text: str) -> str:
    """Replace every ``<antArtifact ...>...</antArtifact>`` with a labelled code block.

    A scan with ``str.find``, linear in the text: an opening tag without its end is
    left as it is (the rest of the message stays Markdown).
    """
    pieces: list[str] = []
    position = 0
    while (opening := _ARTIFACT_OPEN.search(text, position)) is not None:
        tag_end = text.find(">", opening.end())
        closing = text.find(_ARTIFACT_CLOSE, tag_end + 1) if tag_end != -1 else -1
        if closing == -1:
            break
        attributes = dict(_ATTRIBUTE.findall(text[opening.end() : tag_end][:2000]))
        pieces.append(text[position : opening.start()])
        pieces.append(
            _code_block(
                attributes.get("title"),
                _artifact_language(attributes.get("type", ""), attributes.get("language", "")),
                text[tag_end + 1 : closing].strip("\n"),
            )
        )
        position = closing + len(_ARTIFACT_CLOSE)
    pieces.append(text[position:])
    return "".join(pieces)


def _code_block(title: str | None, language: str, code: str) -> str:
    """A fenced code block longer than any run of backticks in ``code``, with a label."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    label = f"*Artifact: {_escape_markdown(title)}*" if title else "*Artifact*"
    return f"\n\n{label}\n\n{fence}{language}\n{code}\n{fence}\n\n"


def _escape_markdown(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#!|~])", r"\\\1", text)


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
