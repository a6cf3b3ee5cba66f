"""The application factory: routes, middleware, templates, and the database's lifetime."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Final

import jinja2
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from glossator import db
from glossator.errors import ConfigurationError
from glossator.web._api import api_routes
from glossator.web._errors import RequestIdMiddleware, exception_handlers
from glossator.web._offload import close_shared_pool
from glossator.web._pages import page_routes
from glossator.web._security import SameOriginMiddleware, SecurityHeadersMiddleware
from glossator.web._throttle import SignInThrottle
from glossator.web.accounts import SESSION_LIFETIME

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request

    from glossator.settings import Settings

__all__ = ["DEV_SECRET_KEY", "MIN_SECRET_KEY_LENGTH", "SESSION_COOKIE", "create_app"]

#: The session cookie's name.
SESSION_COOKIE: Final = "glossator_session"
#: Signs cookies in development mode when no GLOSSATOR_SECRET_KEY is set. Never in production.
DEV_SECRET_KEY: Final = "glossator-development-only-insecure-secret-key"  # noqa: S105 - refused outside GLOSSATOR_DEV=1
MIN_SECRET_KEY_LENGTH: Final = 32
#: The cookie lives as long as the server-side session it names (which may end sooner:
#: sign-out, a new password, ``glossator user revoke-sessions``).
SESSION_MAX_AGE: Final = int(SESSION_LIFETIME.total_seconds())
#: The largest body of any request that is not an upload.
REQUEST_BODY_LIMIT: Final = 256 * 1024

_log = logging.getLogger("glossator.web")


def _secret_key(settings: Settings) -> str:
    key = settings.secret_key
    if not key:
        if not settings.dev_mode:
            raise ConfigurationError(
                "GLOSSATOR_SECRET_KEY is not set: the web app signs session cookies with it. "
                "Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                " and keep it secret; for local development only, set GLOSSATOR_DEV=1 to use an "
                "insecure built-in key"
            )
        _log.warning("GLOSSATOR_DEV=1: signing sessions with the insecure development key")
        return DEV_SECRET_KEY
    if key == DEV_SECRET_KEY and not settings.dev_mode:
        raise ConfigurationError(
            "GLOSSATOR_SECRET_KEY is the published development key; generate a secret one"
        )
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigurationError(
            f"GLOSSATOR_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters long, "
            f"got {len(key)}"
        )
    return key


async def healthz(request: Request) -> Response:
    """GET /healthz: 200 when the app runs and its database answers, else 503."""
    try:
        async with db.session() as db_session:
            await db_session.execute(text("SELECT 1"))
    except (DBAPIError, OSError, TimeoutError) as error:
        _log.warning("health check: database unavailable: %s", error)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings) -> Starlette:
    """Build the web application.

    Reads nothing from the environment: everything comes from ``settings``. The database
    is configured from ``settings`` when the app starts (ASGI lifespan) and its engines
    are disposed when it stops.

    Args:
        settings: Glossator's settings (``Settings.from_env()`` in ``glossator serve``).

    Returns:
        The ASGI application.

    Raises:
        ConfigurationError: No usable secret key (see ``GLOSSATOR_SECRET_KEY``).
    """
    secret_key = _secret_key(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db.configure(settings)
        try:
            yield
        finally:
            close_shared_pool()  # the import and rendering worker processes
            await db.dispose_engines()

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("glossator.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        *api_routes(settings),
        *page_routes(settings),
        Mount("/static", StaticFiles(packages=[("glossator.web", "static")]), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(RequestIdMiddleware),
        Middleware(SameOriginMiddleware),
        Middleware(
            SessionMiddleware,
            secret_key=secret_key,
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
            same_site="lax",
            https_only=settings.cookie_secure,
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
        max_body_size=REQUEST_BODY_LIMIT,
    )
    app.state.settings = settings
    app.state.sign_in_throttle = SignInThrottle()
    app.state.templates = Jinja2Templates(env=environment)
    return app
