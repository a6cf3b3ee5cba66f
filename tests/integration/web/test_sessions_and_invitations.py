"""Hostile and careless users, through the API in process: throttled sign-in, sessions
that end on the server, and enrolment only by consent (issue 17, findings 4, 5 and 7).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from glossator import services
from glossator.web import accounts
from glossator.web.accounts import revoke_sessions, set_password

if TYPE_CHECKING:
    import httpx

    from tests.integration.web.conftest import ApiSignIn, OpenClient

PASSWORD = "correct horse battery staple"  # noqa: S105 - test users only, rolled back
ATTACKER = "203.0.113.9"
VICTIM = "198.51.100.7"


async def _user(label: str, name: str | None = None) -> services.UserRecord:
    return await set_password(f"{label}-{uuid.uuid4().hex[:8]}@example.org", PASSWORD, name)


async def _try(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/session", json={"email": email, "password": password})


class TestSignInThrottling:
    async def test_guessing_one_password_is_stopped_and_the_right_one_then_waits(
        self, open_api_client: OpenClient
    ) -> None:
        """Five wrong passwords get 401; then 429 with Retry-After, the right one included."""
        user = await _user("ada")
        attacker = open_api_client(ATTACKER)
        answers = [(await _try(attacker, user.email, f"guess-{n}")).status_code for n in range(20)]
        right = await _try(attacker, user.email, PASSWORD)
        assert answers[:5] == [401] * 5
        assert set(answers[5:]) == {429}
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) >= 1
        assert right.json()["error"]["type"] == "TooManyAttempts"
        assert "set-cookie" not in right.headers

    async def test_unknown_addresses_are_throttled_exactly_like_known_ones(
        self, open_api_client: OpenClient
    ) -> None:
        """The sequence of answers does not tell whether the address has an account."""
        user = await _user("ada")
        sequences: list[list[int]] = []
        for email in (user.email, f"nobody-{uuid.uuid4().hex[:8]}@example.org"):
            client = open_api_client(f"192.0.2.{len(sequences) + 1}")
            sequences.append(
                [(await _try(client, email, "wrong-pw")).status_code for _ in range(7)]
            )
        assert sequences[0] == sequences[1] == [401] * 5 + [429] * 2

    async def test_the_sign_in_form_is_throttled_too(self, open_api_client: OpenClient) -> None:
        """``POST /login`` shares the buckets: after five failures the form answers 429."""
        user = await _user("ada")
        browser = open_api_client(ATTACKER)
        page = await browser.get("/login")
        token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        answers = []
        for password in [f"guess-{n}" for n in range(5)] + [PASSWORD]:
            response = await browser.post(
                "/login", data={"csrf_token": token, "email": user.email, "password": password}
            )
            answers.append(response.status_code)
        assert answers == [401] * 5 + [429]
        assert int(response.headers["retry-after"]) >= 1
        assert "too many failed sign-ins" in response.text

    @pytest.mark.pgsandbox(isolation="database")
    async def test_a_flood_does_not_keep_the_real_user_out(
        self, open_api_client: OpenClient
    ) -> None:
        """48 parallel wrong sign-ins at the victim's account; the victim still gets in.

        Structure, not stopwatch: the flood can start only as many argon2 runs as its
        bucket holds (5), the rest is refused with 429 before hashing, so the victim's
        sign-in never queues behind it. The timing bound is only a generous backstop,
        relative to the same sign-in measured before the flood.
        """
        user = await _user("victim")
        victim = open_api_client(VICTIM)
        started = time.perf_counter()
        assert (await _try(victim, user.email, PASSWORD)).status_code == 200
        baseline = time.perf_counter() - started

        attacker = open_api_client(ATTACKER)
        hashes_before = accounts.HASHING.started
        flood = [asyncio.ensure_future(_try(attacker, user.email, f"g{n}")) for n in range(48)]
        started = time.perf_counter()
        real = await _try(victim, user.email, PASSWORD)
        during = time.perf_counter() - started
        answers = [response.status_code for response in await asyncio.gather(*flood)]

        assert real.status_code == 200, real.text
        assert answers.count(401) <= 5
        assert answers.count(429) >= 43
        # The flood's five guesses plus the victim's own sign-in.
        assert accounts.HASHING.started - hashes_before <= 6
        assert during < 20 * baseline + 5.0

    async def test_the_hashing_pool_answers_503_when_full(
        self, open_api_client: OpenClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A flood from many addresses finds the pool full: 503 with Retry-After, at once."""
        monkeypatch.setattr(accounts, "HASHING", accounts.HashingPool(workers=1, queue_limit=0))
        response = await _try(open_api_client("192.0.2.77"), "x@example.org", "whatever1")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert "busy" in response.json()["error"]["message"]


