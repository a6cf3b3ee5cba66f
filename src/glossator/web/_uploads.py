"""Uploaded files to documents, always through glossator's importers (so, sanitised).

The request body's size is limited before it is read (``max_body_size`` on the upload
routes, 413); the importers check sizes again. A file's kind comes from the form's
``kind`` field, else from its extension: ``.rtf`` (LibreOffice), ``.json`` (a
conversation export; one document per conversation), ``.html``/``.htm``.

Importing never runs on the event loop: LibreOffice is a subprocess awaited
asynchronously, and everything CPU-bound (JSON parsing, Markdown, sanitising, plain text)
runs in a worker process of :mod:`glossator.web._offload`, killed after
:data:`IMPORT_TIME_LIMIT` seconds (a 422 that says so).
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePath
from typing import TYPE_CHECKING, Final

from glossator import services
from glossator.db.models import SourceKind
from glossator.errors import ValidationError
from glossator.importers import InvalidImport, RtfOptions, convert_rtf_to_html
from glossator.importers._bytes import (
    check_rtf_bytes,
    import_html_bytes,
    import_json_bytes,
    normalize_converted_html,
)
from glossator.web._offload import shared_pool
from glossator.web._page_index import start_page_index

if TYPE_CHECKING:
    from starlette.datastructures import FormData

    from glossator.importers import NormalizedDocument
    from glossator.settings import Settings

__all__ = ["IMPORT_TIME_LIMIT", "Upload", "read_upload", "store_upload"]

#: Seconds the CPU-bound part of one import may take (LibreOffice has its own limit).
#: A 100,000-message export (4.7 MB) takes about 18 s on two quiet cores.
IMPORT_TIME_LIMIT: Final = 60.0

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
    pool = shared_pool()
    what = f"importing {upload.filename!r}"
    if upload.kind is SourceKind.RTF:
        options = RtfOptions(max_bytes=settings.max_upload_bytes)
        await pool.run(
            check_rtf_bytes, upload.data, options.max_bytes, time_limit=IMPORT_TIME_LIMIT, what=what
        )
        html = await convert_rtf_to_html(upload.data, options, checked=True)
        return await pool.run(
            normalize_converted_html, html, time_limit=IMPORT_TIME_LIMIT, what=what
        )
    if upload.kind is SourceKind.CONVERSATION:
        return await pool.run(
            import_json_bytes,
            upload.data,
            settings.max_upload_bytes,
            time_limit=IMPORT_TIME_LIMIT,
            what=what,
        )
    return await pool.run(import_html_bytes, upload.data, time_limit=IMPORT_TIME_LIMIT, what=what)


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
        record = await services.add_document(
            workspace_id, title, upload.kind, document.html, document.plain_text
        )
        stored.append(record)
    for record in stored:
        # Large documents get their page index now, so that their first view is quick.
        start_page_index(record.id, record.html, record.plain_text)
    return stored
