"""Rendering document pages off the event loop, remembering where each page starts.

Finding page boundaries needs one pass over the whole document (its plain-text offsets
depend on everything before them); a 100,000-message conversation takes seconds. The
pass runs once, in a worker process, and its :class:`~glossator.web._render.PageIndex`
(a few numbers per page) is kept here, per server process, for the
:data:`CACHED_DOCUMENTS` documents used last; then each view parses only its page.
Uploads start computing the index of a large document in the background, so even its
first view is quick (and waits for that pass rather than making a second one).
An index that no longer fits a document (edited, or another one with the same id after
a restart of the database) is detected by the renderer and rebuilt.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Final

from glossator.web._offload import WorkerCrashed, WorkTimedOut, shared_pool
from glossator.web._render import PAGE_TEXT_CHARS, PageIndex, RenderedPage, render_document_page

if TYPE_CHECKING:
    from glossator.web._render import MarkRange

__all__ = [
    "CACHED_DOCUMENTS",
    "INLINE_RENDER_BYTES",
    "RENDER_TIME_LIMIT",
    "forget_page_indexes",
    "render_page",
    "start_page_index",
]

#: Documents with less HTML than this are rendered on the event loop (a few ms; no
#: round trip to a worker process, no index).
INLINE_RENDER_BYTES: Final = 256 * 1024
#: Seconds a worker may spend rendering one page (the first one of a document included).
RENDER_TIME_LIMIT: Final = 60.0
#: How many documents' page indexes are kept.
CACHED_DOCUMENTS: Final = 256

_indexes: OrderedDict[int, PageIndex] = OrderedDict()
_lock = threading.Lock()


def _remembered(document_id: int) -> PageIndex | None:
    with _lock:
        index = _indexes.get(document_id)
        if index is not None:
            _indexes.move_to_end(document_id)
        return index


def _remember(document_id: int, index: PageIndex | None) -> None:
    if index is None:
        return
    with _lock:
        _indexes[document_id] = index
        _indexes.move_to_end(document_id)
        while len(_indexes) > CACHED_DOCUMENTS:
            _indexes.popitem(last=False)


def forget_page_indexes() -> None:
    """Drop every remembered index (tests use it to measure a first view)."""
    with _lock:
        _indexes.clear()


async def render_page(
    document_id: int, html: str, plain_text: str, ranges: list[MarkRange], page: int
) -> RenderedPage:
    """Page ``page`` of a document, rendered in a worker process when it is large.

    Raises:
        WorkTimedOut: Rendering took longer than :data:`RENDER_TIME_LIMIT` (a 422).
        WorkerCrashed: The worker process died.
    """
    if len(html) < INLINE_RENDER_BYTES:
        return render_document_page(html, plain_text, ranges, page=page)
    warming = _warming.get(document_id)
    if warming is not None and warming.get_loop() is asyncio.get_running_loop():
        # The upload's pass over the document is under way: wait for its index rather
        # than making a second pass. Shielded: a view that goes away does not stop it.
        await asyncio.shield(warming)
    return await _render_in_worker(document_id, html, plain_text, ranges, page)


async def _render_in_worker(
    document_id: int, html: str, plain_text: str, ranges: list[MarkRange], page: int
) -> RenderedPage:
    rendered = await shared_pool().run(
        functools.partial(
            render_document_page,
            page=page,
            page_chars=PAGE_TEXT_CHARS,
            index=_remembered(document_id),
        ),
        html,
        plain_text,
        ranges,
        time_limit=RENDER_TIME_LIMIT,
        what="rendering the document",
    )
    _remember(document_id, rendered.index)
    return rendered


#: Page indexes being computed after uploads, by document id (tasks of the app's loop).
_warming: dict[int, asyncio.Task[None]] = {}


def start_page_index(document_id: int, html: str, plain_text: str) -> None:
    """Compute a large document's page index in the background (after an upload).

    The upload answers without waiting for it; a view that arrives meanwhile waits for
    it instead of making a pass of its own. A failure here is not the upload's: the
    document is stored, and its first view tries again (and reports the error then).
    """
    if len(html) < INLINE_RENDER_BYTES:
        return
    task = asyncio.get_running_loop().create_task(_warm(document_id, html, plain_text))
    _warming[document_id] = task

    def forget(done: asyncio.Task[None]) -> None:
        if _warming.get(document_id) is done:
            del _warming[document_id]

    task.add_done_callback(forget)


async def _warm(document_id: int, html: str, plain_text: str) -> None:
    # RuntimeError: the pool was closed (the server is stopping).
    with contextlib.suppress(WorkTimedOut, WorkerCrashed, RuntimeError):
        await _render_in_worker(document_id, html, plain_text, [], 1)
