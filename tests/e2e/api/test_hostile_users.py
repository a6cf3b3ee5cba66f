"""Hostile and careless users against the real server (issue 17, web findings 4, 5, 8).

A stolen copy of a session cookie dies with the session (sign-out, a new password set
with ``glossator user create``, ``glossator user revoke-sessions``); password guessing
is throttled; bad input is a 4xx that the server handles without an escaped exception.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e._processes import REPO_ROOT

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.e2e._processes import AppServer
    from tests.e2e.conftest import E2EUser

    MakeUser = Callable[[str], Awaitable[E2EUser]]
    SignIn = Callable[[E2EUser], Awaitable[httpx.AsyncClient]]

pytestmark = pytest.mark.pgsandbox(isolation="shared")


def _glossator_user(
    database_url: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``glossator user ...`` as an administrator would."""
    env = {**os.environ, "GLOSSATOR_DATABASE_URL": database_url}
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [sys.executable, "-m", "glossator", "user", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def _copy(app_server: AppServer, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another client holding a copy of ``client``'s cookie and CSRF token (a thief's)."""
    thief = httpx.AsyncClient(base_url=app_server.base_url, cookies=dict(client.cookies))
    thief.headers["X-CSRF-Token"] = client.headers["X-CSRF-Token"]
    return thief


async def _read_and_write(thief: httpx.AsyncClient) -> tuple[int, int]:
    read = await thief.get("/api/workspaces")
    write = await thief.post("/api/workspaces", json={"title": "written by a thief"})
    return read.status_code, write.status_code


class TestStolenCookies:
    async def test_sign_out_ends_the_session_for_every_copy(
        self, app_server: AppServer, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """``DELETE /api/session``: the copy taken before reads and writes nothing (401)."""
        client = await sign_in(await make_user("reader"))
        async with _copy(app_server, client) as thief:
            assert await _read_and_write(thief) == (200, 201)
            assert (await client.delete("/api/session")).status_code == 204
            assert await _read_and_write(thief) == (401, 401)

    async def test_the_logout_form_ends_the_session_for_every_copy(
        self, app_server: AppServer, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """``POST /logout`` (the page's button) does the same."""
        client = await sign_in(await make_user("reader"))
        async with _copy(app_server, client) as thief:
            out = await client.post("/logout", data={"csrf_token": client.headers["X-CSRF-Token"]})
            assert out.status_code == 303
            assert await _read_and_write(thief) == (401, 401)

    async def test_a_new_password_from_the_cli_ends_every_session(
        self, app_server: AppServer, make_user: MakeUser, sign_in: SignIn, pgsandbox_url: str
    ) -> None:
        """``glossator user create`` on an existing address signs that user out everywhere."""
        user = await make_user("reader")
        client = await sign_in(user)
        async with _copy(app_server, client) as thief:
            result = _glossator_user(
                pgsandbox_url, "create", "--email", user.email, stdin="a-brand-new-password\n"
            )
            assert result.returncode == 0, result.stderr
            assert await _read_and_write(thief) == (401, 401)
        assert (await client.get("/api/me")).status_code == 401

    async def test_an_administrator_revokes_every_session(
        self, app_server: AppServer, make_user: MakeUser, sign_in: SignIn, pgsandbox_url: str
    ) -> None:
        """``glossator user revoke-sessions`` ends them all and counts them; the password stays."""
        user = await make_user("reader")
        first, second = await sign_in(user), await sign_in(user)
        result = _glossator_user(pgsandbox_url, "revoke-sessions", "--email", user.email)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"ended 2 session(s) of <{user.email}>"
        assert (await first.get("/api/me")).status_code == 401
        assert (await second.get("/api/me")).status_code == 401
        again = await sign_in(user)
        assert (await again.get("/api/me")).status_code == 200

    def test_revoking_an_unknown_address_fails_clearly(self, pgsandbox_url: str) -> None:
        """Exit status 2 and a message naming the address."""
        result = _glossator_user(
            pgsandbox_url, "revoke-sessions", "--email", "nobody-at-all@e2e.example.org"
        )
        assert result.returncode == 2
        assert "nobody-at-all@e2e.example.org" in result.stderr


class TestGuessing:
    async def test_guessing_is_throttled_and_the_right_password_must_wait(
        self, app_server: AppServer, make_user: MakeUser
    ) -> None:
        """Five wrong passwords get 401, then 429 with Retry-After, even for the right one."""
        user = await make_user("target")
        async with httpx.AsyncClient(base_url=app_server.base_url) as client:
            answers = [
                (await client.post(
                    "/api/session", json={"email": user.email, "password": f"guess-{n}"}
                )).status_code
                for n in range(6)
            ]  # fmt: skip
            right = await client.post(
                "/api/session", json={"email": user.email, "password": user.password}
            )
        assert answers == [401] * 5 + [429]
        assert right.status_code == 429
        assert 1 <= int(right.headers["retry-after"]) <= 60


class TestBadInput:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", "/api/session", '{"email": "a\\u0000@e2e.example.org", "password": "x"}'),
            ("POST", "/api/session", '{"email": "a@e2e.example.org", "password": "\\ud800"}'),
            ("POST", "/api/session", '{"email": ' + "[" * 50_000 + "]" * 50_000 + "}"),
            ("GET", "/api/documents/99999999999999999999", ""),
            ("GET", "/documents/99999999999999999999", ""),
        ],
        ids=["nul", "surrogate", "deep-json", "huge-api-id", "huge-page-id"],
    )
    async def test_without_signing_in_it_is_a_4xx_and_nothing_escapes(
        self, app_server: AppServer, method: str, path: str, body: str
    ) -> None:
        """4xx with a message; the server's log shows no unhandled exception."""
        since = app_server.process.log_size()
        async with httpx.AsyncClient(base_url=app_server.base_url) as client:
            response = await client.request(
                method,
                path,
                content=body.encode() if body else None,
                headers={"content-type": "application/json"} if body else None,
                follow_redirects=False,
            )
            after = await client.get("/healthz")
        assert 400 <= response.status_code < 500, response.text
        assert response.status_code in {404, 422, 303}
        assert after.status_code == 200
        assert "Traceback" not in app_server.process.log_text(since)
