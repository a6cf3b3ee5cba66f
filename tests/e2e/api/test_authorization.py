"""Every route, tried by users without rights: 403/404 (or only their own data), never a leak.

``PROBES`` is the table route -> unauthorised attempts. :class:`TestRouteTable` lists the
app's routes from its Starlette router and fails when a route has no attempt by a user
without rights (or is not declared public with a reason), so a new route cannot ship
without its authorisation test.

The world: ``owner`` has a workspace in a course they teach, with a document, a
highlight and an export; ``student`` is enrolled in that course as a student, ``tutor``
as a tutor; ``intruder`` has nothing to do with any of it. Secret words in the owner's
data must never appear in an answer to the others.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest
import pytest_asyncio
from starlette.routing import Mount, Route

from glossator.settings import Settings
from glossator.web import create_app
from tests.e2e.api._helpers import enrol, upload

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.e2e._processes import AppServer
    from tests.e2e.conftest import E2EUser

    MakeUser = Callable[[str], Awaitable[E2EUser]]
    SignIn = Callable[[E2EUser], Awaitable[httpx.AsyncClient]]

pytestmark = pytest.mark.pgsandbox(isolation="shared")

#: Routes anyone may call, with the reason.
PUBLIC: Final = {
    ("GET", "/healthz"): "readiness probe; says nothing but ok/unavailable",
    ("POST", "/api/session"): "signing in is how one gets rights",
    ("GET", "/login"): "the sign-in page",
    ("POST", "/login"): "the sign-in form (CSRF-checked)",
    ("GET", "/static"): "the app's own CSS and JavaScript",
}

HIDDEN: Final = frozenset({404})  # the resource is reported as missing
DENIED: Final = frozenset({403})  # visible, but the role is not enough
OWN_ONLY: Final = frozenset({200, 201, 204, 303})  # allowed, about the caller's own data


@dataclasses.dataclass(frozen=True)
class Probe:
    """One attempt: ``actor`` calls ``method path`` (ids from the world) and gets ``expect``."""

    method: str
    path: str
    actor: str
    expect: frozenset[int]
    json: dict[str, Any] | None = None
    form: bool = False  # a page form: send the CSRF token as a form field
    upload: bool = False  # multipart with a small HTML file

    def url(self, world: dict[str, int]) -> str:
        """The path with the world's ids filled in."""
        return re.sub(r":\w+}", "}", self.path).format(**world)


