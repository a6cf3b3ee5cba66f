"""Importers: documents enter glossator from RTF, conversation exports and HTML.

Every importer returns a :class:`NormalizedDocument` (sanitised HTML plus the plain text
highlights point into), ready for :func:`glossator.services.add_document`:

* :func:`import_rtf` (async): RTF through LibreOffice (:mod:`glossator.importers.rtf`);
* :func:`import_conversations`: ChatGPT, Claude and OpenAI-messages JSON exports
  (:mod:`glossator.importers.conversations`);
* :func:`normalize_html`: any HTML (:mod:`glossator.importers.html`).

The errors they raise are in :mod:`glossator.importers.errors`.
"""

from __future__ import annotations

from glossator.importers.conversations import (
    SUPPORTED_FORMATS,
    detect_format,
    import_conversations,
    parse_export,
)
from glossator.importers.errors import (
    ConversionTimedOut,
    ConverterMissing,
    DocumentTooLarge,
    ImportFailed,
    InvalidImport,
    MalformedConversation,
    NotRtf,
    TruncatedRtf,
    UnknownConversationFormat,
)
from glossator.importers.html import (
    NormalizedDocument,
    html_to_plain_text,
    normalize_html,
    sanitize_html,
)
from glossator.importers.rtf import RtfOptions, check_rtf, convert_rtf_to_html, import_rtf

__all__ = [
    "SUPPORTED_FORMATS",
    "ConversionTimedOut",
    "ConverterMissing",
    "DocumentTooLarge",
    "ImportFailed",
    "InvalidImport",
    "MalformedConversation",
    "NormalizedDocument",
    "NotRtf",
    "RtfOptions",
    "TruncatedRtf",
    "UnknownConversationFormat",
    "check_rtf",
    "convert_rtf_to_html",
    "detect_format",
    "html_to_plain_text",
    "import_conversations",
    "import_rtf",
    "normalize_html",
    "parse_export",
    "sanitize_html",
]
