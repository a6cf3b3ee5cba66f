"""OpenAI chat ``messages``: the body of a Chat Completions request, as chat front ends
(Open WebUI, LibreChat, scripts) and fine-tuning data sets save conversations.

An object with a ``messages`` array, or an array of such objects; each message has a
``role`` (``system``, ``developer``, ``user``, ``assistant``, ``tool``), ``content``
(a string, ``null`` for a pure tool call, or an array of parts such as
``{"type": "text", "text": ...}`` and ``{"type": "image_url", ...}``) and an optional
``name``. An optional top-level ``title`` (a common extension) names the conversation::

    {
        "title": "...",
        "messages": [
            {"role": "system", "content": "You are ..."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
        ],
    }

``developer`` messages are shown as system messages; images as "[image]". An assistant
message that calls tools (``tool_calls: [{"function": {"name", "arguments"}}]``, or the
older ``function_call``) shows each call, labelled with the tool's name, its arguments
as a code block, after the message's text (which is often ``null``).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Final

from glossator.importers.conversations._json import JsonReader
from glossator.importers.conversations._model import ROLE_LABELS, Conversation, Role, Turn

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["FORMAT", "looks_like", "parse"]

FORMAT: Final = "openai-messages"
_READ: Final = JsonReader("OpenAI chat messages")
_ROLES: Final[dict[str, Role]] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}


def looks_like(document: object) -> bool:
    """Whether ``document`` is an object with ``messages`` (or an array of them)."""
    items = document if isinstance(document, list) else [document]
    return bool(items) and all(
        isinstance(item, dict) and isinstance(item.get("messages"), list) for item in items
    )


def parse(document: object) -> list[Conversation]:
    """Read every conversation.

    Raises:
        MalformedConversation: A field the format requires is missing or has the wrong type.
    """
    items = document if isinstance(document, list) else [document]
    return [_conversation(item, f"$[{index}]") for index, item in enumerate(items)]


def _conversation(item: object, path: str) -> Conversation:
    conversation = _READ.obj(item, path)
    messages = _READ.array(_READ.field(conversation, "messages", path), f"{path}.messages")
    turns = []
    for index, raw in enumerate(messages):
        turn = _turn(_READ.obj(raw, f"{path}.messages[{index}]"), f"{path}.messages[{index}]")
        if turn is not None:
            turns.append(turn)
    title = _READ.optional_string(conversation, "title", path)
    return Conversation(export_format=FORMAT, title=title or None, turns=tuple(turns))


def _turn(message: Mapping[str, object], path: str) -> Turn | None:
    role_name = _READ.string(message, "role", path)
    role = _ROLES.get(role_name)
    if role is None:
        _READ.fail(f"{path}.role", f"is {role_name!r}, not one of {sorted(_ROLES)}")
    text = _content_text(_READ.field(message, "content", path), f"{path}.content")
    calls = _tool_calls(message, path)
    text = "\n\n".join(piece for piece in (text, *calls) if piece.strip())
    if not text.strip():
        return None
    name = _READ.optional_string(message, "name", path)
    author = f"{ROLE_LABELS[role]} ({name})" if name else ROLE_LABELS[role]
    return Turn(role=role, author=author, markdown=text)


def _tool_calls(message: Mapping[str, object], path: str) -> list[str]:
    calls: list[tuple[Mapping[str, object], str]] = []
    raw_calls = message.get("tool_calls")
    if raw_calls is not None:
        for index, raw in enumerate(_READ.array(raw_calls, f"{path}.tool_calls")):
            call = _READ.obj(raw, f"{path}.tool_calls[{index}]")
            function = call.get("function")
            if isinstance(function, dict):
                calls.append((function, f"{path}.tool_calls[{index}].function"))
    if isinstance(message.get("function_call"), dict):
        function_call = message["function_call"]
        assert isinstance(function_call, dict)  # for mypy: checked just above
        calls.append((function_call, f"{path}.function_call"))
    return [_call_text(function, call_path) for function, call_path in calls]


def _call_text(function: Mapping[str, object], path: str) -> str:
    name = _READ.optional_string(function, "name", path) or "unnamed"
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = "" if arguments is None else json.dumps(arguments, ensure_ascii=False)
    label = f"*[called the tool {name}]*"
    if not arguments.strip():
        return label
    longest = max((len(run) for run in re.findall(r"`+", arguments)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{label}\n\n{fence}json\n{arguments}\n{fence}"


def _content_text(content: object, path: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for index, raw in enumerate(_READ.array(content, path)):
        part = _READ.obj(raw, f"{path}[{index}]")
        part_type = _READ.string(part, "type", f"{path}[{index}]")
        if part_type == "text":
            texts.append(_READ.string(part, "text", f"{path}[{index}]"))
        elif "image" in part_type:
            texts.append("*[image]*")
    return "\n\n".join(texts)
