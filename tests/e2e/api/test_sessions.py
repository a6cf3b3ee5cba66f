"""Signing in and out, CSRF and same-origin checks, and a server restart mid-session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.api._helpers import create_workspace

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.e2e._processes import AppServer
    from tests.e2e.conftest import E2EUser

    MakeUser = Callable[[str], Awaitable[E2EUser]]
    SignIn = Callable[[E2EUser], Awaitable[httpx.AsyncClient]]

pytestmark = pytest.mark.pgsandbox(isolation="shared")


class TestSignIn:
    """``POST /api/session`` starts a signed-cookie session; ``DELETE`` ends it."""

    async def test_right_password_signs_in_and_returns_a_csrf_token(
        self, app_server: AppServer, make_user: MakeUser
    ) -> None:
        """The answer names the user and carries the token unsafe requests must send."""
        user = await make_user("reader")
        async with httpx.AsyncClient(base_url=app_server.base_url) as client:
            response = await client.post(
                "/api/session", json={"email": user.email.upper(), "password": user.password}
            )
            me = await client.get("/api/me")
        assert response.status_code == 200
        assert response.json()["user"] == {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
        }
        assert len(response.json()["csrf_token"]) >= 32
        assert me.json()["user"]["id"] == user.id
        assert me.json()["csrf_token"] == response.json()["csrf_token"]
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie

    @pytest.mark.parametrize(
        ("email", "password"),
        [("right", "wrong-password"), ("nobody@e2e.example.org", "whatever1"), ("", "")],
        ids=["wrong-password", "unknown-address", "empty"],
    )
    async def test_wrong_credentials_get_401_and_no_session(
        self, app_server: AppServer, make_user: MakeUser, email: str, password: str
    ) -> None:
        """The same answer whether the address exists or not; no cookie is set."""
        user = await make_user("reader")
        async with httpx.AsyncClient(base_url=app_server.base_url) as client:
            response = await client.post(
                "/api/session",
                json={"email": user.email if email == "right" else email, "password": password},
            )
            me = await client.get("/api/me")
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "wrong e-mail or password"
        assert "set-cookie" not in response.headers
        assert me.status_code == 401

    async def test_sign_in_must_be_json(self, app_server: AppServer, make_user: MakeUser) -> None:
        """A form post (what a cross-site page could send) to the JSON sign-in gets 415."""
        user = await make_user("reader")
        async with httpx.AsyncClient(base_url=app_server.base_url) as client:
            response = await client.post(
                "/api/session", data={"email": user.email, "password": user.password}
            )
        assert response.status_code == 415

    async def test_sign_out_ends_the_session(
        self, app_server: AppServer, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """After ``DELETE /api/session`` the same client is anonymous again."""
        client = await sign_in(await make_user("reader"))
        assert (await client.delete("/api/session")).status_code == 204
        assert (await client.get("/api/me")).status_code == 401

    async def test_a_forged_cookie_is_ignored(self, app_server: AppServer) -> None:
        """A session cookie not signed with the server's key counts as no session."""
        async with httpx.AsyncClient(
            base_url=app_server.base_url, cookies={"glossator_session": "eyJ1aWQiOiAxfQ==.x.y"}
        ) as client:
            response = await client.get("/api/me")
        assert response.status_code == 401


class TestCsrf:
    """State-changing requests need the session's token and a same-origin browser context."""

    async def test_missing_or_wrong_token_gets_403_and_changes_nothing(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """Without ``X-CSRF-Token`` (or with another one) nothing is created."""
        client = await sign_in(await make_user("owner"))
        token = client.headers.pop("X-CSRF-Token")
        missing = await client.post("/api/workspaces", json={"title": "csrf-missing"})
        wrong = await client.post(
            "/api/workspaces", json={"title": "csrf-wrong"}, headers={"X-CSRF-Token": token[::-1]}
        )
        listed = await client.get("/api/workspaces")
        assert missing.status_code == 403
        assert wrong.status_code == 403
        assert listed.json()["workspaces"] == []

    async def test_cross_origin_requests_get_403(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """An ``Origin`` of another site, or ``Sec-Fetch-Site: cross-site``, is refused."""
        client = await sign_in(await make_user("owner"))
        other_origin = await client.post(
            "/api/workspaces", json={"title": "x"}, headers={"Origin": "https://evil.example"}
        )
        cross_site = await client.post(
            "/api/workspaces", json={"title": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        same_origin = await client.post(
            "/api/workspaces", json={"title": "ok"}, headers={"Origin": str(client.base_url)}
        )
        assert other_origin.status_code == 403
        assert cross_site.status_code == 403
        assert same_origin.status_code == 201


class TestLimits:
    """Request bodies are bounded before they are read."""

    async def test_an_upload_over_the_limit_gets_413(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """The test server allows 1 MiB; 2 MiB are refused with 413 and nothing is stored."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "big uploads")
        response = await client.post(
            f"/api/workspaces/{workspace['id']}/documents",
            files={"file": ("big.html", b"<p>" + b"x" * (2 * 1024 * 1024) + b"</p>")},
        )
        documents = await client.get(f"/api/workspaces/{workspace['id']}/documents")
        assert response.status_code == 413
        assert documents.json()["documents"] == []

    async def test_a_large_json_body_gets_413(self, make_user: MakeUser, sign_in: SignIn) -> None:
        """Routes that are not uploads accept at most 256 KiB."""
        client = await sign_in(await make_user("owner"))
        response = await client.post("/api/workspaces", json={"title": "t" * 300_000})
        assert response.status_code == 413


class TestRestart:
    """Restarting the app server loses no committed data and keeps sessions."""

    async def test_data_and_session_survive_a_restart(
        self, app_server: AppServer, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """Create data, restart the server (SIGTERM, start), read it back with the old cookie."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "survives restarts")
        document = await client.post(
            f"/api/workspaces/{workspace['id']}/documents",
            files={"file": ("note.html", b"<p>Committed before the restart.</p>")},
        )
        document_id = document.json()["documents"][0]["id"]
        highlight = await client.post(
            f"/api/documents/{document_id}/highlights",
            json={"start": 0, "end": 9, "tag": "claim", "comment": "kept"},
        )
        assert highlight.status_code == 201

        app_server.restart()

        read_back = await client.get(f"/api/documents/{document_id}")
        assert read_back.status_code == 200
        assert read_back.json()["document"]["plain_text"] == "Committed before the restart."
        assert [(h["start_offset"], h["end_offset"], h["comment"]) for h in
                read_back.json()["highlights"]] == [(0, 9, "kept")]  # fmt: skip
        workspaces = await client.get("/api/workspaces")
        assert [w["title"] for w in workspaces.json()["workspaces"]] == ["survives restarts"]