class TestSessionsEnd:
    async def test_a_copied_cookie_is_dead_after_sign_out(
        self, api_sign_in: ApiSignIn, open_api_client: OpenClient
    ) -> None:
        """A copy of the cookie taken before ``DELETE /api/session`` can neither read nor write."""
        user = await _user("ada")
        client = await api_sign_in(user.email, PASSWORD)
        thief = open_api_client("192.0.2.200")
        thief.cookies.update(client.cookies)
        thief.headers["X-CSRF-Token"] = client.headers["X-CSRF-Token"]
        assert (await thief.get("/api/me")).status_code == 200

        assert (await client.delete("/api/session")).status_code == 204

        assert (await thief.get("/api/me")).status_code == 401
        wrote = await thief.post("/api/workspaces", json={"title": "after sign-out"})
        assert wrote.status_code == 401
        assert await services.list_workspaces_for_user(user.id) == []

    async def test_a_new_password_ends_every_session(self, api_sign_in: ApiSignIn) -> None:
        """``glossator user create`` on an existing address signs that user out everywhere."""
        user = await _user("ada")
        first, second = (
            await api_sign_in(user.email, PASSWORD),
            await api_sign_in(user.email, PASSWORD),
        )
        await set_password(user.email, PASSWORD + " new")
        assert (await first.get("/api/me")).status_code == 401
        assert (await second.get("/api/me")).status_code == 401

    async def test_revoking_ends_every_session_of_that_user_only(
        self, api_sign_in: ApiSignIn
    ) -> None:
        """``revoke_sessions`` (``glossator user revoke-sessions``) counts and ends them."""
        ada, bob = await _user("ada"), await _user("bob")
        ada_clients = [await api_sign_in(ada.email, PASSWORD) for _ in range(2)]
        bob_client = await api_sign_in(bob.email, PASSWORD)
        assert await revoke_sessions(ada.email.upper()) == 2
        assert [(await c.get("/api/me")).status_code for c in ada_clients] == [401, 401]
        assert (await bob_client.get("/api/me")).status_code == 200

    async def test_signing_in_again_replaces_the_cookie_s_old_session(
        self, api_sign_in: ApiSignIn, open_api_client: OpenClient
    ) -> None:
        """A second sign-in on one cookie ends the first session (no fixation, no leftovers)."""
        user = await _user("ada")
        client = await api_sign_in(user.email, PASSWORD)
        old_copy = open_api_client()
        old_copy.cookies.update(client.cookies)
        assert (await _try(client, user.email, PASSWORD)).status_code == 200
        assert (await old_copy.get("/api/me")).status_code == 401
        assert (await client.get("/api/me")).status_code == 200


