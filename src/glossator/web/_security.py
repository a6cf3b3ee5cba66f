"""Sessions, CSRF tokens, the same-origin check and the security headers.

Sessions are server-side (:mod:`glossator.web.accounts`, table ``user_sessions``); the
cookie, signed by Starlette's ``SessionMiddleware`` (itsdangerous), carries the session's
random token and its CSRF token, and is ``HttpOnly`` and ``SameSite=Lax``. Every request
looks the token up, so a session that was ended (sign-out, new password, revoked by an
administrator) is over for every copy of the cookie.

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
_SESSION_TOKEN: Final = "sid"  # noqa: S105 - the session key's name, not a secret
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


async def sign_in(request: Request, user: UserRecord) -> str:
    """Start a fresh session for ``user`` (no data of an earlier session survives).

    An earlier session of this cookie is ended on the server too.

    Returns:
        The new session's CSRF token.
    """
    await sign_out(request)
    request.session[_SESSION_TOKEN] = await accounts.start_session(user.id)
    setattr(request.state, _STATE_USER, user)
    return csrf_token(request)


async def sign_out(request: Request) -> None:
    """End the session on the server and clear the cookie."""
    token = request.session.get(_SESSION_TOKEN)
    if isinstance(token, str) and token:
        await accounts.end_session(token)
    request.session.clear()
    setattr(request.state, _STATE_USER, None)


async def current_user(request: Request) -> UserRecord | None:
    """The signed-in user, or ``None``; looked up once per request."""
    if hasattr(request.state, _STATE_USER):
        user: UserRecord | None = getattr(request.state, _STATE_USER)
        return user
    token = request.session.get(_SESSION_TOKEN)
    user = None
    if isinstance(token, str) and token:
        user = await accounts.session_user(token)
        if user is None:  # signed out elsewhere, revoked, expired, or the user is gone
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
