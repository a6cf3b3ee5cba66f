"""The format-neutral shape every conversation export is parsed into."""

from __future__ import annotations

import dataclasses
from typing import Final, Literal

__all__ = ["ROLE_LABELS", "Conversation", "Role", "Turn"]

Role = Literal["user", "assistant", "system", "tool"]

#: How each role is named when the export does not name the author.
ROLE_LABELS: Final[dict[Role, str]] = {
    "user": "User",
    "assistant": "Assistant",
    "system": "System",
    "tool": "Tool",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation.

    Attributes:
        role: Who spoke, normalised across formats.
        author: The name shown for the speaker (``"ChatGPT (gpt-4o)"``, ``"Claude"``).
        markdown: The message text; chatbots write Markdown, so it is rendered as such.
        attachments: Names of files attached to the message (their content is not kept).
    """

    role: Role
    author: str
    markdown: str
    attachments: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation of an export.

    Attributes:
        export_format: The format it was read from (``"chatgpt"``, ``"claude"``,
            ``"openai-messages"``).
        title: Its title in the export, or ``None`` when it has none.
        turns: Its messages in order (for ChatGPT, the branch that was shown last).
    """

    export_format: str
    title: str | None
    turns: tuple[Turn, ...]