async def _course(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(
        "/api/courses", json={"code": f"C-{uuid.uuid4().hex[:10]}", "title": "Rhetoric"}
    )
    assert response.status_code == 201, response.text
    course: dict[str, Any] = response.json()["course"]
    return course


class TestEnrolmentNeedsConsent:
    async def test_inviting_answers_the_same_for_known_and_unknown_addresses(
        self, api_sign_in: ApiSignIn
    ) -> None:
        """202 and the invitation as sent, nothing more: no name, no id, no 404."""
        attacker, victim = await _user("mallory"), await _user("victim", "Victoria Quill")
        client = await api_sign_in(attacker.email, PASSWORD)
        course = await _course(client)
        unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
        answers = []
        for email in (victim.email, unknown):
            response = await client.post(
                f"/api/courses/{course['id']}/invitations", json={"email": email, "role": "student"}
            )
            answers.append((response.status_code, response.json()))
        assert answers[0][0] == answers[1][0] == 202
        assert answers[0][1]["invitation"] == {
            "course_id": course["id"],
            "email": victim.email,
            "role": "student",
            "status": "pending",
        }
        assert {**answers[1][1]["invitation"], "email": victim.email} == answers[0][1]["invitation"]
        assert victim.display_name not in str(answers[0][1])

    async def test_an_invitation_enrols_nobody_until_accepted(self, api_sign_in: ApiSignIn) -> None:
        """The victim's course list stays empty; they see the invitation and decide."""
        instructor, invitee = await _user("inst"), await _user("invitee")
        staff = await api_sign_in(instructor.email, PASSWORD)
        course = await _course(staff)
        await staff.post(
            f"/api/courses/{course['id']}/invitations",
            json={"email": invitee.email, "role": "tutor"},
        )
        client = await api_sign_in(invitee.email, PASSWORD)

        assert (await client.get("/api/courses")).json()["courses"] == []
        assert (await client.get(f"/api/courses/{course['id']}")).status_code == 404
        pending = (await client.get("/api/invitations")).json()["invitations"]
        assert [(i["course_id"], i["role"], i["course_title"]) for i in pending] == [
            (course["id"], "tutor", "Rhetoric")
        ]
        listed = (await staff.get(f"/api/courses/{course['id']}/enrollments")).json()
        assert [e["user_id"] for e in listed["enrollments"]] == [instructor.id]

        accepted = await client.post(f"/api/invitations/{pending[0]['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        courses = (await client.get("/api/courses")).json()["courses"]
        assert [(c["id"], c["role"]) for c in courses] == [(course["id"], "tutor")]
        assert (await client.get("/api/invitations")).json()["invitations"] == []

    async def test_declining_leaves_no_enrolment_and_only_the_invitee_may_answer(
        self, api_sign_in: ApiSignIn
    ) -> None:
        """Someone else's invitation is 404 to accept or decline; the invitee's decline ends it."""
        instructor, invitee, other = await _user("inst"), await _user("inv"), await _user("other")
        staff = await api_sign_in(instructor.email, PASSWORD)
        course = await _course(staff)
        await staff.post(
            f"/api/courses/{course['id']}/invitations",
            json={"email": invitee.email.upper(), "role": "student"},
        )
        client, stranger = (
            await api_sign_in(invitee.email, PASSWORD),
            await api_sign_in(other.email, PASSWORD),
        )
        invitation_id = (await client.get("/api/invitations")).json()["invitations"][0]["id"]

        assert (await stranger.post(f"/api/invitations/{invitation_id}/accept")).status_code == 404
        assert (await staff.post(f"/api/invitations/{invitation_id}/accept")).status_code == 404
        assert (await client.post(f"/api/invitations/{invitation_id}/decline")).status_code == 204
        assert (await client.post(f"/api/invitations/{invitation_id}/accept")).status_code == 404
        assert (await client.get("/api/courses")).json()["courses"] == []
        assert (await stranger.get("/api/courses")).json()["courses"] == []

    async def test_an_invitation_to_an_unknown_address_waits_for_its_account(
        self, api_sign_in: ApiSignIn
    ) -> None:
        """Created later with that address, the user finds the invitation and may accept it."""
        instructor = await _user("inst")
        staff = await api_sign_in(instructor.email, PASSWORD)
        course = await _course(staff)
        later = f"later-{uuid.uuid4().hex[:8]}@example.org"
        await staff.post(
            f"/api/courses/{course['id']}/invitations", json={"email": later, "role": "student"}
        )
        await set_password(later, PASSWORD)
        client = await api_sign_in(later, PASSWORD)
        pending = (await client.get("/api/invitations")).json()["invitations"]
        assert [i["course_id"] for i in pending] == [course["id"]]
