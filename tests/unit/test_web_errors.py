"""Errors the web app answers without a database: bad input at the boundary, and 500s.

The app is driven in process (httpx's ASGI transport); none of these requests reaches
a service, so no database is needed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.exc import DBAPIError
from starlette.routing import Route

from glossator.settings import Settings
from glossator.web import create_app
from glossator.web._errors import status_of
from glossator.web._input import MAX_JSON_DEPTH, IdConvertor, check_text

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

SECRET_KEY = "unit-errors-secret-key-" + "k" * 32


async def _boom(request: Request) -> Response:
    raise RuntimeError("password=hunter2 at /srv/glossator/internal.py")


@pytest.fixture
def app() -> Starlette:
    """The app, plus a route that fails the way a bug would."""
    app = create_app(Settings(secret_key=SECRET_KEY))
    app.router.routes.append(Route("/api/boom", _boom, methods=["GET"]))
    app.router.routes.append(Route("/boom", _boom, methods=["GET"]))
    return app


@pytest_asyncio.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client of ``app``; an exception escaping the app fails the test."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
    ) as client:
        yield client


class TestInternalErrors:
    async def test_a_500_names_no_exception_and_gives_a_request_id_that_the_log_has(
        self, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The body says "internal error" and the id; the traceback is logged under that id.

        The exception stops there: it does not reach the server (which would log it
        again and drop the connection); the transport would raise it here if it did.
        """
        with caplog.at_level(logging.ERROR, logger="glossator.web"):
            response = await client.get("/api/boom")
        assert response.status_code == 500
        request_id = response.headers["x-request-id"]
        error = response.json()["error"]
        assert error["type"] == "InternalError"
        assert request_id in error["message"]
        for internal in ("RuntimeError", "hunter2", "/srv/glossator", "Traceback"):
            assert internal not in response.text
        logged = [record for record in caplog.records if request_id in record.getMessage()]
        assert logged, caplog.text
        assert logged[0].exc_info is not None
        assert "hunter2" in str(logged[0].exc_info[1])

    async def test_a_page_500_is_an_error_page_with_the_request_id(
        self, client: httpx.AsyncClient
    ) -> None:
        """Pages get the HTML error page, with security headers, and nothing internal."""
        response = await client.get("/boom")
        assert response.status_code == 500
        assert response.headers["x-request-id"] in response.text
        assert "RuntimeError" not in response.text
        assert "hunter2" not in response.text
        assert "script-src 'self'" in response.headers["content-security-policy"]

    async def test_every_answer_carries_a_request_id(self, client: httpx.AsyncClient) -> None:
        """Ids differ between requests, so a log line identifies one request."""
        first = await client.get("/api/me")
        second = await client.get("/api/me")
        assert first.status_code == second.status_code == 401
        assert len({first.headers["x-request-id"], second.headers["x-request-id"]}) == 2


class TestBadInputWithoutSigningIn:
    @pytest.mark.parametrize(
        "body",
        [
            '{"email": "a\\u0000@example.org", "password": "whatever1"}',
            '{"email": "a@example.org", "password": "bad\\ud800pass"}',
            '{"email": "a@example.org", "password": "x", "\\u0000": 1}',
            '{"email": ' + "[" * 100_000 + "]" * 100_000 + "}",
            '{"email": ' + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1) + "}",
            "\xff\xfe not UTF-8",
        ],
        ids=["nul", "lone-surrogate", "nul-key", "deeply-nested", "just-too-deep", "not-utf8"],
    )
    async def test_sign_in_with_unstorable_json_is_422(
        self, client: httpx.AsyncClient, body: str
    ) -> None:
        """Refused at the JSON boundary with a message, before any lookup or hashing."""
        response = await client.post(
            "/api/session",
            content=body.encode("utf-8", "surrogatepass") if "\xff" not in body else b"\xff\xfe",
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["type"] == "ValidationError"
        assert response.json()["error"]["message"]

    @pytest.mark.parametrize(
        "path",
        [
            "/api/documents/99999999999999999999",
            "/api/workspaces/9223372036854775808",
            "/api/exports/1000000000000000000",
            "/documents/99999999999999999999",
        ],
    )
    async def test_ids_beyond_bigint_are_404(self, client: httpx.AsyncClient, path: str) -> None:
        """A path id longer than 18 digits matches no route: 404, never a database error."""
        response = await client.get(path)
        assert response.status_code == 404

    def test_the_id_convertor_only_takes_what_bigint_holds(self) -> None:
        """18 digits at most, all below 2**63."""
        convertor = IdConvertor()
        assert int("9" * 18) < 2**63
        assert convertor.convert("0012") == 12
        with pytest.raises(ValueError, match="18 digits"):
            convertor.to_string(10**18)

    @pytest.mark.parametrize("value", ["a\x00b", "\ud800", "x\udfff"])
    def test_check_text_names_the_field(self, value: str) -> None:
        """The message says which field and what is wrong with it."""
        from glossator.errors import ValidationError

        with pytest.raises(ValidationError, match="field 'title' holds"):
            check_text(value, "field 'title'")

    def test_check_text_keeps_ordinary_text(self) -> None:
        """Emoji (surrogate pairs in JSON), accents and newlines pass unchanged."""
        assert check_text("Café 🎉\nline", "x") == "Café 🎉\nline"


class _DriverError(Exception):
    """Stands in for a driver exception carrying a SQLSTATE, as asyncpg's do."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver says no")
        self.sqlstate = sqlstate


class TestClassification:
    @pytest.mark.parametrize(
        ("error", "status", "kind"),
        [
            (ConnectionRefusedError(111, "Connect call failed"), 503, "ServiceUnavailable"),
            (TimeoutError(), 503, "ServiceUnavailable"),
            (DBAPIError("SELECT 1", None, _DriverError("08006")), 503, "ServiceUnavailable"),
            (DBAPIError("SELECT 1", None, _DriverError("57P01")), 503, "ServiceUnavailable"),
            (DBAPIError("INSERT", None, _DriverError("22021")), 422, "UnstorableValue"),
            (DBAPIError("SELECT", None, _DriverError("22003")), 422, "UnstorableValue"),
            (DBAPIError("SELECT", None, _DriverError("42P01")), 500, "InternalError"),
            (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), 422,
             "UnstorableValue"),
            (KeyError("secret"), 500, "InternalError"),
        ],
        ids=["refused", "timeout", "08-connection", "admin-shutdown", "nul-in-text",
             "out-of-range", "missing-table-is-a-bug", "surrogate", "bug"],
    )  # fmt: skip
    def test_errors_map_to_statuses_without_their_class_names(
        self, error: Exception, status: int, kind: str
    ) -> None:
        """Outages are 503, refused values 422, everything else a generic 500."""
        got_status, got_kind, message = status_of(error)
        assert (got_status, got_kind) == (status, kind)
        assert type(error).__name__ not in message
        assert "driver says no" not in message
