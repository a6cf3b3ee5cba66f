"""Errors to responses: JSON under ``/api``, pages elsewhere.

=======================================  ======  =============================================
error                                    status  note
=======================================  ======  =============================================
not signed in                            401     pages redirect to ``/login?next=...``
:class:`~glossator.errors.NotFound`      404     also for what the user may not see
:class:`~glossator.errors.PermissionDenied` 403  the user sees it but may not change it
CSRF token missing or wrong              403
:class:`~glossator.errors.Conflict`      409
body is not JSON                         415
:class:`~glossator.errors.ValidationError` 422   bad input, an upload that cannot be imported
:class:`~glossator.importers.ConverterMissing` 503  RTF upload without LibreOffice installed
:class:`~glossator.importers.ImportFailed`  422  the converter failed on this file
=======================================  ======  =============================================

Messages of these errors are written for users and name only what the user sent, so they
are passed on; anything else is a 500 with a generic message (the traceback goes to the
server's log).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from glossator.errors import Conflict, GlossatorError, NotFound, PermissionDenied, ValidationError
from glossator.importers import ConverterMissing, ImportFailed
from glossator.web._api import _UnsupportedMediaType
from glossator.web._security import CsrfRejected, NotSignedIn, csrf_token, current_user

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ExceptionHandler

__all__ = ["exception_handlers"]

# Checked in order, so a subclass comes before its base class. ``None``: the error's
# own message, which is written for users.
_STATUSES: tuple[tuple[type[Exception], int, str | None], ...] = (
    (NotSignedIn, 401, "sign in first"),
    (CsrfRejected, 403, "the form or request is missing its CSRF token; reload the page"),
    (NotFound, 404, None),
    (PermissionDenied, 403, None),
    (Conflict, 409, None),
    (_UnsupportedMediaType, 415, None),
    (ValidationError, 422, None),
    (ConverterMissing, 503, "RTF import is not available here (LibreOffice is missing)"),
    (ImportFailed, 422, None),
)


def _status_of(error: Exception) -> tuple[int, str]:
    if isinstance(error, HTTPException):
        return error.status_code, str(error.detail)
    for kind, status, message in _STATUSES:
        if isinstance(error, kind):
            return status, message if message is not None else str(error)
    return 500, "internal error; the server's log has the details"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _handle(request: Request, error: Exception) -> Response:
    # A 500's traceback is logged by Starlette's ServerErrorMiddleware, which re-raises.
    status, message = _status_of(error)
    if _is_api(request):
        headers = {"www-authenticate": 'Cookie realm="glossator"'} if status == 401 else None
        return JSONResponse(
            {"error": {"type": type(error).__name__, "message": message}},
            status_code=status,
            headers=headers,
        )
    if status == 401:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    templates = request.app.state.templates
    context: dict[str, Any] = {
        "status": status,
        "message": message,
        "user": await current_user(request) if status != 500 else None,
        "csrf_token": csrf_token(request),
    }
    response: Response = templates.TemplateResponse(
        request, "error.html", context, status_code=status
    )
    return response


def exception_handlers() -> dict[Any, ExceptionHandler]:
    """Handlers for :func:`glossator.web.create_app`'s ``exception_handlers``."""
    return {
        GlossatorError: _handle,
        NotSignedIn: _handle,
        CsrfRejected: _handle,
        HTTPException: _handle,
        Exception: _handle,
    }
