"""Errors to responses: JSON under ``/api``, pages elsewhere.

=============================================  ======  ======================================
error                                          status  note
=============================================  ======  ======================================
not signed in                                  401     pages redirect to ``/login?next=...``
:class:`~glossator.errors.NotFound`            404     also for what the user may not see
:class:`~glossator.errors.PermissionDenied`    403     the user sees it but may not change it
CSRF token missing or wrong                    403
:class:`~glossator.errors.CourseArchived`      409     archived courses are read-only
:class:`~glossator.errors.Conflict`            409
body is not JSON                               415
:class:`~glossator.errors.ValidationError`     422     bad input, an upload that cannot be
                                                       imported
text the database cannot store                 422     NUL, lone surrogates, out-of-range
                                                       numbers that got past the checks
too many failed sign-ins                       429     with ``Retry-After``
:class:`~glossator.importers.ConverterMissing` 503     RTF upload without LibreOffice
database unreachable                           503     with ``Retry-After``
anything else                                  500     generic message with a request id
=============================================  ======  ======================================

Messages of glossator's errors are written for users and name only what the user sent,
so they are passed on. Nothing else is: a 500 says "internal error" and the request id
that the server's log shows next to the traceback (every response carries its id in
``X-Request-Id``); the body's ``type`` is never the name of a Python exception class
other than glossator's own user-facing errors.
"""

from __future__ import annotations

