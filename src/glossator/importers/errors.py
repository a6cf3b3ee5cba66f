"""The errors the importers raise.

They extend glossator's hierarchy (:mod:`glossator.errors`), so the web layer maps them
like any other: input a user can fix is a :class:`~glossator.errors.ValidationError`
(422); a broken installation is a :class:`~glossator.errors.ConfigurationError`; a
converter that fails on acceptable input is an :class:`ImportFailed`.

::

    GlossatorError
    ├── ConfigurationError
    │   └── ConverterMissing
    ├── ValidationError
    │   └── InvalidImport
    │       ├── DocumentTooLarge
    │       ├── NotRtf
    │       ├── TruncatedRtf
    │       ├── UnknownConversationFormat
    │       └── MalformedConversation
    └── ImportFailed
        └── ConversionTimedOut
"""

from __future__ import annotations

from glossator.errors import ConfigurationError, GlossatorError, ValidationError

__all__ = [
    "ConversionTimedOut",
    "ConverterMissing",
    "DocumentTooLarge",
    "ImportFailed",
    "InvalidImport",
    "MalformedConversation",
    "NotRtf",
    "TruncatedRtf",
    "UnknownConversationFormat",
]


class ConverterMissing(ConfigurationError):
    """An external converter (LibreOffice's ``soffice``) is not installed or not found."""


class InvalidImport(ValidationError):
    """The uploaded file cannot be imported as the kind of document it claims to be."""


class DocumentTooLarge(InvalidImport):
    """The file is larger than the configured limit.

    Attributes:
        size: The file's size in bytes.
        limit: The largest size accepted, in bytes.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the file is {size:,} bytes, more than the limit of {limit:,} bytes; "
            "split the document or raise the limit (RtfOptions.max_bytes)"
        )
        self.size = size
        self.limit = limit

    def __reduce__(self) -> tuple[type[DocumentTooLarge], tuple[int, int]]:
        """Pickle by the constructor's arguments (imports run in worker processes)."""
        return (type(self), (self.size, self.limit))


class NotRtf(InvalidImport):
    """The file does not start with the ``{\\rtf`` header, whatever its name says."""


class TruncatedRtf(InvalidImport):
    """The RTF's groups are not closed: the file was cut off (an interrupted upload)."""


class UnknownConversationFormat(InvalidImport):
    """The JSON is valid but matches none of the supported conversation export formats."""


class MalformedConversation(InvalidImport):
    """The JSON looks like a supported export, but a required field is missing or wrong.

    The message names the format and the JSON path of the offending field.
    """


class ImportFailed(GlossatorError):
    """A converter failed on input that passed every check (LibreOffice crashed, say)."""


class ConversionTimedOut(ImportFailed):
    """The converter ran past its time limit and was killed with its process group."""
