"""Uploaded bytes to documents, as one picklable call for a worker process.

The web app runs imports in worker processes (:mod:`glossator.web._offload`); this module
is what they import, so it stays light (no database, no web framework).
"""

from __future__ import annotations

from glossator.importers.conversations import import_conversations
from glossator.importers.errors import InvalidImport
from glossator.importers.html import NormalizedDocument, normalize_html
from glossator.importers.rtf import check_rtf

__all__ = ["check_rtf_bytes", "import_html_bytes", "import_json_bytes", "normalize_converted_html"]


def check_rtf_bytes(data: bytes, max_bytes: int) -> None:
    """:func:`~glossator.importers.rtf.check_rtf`, positional (it reads every byte)."""
    check_rtf(data, max_bytes=max_bytes)


def import_json_bytes(data: bytes, max_bytes: int) -> list[NormalizedDocument]:
    """A conversation export: one document per conversation."""
    return import_conversations(data, max_bytes=max_bytes)


def import_html_bytes(data: bytes) -> list[NormalizedDocument]:
    """An uploaded HTML file (UTF-8, an optional BOM): one document.

    Raises:
        InvalidImport: The file is not UTF-8.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidImport(f"the HTML file is not UTF-8 text ({error.reason})") from None
    return [normalize_html(text)]


def normalize_converted_html(html: str) -> list[NormalizedDocument]:
    """HTML that LibreOffice made from an RTF upload: one document."""
    return [normalize_html(html)]
