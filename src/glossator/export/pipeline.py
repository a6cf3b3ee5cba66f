"""One export, start to finish: load the document, render LaTeX, compile it to PDF.

The worker calls :func:`export_document` for each job it claims. The renderer is
replaceable (``glossator worker --renderer MODULE:CALLABLE``), for an institution's own
layout; it receives an :class:`~glossator.export.latex.ExportDocument` and returns LaTeX.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from sqlalchemy import select

from glossator import db
from glossator.db.models import Document, Highlight, User
from glossator.errors import ConfigurationError, NotFound
from glossator.export.compile import compile_latex
from glossator.export.latex import ExportDocument, ExportHighlight, render_latex
from glossator.export.limits import check_document

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Renderer", "export_document", "load_export_document", "load_renderer"]

#: Turns a document into a complete LaTeX source.
Renderer: TypeAlias = Callable[[ExportDocument], str]


async def load_export_document(db_session: AsyncSession, document_id: int) -> ExportDocument:
    """Read a document's title, text and highlights (with their authors' names).

    Raises:
        NotFound: There is no such document (it was deleted after the job was queued).
    """
    document = await db_session.get(Document, document_id)
    if document is None:
        raise NotFound("document", document_id)
    rows = await db_session.execute(
        select(Highlight, User.display_name)
        .join(User, User.id == Highlight.author_id)
        .where(Highlight.document_id == document_id)
        .order_by(Highlight.start_offset, Highlight.end_offset, Highlight.id)
    )
    highlights = [
        ExportHighlight(
            id=highlight.id,
            start_offset=highlight.start_offset,
            end_offset=highlight.end_offset,
            tag=highlight.tag,
            comment=highlight.comment,
            author_name=author_name,
        )
        for highlight, author_name in rows.tuples()
    ]
    return ExportDocument(
        title=document.title, plain_text=document.plain_text, highlights=highlights
    )


async def export_document(
    document_id: int, *, renderer: Renderer = render_latex, compile_time_limit: float = 120.0
) -> bytes:
    """Export one document to PDF.

    Args:
        document_id: The document.
        renderer: Makes the LaTeX source.
        compile_time_limit: Seconds latexmk may run.

    Returns:
        The PDF's bytes.

    Raises:
        NotFound: The document does not exist.
        ExportTooLarge: The document is too large to typeset in time (checked before
            rendering; a message for the user).
        LatexError: The LaTeX did not compile (with the log's relevant lines).
    """
    async with db.session() as db_session:
        document = await load_export_document(db_session, document_id)
    check_document(document)
    return await compile_latex(renderer(document), time_limit=compile_time_limit)


def load_renderer(spec: str) -> Renderer:
    """Import a renderer given as ``module:callable``.

    Raises:
        ConfigurationError: The module or the callable cannot be found.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"renderer must look like 'package.module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigurationError(
            f"cannot import renderer module {module_name!r}: {error}"
        ) from None
    renderer = getattr(module, attribute, None)
    if not callable(renderer):
        raise ConfigurationError(f"{spec!r} is not a callable")
    return renderer  # type: ignore[no-any-return]  # checked callable; a protocol can't say more
