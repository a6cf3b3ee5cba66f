"""The session cookie's flags, with and without GLOSSATOR_COOKIE_SECURE."""

from __future__ import annotations

import httpx
import pytest

from glossator.settings import Settings
from glossator.web import create_app
from glossator.web._app import MIN_SECRET_KEY_LENGTH

KEY = "k" * MIN_SECRET_KEY_LENGTH


async def _login_page_cookie(settings: Settings) -> str:
    """The Set-Cookie header of the sign-in page (it stores the CSRF token; no database)."""
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/login")
    assert response.status_code == 200
    return response.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("environ", "secure"),
    [
        ({}, False),
        ({"GLOSSATOR_COOKIE_SECURE": "1"}, True),
        ({"GLOSSATOR_COOKIE_SECURE": "0"}, False),
    ],
)
async def test_the_secure_flag_follows_the_setting(environ: dict[str, str], secure: bool) -> None:
    """``Secure`` only when asked for; HttpOnly and SameSite=Lax always."""
    settings = Settings.from_env({"GLOSSATOR_SECRET_KEY": KEY, **environ})
    assert settings.cookie_secure is secure
    cookie = await _login_page_cookie(settings)
    assert cookie.startswith("glossator_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert ("; secure" in cookie) is secure
