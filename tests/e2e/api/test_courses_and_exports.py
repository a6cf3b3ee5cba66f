"""Courses and roles (who sees whose workspace), and PDF exports through the worker."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.api._helpers import create_workspace, enrol, upload_fixture, wait_for_export

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from tests.e2e._processes import ManagedProcess
    from tests.e2e.conftest import E2EUser

    MakeUser = Callable[[str], Awaitable[E2EUser]]
    SignIn = Callable[[E2EUser], Awaitable[httpx.AsyncClient]]

pytestmark = pytest.mark.pgsandbox(isolation="shared")


async def _course(client: httpx.AsyncClient, title: str) -> dict[str, Any]:
    code = f"{title[:20]}-{uuid.uuid4().hex[:12]}"
    response = await client.post("/api/courses", json={"code": code, "title": title})
    assert response.status_code == 201, response.text
    course: dict[str, Any] = response.json()["course"]
    return course


class TestCourses:
    """Instructors invite users; tutors and instructors see their students' workspaces."""

    async def test_the_creator_becomes_instructor_and_enrols_others(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """``POST /api/courses``, an accepted invitation; staff list enrolments, change roles."""
        instructor, student = await make_user("instructor"), await make_user("student")
        client = await sign_in(instructor)
        course = await _course(client, "History")
        enrolled = await enrol(
            client, course["id"], await sign_in(student), student.email, "student"
        )
        promoted = await client.put(
            f"/api/courses/{course['id']}/enrollments/{student.id}", json={"role": "tutor"}
        )
        listed = await client.get(f"/api/courses/{course['id']}/enrollments")
        assert course["role"] == "instructor"
        assert (enrolled["user_id"], enrolled["role"]) == (student.id, "student")
        assert promoted.json()["enrollment"]["role"] == "tutor"
        assert sorted((e["email"], e["role"]) for e in listed.json()["enrollments"]) == sorted(
            [(instructor.email, "instructor"), (student.email, "tutor")]
        )

    async def test_tutors_see_and_annotate_student_workspaces_but_do_not_manage_them(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """A tutor reads and highlights a student's course workspace; deleting it is 403."""
        instructor, student, tutor = (
            await make_user("instructor"),
            await make_user("student"),
            await make_user("tutor"),
        )
        staff = await sign_in(instructor)
        course = await _course(staff, "Sources")
        student_client, tutor_client = await sign_in(student), await sign_in(tutor)
        await enrol(staff, course["id"], student_client, student.email, "student")
        await enrol(staff, course["id"], tutor_client, tutor.email, "tutor")
        created = await student_client.post(
            "/api/workspaces", json={"title": "Essay", "course_id": course["id"]}
        )
        workspace = created.json()["workspace"]
        document = await upload_fixture(student_client, workspace["id"], "rtf/headings.html")

        seen = await tutor_client.get("/api/workspaces")
        highlight = await tutor_client.post(
            f"/api/documents/{document['id']}/highlights",
            json={"start": 0, "end": 7, "tag": "question", "comment": "Source?"},
        )
        delete = await tutor_client.delete(f"/api/workspaces/{workspace['id']}")
        student_enrolments = await student_client.get(f"/api/courses/{course['id']}/enrollments")

        assert [w["id"] for w in seen.json()["workspaces"]] == [workspace["id"]]
        assert highlight.status_code == 201
        assert delete.status_code == 403
        assert student_enrolments.status_code == 403

    async def test_workspaces_only_in_courses_one_is_enrolled_in(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """Creating a workspace in someone else's course is 404: the course is not visible."""
        instructor, outsider = await make_user("instructor"), await make_user("outsider")
        course = await _course(await sign_in(instructor), "Closed")
        response = await (await sign_in(outsider)).post(
            "/api/workspaces", json={"title": "Sneaky", "course_id": course["id"]}
        )
        assert response.status_code == 404


class TestExports:
    """An export is queued, compiled by the worker, polled and downloaded."""

    async def test_export_is_compiled_by_the_worker_and_downloaded(
        self, make_user: MakeUser, sign_in: SignIn, export_worker: ManagedProcess
    ) -> None:
        """``POST .../exports`` (202), poll until done, ``GET .../pdf`` gives the PDF."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Export me")
        document = await upload_fixture(client, workspace["id"], "rtf/headings.html")
        await client.post(
            f"/api/documents/{document['id']}/highlights",
            json={"start": 0, "end": 7, "tag": "claim", "comment": "A comment for the PDF"},
        )
        requested = await client.post(f"/api/documents/{document['id']}/exports")
        assert requested.status_code == 202, requested.text
        assert requested.json()["export"]["status"] in {"queued", "running", "done"}

        export = await wait_for_export(client, requested.json()["export"]["id"])
        pdf = await client.get(f"/api/exports/{export['id']}/pdf")

        assert export["status"] == "done", export["error"]
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert 'filename="Reading-Primary-Sources.pdf"' in pdf.headers["content-disposition"]
        assert pdf.content.startswith(b"%PDF-")
        assert len(pdf.content) == export["result_size"]
