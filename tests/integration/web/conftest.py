"""Web API tests in process: clients of one app through httpx's ASGI transport.

The app's lifespan does not run (httpx does not send it), so glossator's sessions stay
on the sandbox that the folder's autouse fixture installs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest_asyncio

from glossator.settings import Settings
from glossator.web import create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from starlette.applications import Starlette

    OpenClient = Callable[..., httpx.AsyncClient]
    ApiSignIn = Callable[..., Awaitable[httpx.AsyncClient]]

SECRET_KEY = "web-integration-secret-key-" + "k" * 32


@pytest_asyncio.fixture
async def api_app() -> Starlette:
    """One app for the test: its clients share its sign-in throttle."""
    return create_app(Settings(secret_key=SECRET_KEY))


@pytest_asyncio.fixture
async def open_api_client(api_app: Starlette) -> AsyncIterator[OpenClient]:
    """``open_api_client(address="198.51.100.7")``: a client of its own, from that address."""
    opened: list[httpx.AsyncClient] = []

    def open_one(address: str = "198.51.100.7") -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api_app, client=(address, 40000)),
            base_url="http://testserver",
        )
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.aclose()


@pytest_asyncio.fixture
async def api_sign_in(open_api_client: OpenClient) -> ApiSignIn:
    """``await api_sign_in(email, password)``: a signed-in client sending its CSRF token."""

    async def sign_in(
        email: str, password: str, address: str = "198.51.100.7"
    ) -> httpx.AsyncClient:
        client = open_api_client(address)
        response = await client.post("/api/session", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return client

    return sign_in
