"""A course's whole life with unique data, in pgsandbox's run-wide ``shared`` database."""

from __future__ import annotations

import pytest

from benchmarks.realistic_suite._counts import cases
from glossator import services
from glossator.db.models import EnrollmentRole, SourceKind

pytestmark = pytest.mark.pgsandbox(isolation="shared")


@pytest.mark.parametrize("n", cases(__file__, "shared_course_life"))
async def test_course_life_with_unique_data(n: int, uid: str) -> None:
    """Course, two users, a workspace, a document and a highlight, all read back."""
    course = await services.create_course(f"SHARED-{uid}", f"Shared {n}")
    owner = await services.find_or_create_user(f"owner-{uid}@example.org")
    reader = await services.find_or_create_user(f"reader-{uid}@example.org")
    await services.enroll(course.id, owner.id, EnrollmentRole.STUDENT)
    await services.enroll(course.id, reader.id, EnrollmentRole.INSTRUCTOR)
    workspace = await services.create_workspace(owner.id, "Shared notes", course_id=course.id)
    text = f"Shared text number {n}."
    document = await services.add_document(workspace.id, "Note", SourceKind.HTML, text, text)
    highlight = await services.add_highlight(document.id, reader.id, 0, 6, "first word")
    assert await services.list_workspaces_for_user(reader.id) == [workspace]
    assert await services.list_highlights(document.id) == [highlight]
    assert [e.user_id for e in await services.list_enrollments(course.id)] == [owner.id, reader.id]
