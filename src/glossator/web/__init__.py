"""Glossator's web app: a JSON API and server-rendered pages, served by uvicorn.

``create_app(settings)`` builds the ASGI app; ``glossator serve`` runs it. See
docs/web.md for the routes, the authorisation rules and the security design.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from glossator.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings) -> Starlette:
    """Build the web application from ``settings`` (see :func:`glossator.web._app.create_app`).

    Starlette, Jinja2 and the services are imported here, not when ``glossator.web`` is:
    the ``glossator`` command line imports this package to build its parser.

    Raises:
        ConfigurationError: No usable secret key (see ``GLOSSATOR_SECRET_KEY``).
    """
    from glossator.web._app import create_app as build_app

    return build_app(settings)
