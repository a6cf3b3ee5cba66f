"""ChatGPT's ``conversations.json`` (Settings, Data controls, Export data).

The file is an array of conversations. Each has a ``title``, a ``mapping`` from node id
to node, and a ``current_node``: the messages form a tree (every edit or regeneration
starts a branch), each node naming its ``parent`` and ``children``::

    [{"title": "...", "current_node": "n3",
      "mapping": {"n1": {"id": "n1", "message": null, "parent": null, "children": ["n2"]},
                  "n2": {"id": "n2", "parent": "n1", "children": ["n3"],
                         "message": {"author": {"role": "user"},
                                     "content": {"content_type": "text", "parts": ["Hi"]}}},
                  ...}}]

The conversation shown is the branch from the root to ``current_node`` (without one, the
last child at every step). Message content types: ``text`` and ``multimodal_text``
(``parts``: strings, and objects for images, shown as "[image]"), ``code`` and
``execution_output`` (``text``, shown as a code block). Hidden messages
(``metadata.is_visually_hidden_from_conversation``), empty system messages and content
types without text (browsing displays, reasoning summaries) are left out.

Files attached to a message (``metadata.attachments``: ``{"name": ...}``) are listed by
name. Voice mode stores what was said as ``audio_transcription`` parts (``text``): they
are kept, marked "[voice]"; the audio itself is not. Search answers carry citation
markers in Unicode's private use area (``\ue200cite\ue202turn0search1\ue201``): they
mean nothing outside ChatGPT's interface and are removed (with one space before them),
as is any stray character of that block (U+E200 to U+E2FF).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from glossator.importers.conversations._json import JsonReader
from glossator.importers.conversations._model import ROLE_LABELS, Conversation, Role, Turn

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["FORMAT", "looks_like", "parse"]

FORMAT: Final = "chatgpt"
_READ: Final = JsonReader("ChatGPT conversations.json")
_ROLES: Final[dict[str, Role]] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "tool": "tool",
}


# A whole marker (with the space before it), then any character of the block left over.
# Each match stops at the next U+E200 or U+E201 and takes at most one space before it,
# so the scan is linear however the markers are malformed.
_CITATION: Final = re.compile(" ?\ue200[^\ue200\ue201]*\ue201|[\ue200-\ue2ff]")


def looks_like(document: object) -> bool:
    """Whether ``document`` is a ChatGPT export (an array of objects with ``mapping``)."""
    items = document if isinstance(document, list) else [document]
    return bool(items) and all(isinstance(item, dict) and "mapping" in item for item in items)


def parse(document: object) -> list[Conversation]:
    """Read every conversation of a ChatGPT export.

    Raises:
        MalformedConversation: A field the format requires is missing or has the wrong type.
    """
    items = document if isinstance(document, list) else [document]
    return [_conversation(item, f"$[{index}]") for index, item in enumerate(items)]


def _conversation(item: object, path: str) -> Conversation:
    conversation = _READ.obj(item, path)
    mapping = _READ.obj(_READ.field(conversation, "mapping", path), f"{path}.mapping")
    nodes = {
        node_id: _READ.obj(node, f"{path}.mapping[{node_id!r}]")
        for node_id, node in mapping.items()
    }
    turns = []
    for node_id in _active_branch(nodes, conversation, path):
        turn = _turn(nodes[node_id], f"{path}.mapping[{node_id!r}]")
        if turn is not None:
            turns.append(turn)
    title = _READ.optional_string(conversation, "title", path)
    return Conversation(export_format=FORMAT, title=title or None, turns=tuple(turns))


def _active_branch(
    nodes: Mapping[str, Mapping[str, object]], conversation: Mapping[str, object], path: str
) -> list[str]:
    current = _READ.optional_string(conversation, "current_node", path)
    if current is None:
        current = _last_leaf(nodes, path)
    if current is None:
        return []
    branch: list[str] = []
    seen: set[str] = set()
    node_id: str | None = current
    while node_id is not None:
        if node_id not in nodes:
            _READ.fail(f"{path}.mapping", f"has no node {node_id!r}, which the tree refers to")
        if node_id in seen:
            _READ.fail(f"{path}.mapping[{node_id!r}]", "is its own ancestor (a cycle)")
        seen.add(node_id)
        branch.append(node_id)
        node_id = _READ.optional_string(nodes[node_id], "parent", f"{path}.mapping[{node_id!r}]")
    branch.reverse()
    return branch


def _last_leaf(nodes: Mapping[str, Mapping[str, object]], path: str) -> str | None:
    roots = [node_id for node_id, node in nodes.items() if node.get("parent") is None]
    if not roots:
        return None
    node_id, seen = roots[0], {roots[0]}
    while True:
        node_path = f"{path}.mapping[{node_id!r}]"
        children = _READ.array(nodes[node_id].get("children", []), f"{node_path}.children")
        if not children:
            return node_id
        child = children[-1]
        if not isinstance(child, str) or child in seen or child not in nodes:
            _READ.fail(f"{node_path}.children", "names a child that is not in the mapping")
        node_id = child
        seen.add(node_id)


def _turn(node: Mapping[str, object], path: str) -> Turn | None:
    raw_message = node.get("message")
    if raw_message is None:
        return None
    message = _READ.obj(raw_message, f"{path}.message")
    path = f"{path}.message"
    author = _READ.obj(_READ.field(message, "author", path), f"{path}.author")
    role_name = _READ.string(author, "role", f"{path}.author")
    role = _ROLES.get(role_name)
    if role is None:
        _READ.fail(f"{path}.author.role", f"is {role_name!r}, not one of {sorted(_ROLES)}")
    metadata = message.get("metadata")
    if isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation"):
        return None
    content = _READ.obj(_READ.field(message, "content", path), f"{path}.content")
    text = _CITATION.sub("", _content_text(content, f"{path}.content"))
    attachments = _attachment_names(metadata, f"{path}.metadata")
    if not text.strip() and not attachments:
        return None
    return Turn(
        role=role,
        author=_author_label(role, author, metadata, path),
        markdown=text,
        attachments=attachments,
    )


def _attachment_names(metadata: object, path: str) -> tuple[str, ...]:
    if not isinstance(metadata, dict):
        return ()
    entries = _READ.array(metadata.get("attachments") or [], f"{path}.attachments")
    names: list[str] = []
    for index, raw in enumerate(entries):
        entry = _READ.obj(raw, f"{path}.attachments[{index}]")
        name = _READ.optional_string(entry, "name", f"{path}.attachments[{index}]")
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _content_text(content: Mapping[str, object], path: str) -> str:
    content_type = _READ.string(content, "content_type", path)
    if content_type in {"text", "multimodal_text"}:
        parts = _READ.array(_READ.field(content, "parts", path), f"{path}.parts")
        texts = []
        for index, part in enumerate(parts):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                texts.append(_part_text(part))
            else:
                _READ.fail(f"{path}.parts[{index}]", "should be a string or an object")
        return "\n\n".join(text for text in texts if text)
    if content_type in {"code", "execution_output"}:
        code = _READ.string(content, "text", path)
        language = _READ.optional_string(content, "language", path) or ""
        if language == "unknown":
            language = ""
        return f"```{language}\n{code}\n```" if code.strip() else ""
    return ""


def _part_text(part: Mapping[str, object]) -> str:
    part_type = str(part.get("content_type"))
    if part_type == "audio_transcription":
        spoken = part.get("text")
        return f"*[voice]* {spoken}" if isinstance(spoken, str) and spoken.strip() else ""
    return "*[image]*" if "image" in part_type else ""


def _author_label(role: Role, author: Mapping[str, object], metadata: object, path: str) -> str:
    if role == "assistant":
        model = metadata.get("model_slug") if isinstance(metadata, dict) else None
        return f"ChatGPT ({model})" if isinstance(model, str) and model else "ChatGPT"
    if role == "tool":
        name = _READ.optional_string(author, "name", f"{path}.author")
        return f"Tool ({name})" if name else ROLE_LABELS[role]
    return ROLE_LABELS[role]
