"""Untrusted request input checked at the boundary: JSON bodies, form fields, path ids.

PostgreSQL's text cannot hold NUL, and a lone surrogate (``"\\ud800"`` in JSON) cannot be
encoded as UTF-8 at all; both used to travel down to the driver and end as a 500. They
are refused here with 422, as are JSON bodies nested deeper than :data:`MAX_JSON_DEPTH`
(Python's parser would raise ``RecursionError``). Ids in paths use the ``id`` convertor
(:class:`IdConvertor`): at most 18 digits, so a number beyond PostgreSQL's ``bigint``
never reaches a query and the path answers 404 like any other missing thing.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Final

from starlette.convertors import Convertor, register_url_convertor

from glossator.errors import ValidationError

if TYPE_CHECKING:
    from starlette.datastructures import FormData
    from starlette.requests import Request

__all__ = [
    "MAX_JSON_DEPTH",
    "IdConvertor",
    "UnsupportedMediaType",
    "check_form",
    "check_text",
    "json_body",
]

MAX_JSON_DEPTH: Final = 32
# NUL, and UTF-16 surrogates (valid only in pairs, and Python's json leaves lone ones).
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


class UnsupportedMediaType(ValidationError):
    """The body is not JSON (415)."""

    def __init__(self) -> None:
        super().__init__("send the body as JSON (Content-Type: application/json)")


class IdConvertor(Convertor[int]):
    """``{name:id}``: a database id, 1 to 18 digits (always within ``bigint``)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        """The id as an int."""
        return int(value)

    def to_string(self, value: int) -> str:
        """The id as path text."""
        if not 0 <= value < 10**18:
            raise ValueError("an id is 1 to 18 digits")
        return str(value)


register_url_convertor("id", IdConvertor())


def check_text(value: str, field: str) -> str:
    """``value`` unchanged, unless it holds a NUL character or a lone surrogate.

    Raises:
        ValidationError: It does (422), naming ``field``.
    """
    found = _UNSTORABLE.search(value)
    if found is not None:
        what = "a NUL character" if found.group() == "\x00" else "an unpaired surrogate (\\ud8xx)"
        raise ValidationError(f"{field} holds {what}, which cannot be stored; remove it")
    return value


def _check_json(value: object, path: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValidationError(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, f"field {path!r}")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"a key in {path!r}")
            _check_json(item, key if path == "(body)" else f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]", depth + 1)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, every string in it storable.

    Raises:
        UnsupportedMediaType: The request does not say ``application/json`` (415).
        ValidationError: The body is not JSON, not an object, nested too deeply, or holds
            a NUL or a lone surrogate (422).
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType
    raw = await request.body()
    try:
        body = json.loads(raw)
    except RecursionError:
        raise ValidationError(
            f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except ValueError:  # also UnicodeDecodeError: bytes that are not UTF-8
        raise ValidationError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    _check_json(body, "(body)", 1)
    return body


def check_form(form: FormData) -> None:
    """Refuse a form whose text fields or file names hold a NUL or a lone surrogate.

    Raises:
        ValidationError: One does (422), naming the field.
    """
    for name, value in form.multi_items():
        check_text(name, "a form field's name")
        if isinstance(value, str):
            check_text(value, f"form field {name!r}")
        elif value.filename is not None:
            check_text(value.filename, f"the file name of {name!r}")