def _probes() -> list[Probe]:
    body = {"start": 0, "end": 4, "tag": "claim"}
    role = {"role": "instructor"}
    table: list[tuple[str, str, str, frozenset[int], dict[str, Any]]] = [
        # Signing out ends a session: these two use sessions of their own.
        ("DELETE", "/api/session", "intruder-leaving", OWN_ONLY, {}),
        ("GET", "/api/me", "intruder", OWN_ONLY, {}),
        ("GET", "/api/workspaces", "intruder", OWN_ONLY, {}),
        ("GET", "/api/workspaces", "student", OWN_ONLY, {}),
        ("POST", "/api/workspaces", "intruder", OWN_ONLY, {"json": {"title": "mine"}}),
        ("GET", "/api/workspaces/{workspace_id:id}", "intruder", HIDDEN, {}),
        ("GET", "/api/workspaces/{workspace_id:id}", "student", HIDDEN, {}),
        ("DELETE", "/api/workspaces/{workspace_id:id}", "intruder", HIDDEN, {}),
        ("DELETE", "/api/workspaces/{workspace_id:id}", "tutor", DENIED, {}),
        ("GET", "/api/workspaces/{workspace_id:id}/documents", "intruder", HIDDEN, {}),
        ("POST", "/api/workspaces/{workspace_id:id}/documents", "intruder", HIDDEN,
         {"upload": True}),
        ("POST", "/api/workspaces/{workspace_id:id}/documents", "tutor", DENIED,
         {"upload": True}),
        ("GET", "/api/documents/{document_id:id}", "intruder", HIDDEN, {}),
        ("GET", "/api/documents/{document_id:id}", "student", HIDDEN, {}),
        ("DELETE", "/api/documents/{document_id:id}", "intruder", HIDDEN, {}),
        ("DELETE", "/api/documents/{document_id:id}", "tutor", DENIED, {}),
        ("GET", "/api/documents/{document_id:id}/highlights", "intruder", HIDDEN, {}),
        ("POST", "/api/documents/{document_id:id}/highlights", "intruder", HIDDEN,
         {"json": body}),
        ("POST", "/api/documents/{document_id:id}/highlights", "student", HIDDEN,
         {"json": body}),
        ("DELETE", "/api/highlights/{highlight_id:id}", "intruder", HIDDEN, {}),
        ("DELETE", "/api/highlights/{highlight_id:id}", "tutor", DENIED, {}),
        ("POST", "/api/documents/{document_id:id}/exports", "intruder", HIDDEN, {}),
        ("GET", "/api/exports/{export_id:id}", "intruder", HIDDEN, {}),
        ("GET", "/api/exports/{export_id:id}/pdf", "intruder", HIDDEN, {}),
        ("POST", "/api/exports/{export_id:id}/cancel", "intruder", HIDDEN, {}),
        ("GET", "/api/courses", "intruder", OWN_ONLY, {}),
        ("POST", "/api/courses", "intruder", OWN_ONLY,
         {"json": {"code": "{unique}", "title": "Own course"}}),
        ("GET", "/api/courses/{course_id:id}", "intruder", HIDDEN, {}),
        ("GET", "/api/courses/{course_id:id}/enrollments", "intruder", HIDDEN, {}),
        ("GET", "/api/courses/{course_id:id}/enrollments", "student", DENIED, {}),
        ("GET", "/api/courses/{course_id:id}/invitations", "intruder", HIDDEN, {}),
        ("GET", "/api/courses/{course_id:id}/invitations", "student", DENIED, {}),
        ("POST", "/api/courses/{course_id:id}/invitations", "intruder", HIDDEN,
         {"json": {"email": "x@e2e.example.org", "role": "student"}}),
        ("POST", "/api/courses/{course_id:id}/invitations", "tutor", DENIED,
         {"json": {"email": "x@e2e.example.org", "role": "student"}}),
        ("GET", "/api/invitations", "intruder", OWN_ONLY, {}),
        # The invitation is addressed to the student: anybody else finds nothing there.
        ("POST", "/api/invitations/{invitation_id:id}/accept", "intruder", HIDDEN, {}),
        ("POST", "/api/invitations/{invitation_id:id}/accept", "tutor", HIDDEN, {}),
        ("POST", "/api/invitations/{invitation_id:id}/decline", "intruder", HIDDEN, {}),
        ("POST", "/api/invitations/{invitation_id:id}/decline", "owner", HIDDEN, {}),
        ("PUT", "/api/courses/{course_id:id}/enrollments/{user_id:id}", "intruder", HIDDEN,
         {"json": role}),
        ("PUT", "/api/courses/{course_id:id}/enrollments/{user_id:id}", "student", DENIED,
         {"json": role}),
        ("GET", "/", "intruder", OWN_ONLY, {}),
        ("POST", "/logout", "intruder-leaving-page", OWN_ONLY, {"form": True}),
        ("GET", "/workspaces", "intruder", OWN_ONLY, {}),
        ("POST", "/workspaces", "intruder", OWN_ONLY, {"form": True}),
        ("GET", "/workspaces/{workspace_id:id}", "intruder", HIDDEN, {}),
        ("POST", "/workspaces/{workspace_id:id}/documents", "intruder", HIDDEN,
         {"form": True, "upload": True}),
        ("POST", "/workspaces/{workspace_id:id}/documents", "tutor", DENIED,
         {"form": True, "upload": True}),
        ("GET", "/documents/{document_id:id}", "intruder", HIDDEN, {}),
        ("GET", "/documents/{document_id:id}", "student", HIDDEN, {}),
    ]  # fmt: skip
    return [
        Probe(method, path, actor, expect, **extra) for method, path, actor, expect, extra in table
    ]


PROBES: Final = _probes()


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the app, as its Starlette router has them."""
    app = create_app(Settings(secret_key="x" * 40))
    routes: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route):
            routes.update(
                (method, route.path) for method in route.methods or () if method != "HEAD"
            )
        elif isinstance(route, Mount):
            routes.add(("GET", route.path))
    return routes


async def _send(client: httpx.AsyncClient, probe: Probe, world: dict[str, int]) -> httpx.Response:
    url = probe.url(world)
    data: dict[str, str] | None = None
    files = None
    if probe.form:
        data = {"csrf_token": client.headers["X-CSRF-Token"], "title": "mine"}
    if probe.upload:
        files = {"file": ("probe.html", b"<p>probe</p>")}
    # Unique values where the probe creates something with a unique key (a course code).
    json = (
        {
            key: uuid.uuid4().hex if value == "{unique}" else value
            for key, value in probe.json.items()
        }
        if probe.json is not None
        else None
    )
    return await client.request(
        probe.method, url, json=json, data=data, files=files, follow_redirects=False
    )


@pytest_asyncio.fixture
async def world(
    make_user: MakeUser, sign_in: SignIn
) -> tuple[dict[str, int], dict[str, httpx.AsyncClient], list[str]]:
    """The owner's data (ids), signed-in clients per actor, and the secrets to look for."""
    secret = uuid.uuid4().hex
    owner, student, tutor, intruder = [
        await make_user(role) for role in ("owner", "student", "tutor", "intruder")
    ]
    clients = {
        "owner": await sign_in(owner),
        "student": await sign_in(student),
        "tutor": await sign_in(tutor),
        "intruder": await sign_in(intruder),
        "intruder-leaving": await sign_in(intruder),
        "intruder-leaving-page": await sign_in(intruder),
    }
    owner_client = clients["owner"]
    course = (
        await owner_client.post(
            "/api/courses", json={"code": f"SEC-{secret[:12]}", "title": f"Course {secret}"}
        )
    ).json()["course"]
    await enrol(owner_client, course["id"], clients["student"], student.email, "student")
    await enrol(owner_client, course["id"], clients["tutor"], tutor.email, "tutor")
    # A pending invitation of the student's into another course of the owner's.
    other = (
        await owner_client.post(
            "/api/courses", json={"code": f"INV-{secret[:12]}", "title": f"Invite {secret}"}
        )
    ).json()["course"]
    invited = await owner_client.post(
        f"/api/courses/{other['id']}/invitations", json={"email": student.email, "role": "tutor"}
    )
    assert invited.status_code == 202, invited.text
    pending = (await clients["student"].get("/api/invitations")).json()["invitations"]
    workspace = (
        await owner_client.post(
            "/api/workspaces", json={"title": f"Workspace {secret}", "course_id": course["id"]}
        )
    ).json()["workspace"]
    uploaded = await upload(
        owner_client, workspace["id"], "secret.html", f"<p>Text {secret} here.</p>".encode()
    )
    document = uploaded.json()["documents"][0]
    highlight = (
        await owner_client.post(
            f"/api/documents/{document['id']}/highlights",
            json={"start": 0, "end": 4, "tag": "claim", "comment": f"Comment {secret}"},
        )
    ).json()["highlight"]
    export = (await owner_client.post(f"/api/documents/{document['id']}/exports")).json()["export"]
    ids = {
        "workspace_id": workspace["id"],
        "document_id": document["id"],
        "highlight_id": highlight["id"],
        "export_id": export["id"],
        "course_id": course["id"],
        "user_id": student.id,
        "invitation_id": pending[0]["id"],
    }
    return ids, clients, [secret, owner.email]


