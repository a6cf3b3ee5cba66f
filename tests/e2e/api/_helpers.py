"""Small helpers for API tests: creating things through the API, polling with deadlines."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Final

from tests.e2e._processes import REPO_ROOT

if TYPE_CHECKING:
    import httpx

__all__ = [
    "GENERATED",
    "create_workspace",
    "enrol",
    "upload",
    "upload_fixture",
    "wait_for_export",
]

GENERATED: Final = REPO_ROOT / "fixtures" / "generated"


async def create_workspace(client: httpx.AsyncClient, title: str) -> dict[str, Any]:
    """Create a workspace through the API; return its JSON."""
    response = await client.post("/api/workspaces", json={"title": title})
    assert response.status_code == 201, response.text
    workspace: dict[str, Any] = response.json()["workspace"]
    return workspace


async def enrol(
    instructor: httpx.AsyncClient,
    course_id: int,
    invitee: httpx.AsyncClient,
    email: str,
    role: str,
) -> dict[str, Any]:
    """Enrol through the API's consent flow: the instructor invites, the invitee accepts.

    Returns:
        The enrolment the invitee's acceptance created.
    """
    invited = await instructor.post(
        f"/api/courses/{course_id}/invitations", json={"email": email, "role": role}
    )
    assert invited.status_code == 202, invited.text
    pending = await invitee.get("/api/invitations")
    assert pending.status_code == 200, pending.text
    matching = [i for i in pending.json()["invitations"] if i["course_id"] == course_id]
    assert len(matching) == 1, pending.text
    accepted = await invitee.post(f"/api/invitations/{matching[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    enrollment: dict[str, Any] = accepted.json()["enrollment"]
    return enrollment


async def upload(
    client: httpx.AsyncClient,
    workspace_id: int,
    filename: str,
    content: bytes,
    *,
    kind: str | None = None,
    title: str | None = None,
) -> httpx.Response:
    """POST a file to the workspace's upload route; return the raw response."""
    data = {key: value for key, value in (("kind", kind), ("title", title)) if value}
    return await client.post(
        f"/api/workspaces/{workspace_id}/documents",
        files={"file": (filename, content)},
        data=data,
    )


async def upload_fixture(
    client: httpx.AsyncClient, workspace_id: int, relative: str, *, title: str | None = None
) -> dict[str, Any]:
    """Upload a file of ``fixtures/generated`` and return the (first) stored document."""
    path = GENERATED / relative
    response = await upload(client, workspace_id, path.name, path.read_bytes(), title=title)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()["documents"][0]
    return document


async def wait_for_export(
    client: httpx.AsyncClient, export_id: int, *, within: float = 90.0
) -> dict[str, Any]:
    """Poll ``GET /api/exports/{id}`` until the job finished; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"/api/exports/{export_id}")
        assert response.status_code == 200, response.text
        export: dict[str, Any] = response.json()["export"]
        if export["status"] in {"done", "failed", "cancelled"}:
            return export
        assert time.monotonic() < deadline, f"export still {export['status']} after {within} s"
        await asyncio.sleep(0.2)