import http
import logging
import secrets
import socket
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import sqlalchemy.exc
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from glossator.errors import (
    Conflict,
    CourseArchived,
    GlossatorError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from glossator.importers import ConverterMissing, ImportFailed
from glossator.web._input import UnsupportedMediaType
from glossator.web._security import CsrfRejected, NotSignedIn, csrf_token, current_user
from glossator.web.accounts import RetryLater

if TYPE_CHECKING:
    from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID_HEADER", "RequestIdMiddleware", "exception_handlers"]

REQUEST_ID_HEADER: Final = "x-request-id"
_DATABASE_DOWN: Final = "the database is not reachable right now; try again in a minute"
_UNSTORABLE: Final = (
    "the request holds a value the database cannot store (a NUL character, an unpaired "
    "surrogate or a number out of range); remove it and try again"
)
_log = logging.getLogger("glossator.web")

# Checked in order, so a subclass comes before its base class. The middle item is the
# ``type`` the client sees; the last is the message, ``None`` for the error's own (which
# is written for users).
_STATUSES: tuple[tuple[type[Exception], int, str | None], ...] = (
    (NotSignedIn, 401, "sign in first"),
    (CsrfRejected, 403, "the form or request is missing its CSRF token; reload the page"),
    (NotFound, 404, None),
    (PermissionDenied, 403, None),
    (CourseArchived, 409, None),
    (Conflict, 409, None),
    (UnsupportedMediaType, 415, None),
    (ValidationError, 422, None),
    (ConverterMissing, 503, "RTF import is not available here (LibreOffice is missing)"),
    (ImportFailed, 422, None),
)
# What a client sees as ``type`` for errors that are not glossator's own.
_GENERIC_TYPES: Final = {
    422: "UnstorableValue",
    429: "TooManyAttempts",
    503: "ServiceUnavailable",
    500: "InternalError",
}


def _sqlstate(error: sqlalchemy.exc.DBAPIError) -> str | None:
    # asyncpg: SQLAlchemy's adapter wraps the asyncpg exception as __cause__.
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def _database_unavailable(error: Exception) -> bool:
    """Whether ``error`` means the database cannot be reached (rather than a bug)."""
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(error, sqlalchemy.exc.TimeoutError):  # the pool's: no free connection
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        code = _sqlstate(error)
        # 08: connection exception; 53300 too many connections; 57P0x shutting down.
        if code is not None:
            return code.startswith("08") or code in {"53300", "57P01", "57P02", "57P03"}
        cause = getattr(error.orig, "__cause__", None)
        return isinstance(cause, ConnectionError | TimeoutError | OSError)
    return False


def _unstorable(error: Exception) -> bool:
    """Whether the database (or its driver) refused a value the user sent."""
    if isinstance(error, UnicodeEncodeError):
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        code = _sqlstate(error)
        if code is not None:
            return code.startswith("22")  # data exception: bad encoding, out of range
        # asyncpg refuses out-of-range arguments itself (its DataError has no sqlstate).
        cause = getattr(error.orig, "__cause__", None)
        return isinstance(cause, ValueError | OverflowError | UnicodeEncodeError)
    return False


def status_of(error: Exception) -> tuple[int, str, str]:
    """The HTTP status, the ``type`` and the message for ``error``."""
    if isinstance(error, HTTPException):  # e.g. no such route (404), wrong method (405)
        try:
            phrase = http.HTTPStatus(error.status_code).phrase.replace(" ", "")
        except ValueError:
            phrase = "HTTPError"
        return error.status_code, phrase, str(error.detail)
    if isinstance(error, RetryLater):
        return error.status, _GENERIC_TYPES[error.status], error.message
    for kind, status, message in _STATUSES:
        if isinstance(error, kind):
            return status, type(error).__name__, message if message is not None else str(error)
    if _database_unavailable(error):
        return 503, _GENERIC_TYPES[503], _DATABASE_DOWN
    if _unstorable(error):
        return 422, _GENERIC_TYPES[422], _UNSTORABLE
    return 500, _GENERIC_TYPES[500], "internal error; the server's log has the details"


def _request_id(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    request_id = state.get("request_id")
    if not isinstance(request_id, str):
        request_id = secrets.token_hex(8)
        state["request_id"] = request_id
    return request_id


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def render_error(request: Request, error: Exception) -> Response:
    """The answer to ``error``: JSON under ``/api``, an error page (or redirect) elsewhere."""
    status, kind, message = status_of(error)
    request_id = _request_id(request.scope)
    if status == 500:
        message = f"internal error (request {request_id}); the server's log has the details"
        _log.error(
            "request %s: %s %s failed",
            request_id,
            request.method,
            request.url.path,
            exc_info=(type(error), error, error.__traceback__),
        )
    elif status == 503 and not isinstance(error, RetryLater | ConverterMissing):
        _log.warning("request %s: database unavailable: %r", request_id, error)
    headers: dict[str, str] = {}
    if isinstance(error, RetryLater):
        headers["retry-after"] = str(error.retry_after)
    elif status == 503 and not isinstance(error, ConverterMissing):
        headers["retry-after"] = "30"
    if _is_api(request):
        if status == 401:
            headers["www-authenticate"] = 'Cookie realm="glossator"'
        return JSONResponse(
            {"error": {"type": kind, "message": message}}, status_code=status, headers=headers
        )
    if status == 401:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    has_session = "session" in request.scope
    user = None
    if status not in {500, 503} and has_session:
        user = await current_user(request)
    context: dict[str, Any] = {
        "status": status,
        "message": message,
        "user": user,
        "csrf_token": csrf_token(request) if has_session else "",
    }
    response: Response = request.app.state.templates.TemplateResponse(
        request, "error.html", context, status_code=status, headers=headers
    )
    return response


class RequestIdMiddleware:
    """Give every request an id (``X-Request-Id``); answer what nothing else handled.

    Errors the routes' handlers do not know (bugs) end here instead of in Starlette's
    ``ServerErrorMiddleware``: the answer is a generic 500 naming the request id, the
    traceback is logged under that id, and the exception goes no further (so the server
    keeps the connection and does not log it a second time).
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Tag the response with the request id; turn an unhandled error into a 500."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).setdefault(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            if started:  # too late for an error answer: let the server close the connection
                raise
            response = await render_error(Request(scope, receive), error)
            await response(scope, receive, send_with_id)


async def _handle(request: Request, error: Exception) -> Response:
    return await render_error(request, error)


def exception_handlers() -> dict[Any, ExceptionHandler]:
    """Handlers for :func:`glossator.web.create_app`'s ``exception_handlers``.

    ``Exception`` itself is not among them (Starlette would hand it to its
    ``ServerErrorMiddleware``, which re-raises); :class:`RequestIdMiddleware` answers it.
    """
    return {
        GlossatorError: _handle,
        NotSignedIn: _handle,
        CsrfRejected: _handle,
        HTTPException: _handle,
        RetryLater: _handle,
        sqlalchemy.exc.SQLAlchemyError: _handle,
        OSError: _handle,
        UnicodeError: _handle,
    }
