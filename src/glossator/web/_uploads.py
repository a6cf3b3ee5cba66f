"""Uploaded files to documents, always through glossator's importers (so, sanitised).

The request body's size is limited before it is read (``max_body_size`` on the upload
routes, 413); the importers check sizes again. A file's kind comes from the form's
``kind`` field, else from its extension: ``.rtf`` (LibreOffice), ``.json`` (a
conversation export; one document per conversation), ``.html``/``.htm``.
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePath
from typing import TYPE_CHECKING, Final

from glossator import services
from glossator.db.models import SourceKind
from glossator.errors import ValidationError
from glossator.importers import (
    InvalidImport,
    RtfOptions,
    import_conversations,
    import_rtf,
    normalize_html,
)

if TYPE_CHECKING:
    from starlette.datastructures import FormData

    from glossator.importers import NormalizedDocument
    from glossator.settings import Settings

__all__ = ["Upload", "read_upload", "store_upload"]

_KIND_BY_EXTENSION: Final = {
    ".rtf": SourceKind.RTF,
    ".json": SourceKind.CONVERSATION,
    ".html": SourceKind.HTML,
    ".htm": SourceKind.HTML,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Upload:
    """A file taken from a multipart form."""

    filename: str
    data: bytes
    kind: SourceKind
    title: str | None


async def read_upload(form: FormData) -> Upload:
    """Take the ``file``, ``kind`` and ``title`` fields of an upload form.

    Raises:
        ValidationError: There is no file, or its kind is unknown.
    """
    file = form.get("file")
    if file is None or isinstance(file, str):
        raise ValidationError("choose a file to upload (form field 'file')")
    filename = PurePath(file.filename or "document").name
    data = await file.read()
    await file.close()
    kind_field = str(form.get("kind") or "").strip().lower()
    if kind_field:
        try:
            kind = SourceKind(kind_field)
        except ValueError:
            choices = ", ".join(kind.value for kind in SourceKind)
            raise ValidationError(f"unknown kind {kind_field!r}; use one of {choices}") from None
    else:
        suffix = PurePath(filename).suffix.lower()
        if suffix not in _KIND_BY_EXTENSION:
            raise ValidationError(
                f"cannot tell what {filename!r} is; name it .rtf, .json, .html or choose its kind"
            )
        kind = _KIND_BY_EXTENSION[suffix]
    title = str(form.get("title") or "").strip() or None
    return Upload(filename=filename, data=data, kind=kind, title=title)


async def _import(upload: Upload, settings: Settings) -> list[NormalizedDocument]:
    if upload.kind is SourceKind.RTF:
        return [await import_rtf(upload.data, RtfOptions(max_bytes=settings.max_upload_bytes))]
    if upload.kind is SourceKind.CONVERSATION:
        return import_conversations(upload.data, max_bytes=settings.max_upload_bytes)
    try:
        text = upload.data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidImport(f"the HTML file is not UTF-8 text ({error.reason})") from None
    return [normalize_html(text)]


async def store_upload(
    workspace_id: int, upload: Upload, settings: Settings
) -> list[services.DocumentRecord]:
    """Import the file and append its document(s) to the workspace.

    Titles: the form's ``title``, else the one found in the file, else the file name
    without its extension (numbered when a conversation export holds several).

    Raises:
        InvalidImport: The file cannot be imported as its kind (with the reason).
        ConverterMissing: RTF was uploaded and LibreOffice is not installed.
    """
    documents = await _import(upload, settings)
    if not documents:
        raise InvalidImport("the file holds no document")
    stem = PurePath(upload.filename).stem or "document"
    stored = []
    for number, document in enumerate(documents, start=1):
        fallback = stem if len(documents) == 1 else f"{stem} ({number})"
        title = (upload.title or document.title or fallback)[:200]
        if upload.title and len(documents) > 1:
            title = f"{upload.title[:190]} ({number})"
        stored.append(
            await services.add_document(
                workspace_id, title, upload.kind, document.html, document.plain_text
            )
        )
    return stored
