"""Typed access to untrusted JSON: every wrong or missing field is a clear error.

Each accessor takes the JSON path of the value it reads (``$[0].mapping["a1"].message``)
so that :class:`~glossator.importers.errors.MalformedConversation` can say exactly what
is wrong, in which format, instead of a ``KeyError`` from deep inside a parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from glossator.importers.errors import MalformedConversation

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["JsonReader"]


class JsonReader:
    """Reads fields of one export format, naming that format in its errors."""

    def __init__(self, export_format: str) -> None:
        self.export_format = export_format

    def fail(self, path: str, problem: str) -> NoReturn:
        """Raise :class:`MalformedConversation` for the value at ``path``."""
        raise MalformedConversation(
            f"this looks like a {self.export_format} export, but {path} {problem}; "
            "the file may be incomplete or edited by hand, export it again"
        )

    def obj(self, value: object, path: str) -> Mapping[str, object]:
        """``value`` as a JSON object."""
        if not isinstance(value, dict):
            self.fail(path, f"should be an object, not {_kind(value)}")
        return value

    def array(self, value: object, path: str) -> list[object]:
        """``value`` as a JSON array."""
        if not isinstance(value, list):
            self.fail(path, f"should be an array, not {_kind(value)}")
        return value

    def field(self, parent: Mapping[str, object], key: str, path: str) -> object:
        """The required field ``key`` of ``parent``."""
        if key not in parent:
            self.fail(f"{path}.{key}", "is missing")
        return parent[key]

    def string(self, parent: Mapping[str, object], key: str, path: str) -> str:
        """The required string field ``key`` of ``parent``."""
        value = self.field(parent, key, path)
        if not isinstance(value, str):
            self.fail(f"{path}.{key}", f"should be a string, not {_kind(value)}")
        return value

    def optional_string(self, parent: Mapping[str, object], key: str, path: str) -> str | None:
        """The string field ``key`` of ``parent``, ``None`` when absent or null."""
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(f"{path}.{key}", f"should be a string, not {_kind(value)}")
        return value


_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),  # before int: bool is a subclass of int
    (int, "a number"),
    (float, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    for python_type, name in _KINDS:
        if isinstance(value, python_type):
            return name
    return type(value).__name__