class TestRouteTable:
    """The probe table covers every route the app serves."""

    def test_every_route_has_an_unauthorised_attempt_or_is_public(self) -> None:
        """A route without a probe by a user without rights (and not public) fails here."""
        probed = {(probe.method, probe.path) for probe in PROBES}
        routes = app_routes()
        assert routes - probed - set(PUBLIC) == set(), "routes without an authorisation probe"
        assert probed - routes == set(), "probes of routes the app does not have"
        assert set(PUBLIC) <= routes, "public routes the app does not have"

    def test_every_changing_route_is_probed_by_someone_without_rights(self) -> None:
        """Each non-public route has at least one probe expecting 403/404 or own data only."""
        by_route: dict[tuple[str, str], set[str]] = {}
        for probe in PROBES:
            by_route.setdefault((probe.method, probe.path), set()).add(probe.actor)
        assert all(actors - {"owner"} for actors in by_route.values())


class TestUnauthorisedAccess:
    """Users without rights get 403/404, or their own data, and never the owner's."""

    async def test_every_probe_is_refused_without_leaking(
        self, app_server: AppServer, world: tuple[dict[str, int], dict[str, Any], list[str]]
    ) -> None:
        """Run the whole table against one world; report every probe that misbehaved."""
        ids, clients, secrets = world
        failures = []
        for probe in PROBES:
            response = await _send(clients[probe.actor], probe, ids)
            leaked = [secret for secret in secrets if secret in response.text]
            if response.status_code not in probe.expect or leaked:
                failures.append(
                    f"{probe.actor} {probe.method} {probe.path}: {response.status_code} "
                    f"(expected {sorted(probe.expect)}), leaked {leaked}: {response.text[:200]}"
                )
        assert failures == []

    async def test_the_owner_still_sees_everything(
        self, app_server: AppServer, world: tuple[dict[str, int], dict[str, Any], list[str]]
    ) -> None:
        """The probes changed nothing: the owner's workspace, document and highlight remain."""
        ids, clients, secrets = world
        for probe in PROBES:
            await _send(clients[probe.actor], probe, ids)
        owner = clients["owner"]
        document = await owner.get(f"/api/documents/{ids['document_id']}")
        assert document.status_code == 200
        assert secrets[0] in document.json()["document"]["plain_text"]
        assert [h["id"] for h in document.json()["highlights"]] == [ids["highlight_id"]]
        members = await owner.get(f"/api/courses/{ids['course_id']}/enrollments")
        assert {e["role"] for e in members.json()["enrollments"]} == {
            "instructor",
            "student",
            "tutor",
        }

    async def test_anonymous_requests_are_refused(
        self, app_server: AppServer, world: tuple[dict[str, int], dict[str, Any], list[str]]
    ) -> None:
        """Without a session: API 401, pages redirect to sign-in; the logout form 403."""
        ids, _, secrets = world
        failures = []
        async with httpx.AsyncClient(base_url=app_server.base_url) as anonymous:
            for method, path in sorted(app_routes() - set(PUBLIC)):
                probe = Probe(method, path, "anonymous", frozenset())
                response = await anonymous.request(method, probe.url(ids), follow_redirects=False)
                if path.startswith("/api/"):
                    expected = 401
                elif path == "/logout":
                    expected = 403
                else:
                    expected = 303
                location = response.headers.get("location", "")
                redirect_ok = expected != 303 or location.startswith("/login")
                leaked = [secret for secret in secrets if secret in response.text]
                if response.status_code != expected or not redirect_ok or leaked:
                    failures.append(f"{method} {path}: {response.status_code} {location}")
        assert failures == []
