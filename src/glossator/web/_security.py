"""Sessions, CSRF tokens, the same-origin check and the security headers.

Sessions are Starlette's signed cookies (``SessionMiddleware``, itsdangerous): the cookie
holds the user id, a fingerprint of their password hash (a new password ends every
other session) and the session's CSRF token; it is ``HttpOnly`` and ``SameSite=Lax``.

CSRF, in three layers (docs/web.md says why):

1. ``SameSite=Lax``: browsers do not send the cookie with cross-site POSTs.
2. :class:`SameOriginMiddleware`: a state-changing request whose ``Origin`` names
   another origin, or whose ``Sec-Fetch-Site`` says ``cross-site``, gets 403.
3. A synchroniser token: forms carry ``csrf_token``, JSON calls send ``X-CSRF-Token``;
   both must equal the token in the signed session.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING, Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse

from glossator.web import accounts

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from glossator.services import UserRecord

__all__ = [
    "CSRF_FORM_FIELD",
    "CSRF_HEADER",
    "CsrfRejected",
    "NotSignedIn",
    "SameOriginMiddleware",
    "SecurityHeadersMiddleware",
    "check_csrf",
    "csrf_token",
    "current_user",
    "require_user",
    "sign_in",
    "sign_out",
]

CSRF_HEADER: Final = "x-csrf-token"
CSRF_FORM_FIELD: Final = "csrf_token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_USER_ID: Final = "uid"
_FINGERPRINT: Final = "pwf"
_CSRF: Final = "csrf"
_STATE_USER: Final = "glossator_user"

# Uploaded documents are sanitised; this policy is the second line: no inline script,
# no plugins, no framing, nothing loaded from elsewhere.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class NotSignedIn(Exception):
    """The request needs a signed-in user and has none (401 / redirect to sign-in)."""


class CsrfRejected(Exception):
    """The request's CSRF token is missing or wrong (403)."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created (and stored in the session) on first use."""
    token = request.session.get(_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raise :class:`CsrfRejected` unless ``submitted`` is the session's token."""
    expected = request.session.get(_CSRF)
    if (
        not isinstance(expected, str)
        or not expected
        or not submitted
        or not hmac.compare_digest(expected.encode(), submitted.encode())
    ):
        raise CsrfRejected


def sign_in(request: Request, user: UserRecord, fingerprint: str) -> str:
    """Start a fresh session for ``user`` (no data of an earlier session survives).

    Returns:
        The new session's CSRF token.
    """
    request.session.clear()
    request.session[_USER_ID] = user.id
    request.session[_FINGERPRINT] = fingerprint
    setattr(request.state, _STATE_USER, user)
    return csrf_token(request)


def sign_out(request: Request) -> None:
    """End the session (the cookie is deleted)."""
    request.session.clear()
    setattr(request.state, _STATE_USER, None)


async def current_user(request: Request) -> UserRecord | None:
    """The signed-in user, or ``None``; looked up once per request."""
    if hasattr(request.state, _STATE_USER):
        user: UserRecord | None = getattr(request.state, _STATE_USER)
        return user
    user_id = request.session.get(_USER_ID)
    fingerprint = request.session.get(_FINGERPRINT)
    user = None
    if isinstance(user_id, int) and isinstance(fingerprint, str):
        user = await accounts.session_user(user_id, fingerprint)
        if user is None:  # deleted, or the password changed: this session is over
            request.session.clear()
    setattr(request.state, _STATE_USER, user)
    return user


async def require_user(request: Request) -> UserRecord:
    """The signed-in user; raises :class:`NotSignedIn` when there is none."""
    user = await current_user(request)
    if user is None:
        raise NotSignedIn
    return user


class SameOriginMiddleware:
    """Refuse state-changing requests that a browser says come from another site."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 403 to a cross-origin unsafe request; pass everything else on."""
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            host = headers.get("host", "")
            own_origin = f"{scope.get('scheme', 'http')}://{host}"
            cross_origin = origin is not None and origin != own_origin
            if cross_origin or headers.get("sec-fetch-site") == "cross-site":
                response = JSONResponse(
                    {
                        "error": {
                            "type": "CrossOriginRequest",
                            "message": "cross-origin requests may not change anything here",
                        }
                    },
                    status_code=403,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """Add the Content-Security-Policy and friends to every response."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers when the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", CONTENT_SECURITY_POLICY)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "same-origin")
                headers.setdefault("x-frame-options", "DENY")
                if not scope["path"].startswith("/static/"):
                    # Pages and API answers hold private data: keep them out of caches.
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
