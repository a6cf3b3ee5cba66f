"""Workspaces: who may create them, who sees which, deletion; concurrent creation."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.realistic_suite._counts import cases
from glossator import services
from glossator.db.models import EnrollmentRole
from glossator.errors import NotFound, PermissionDenied

DATABASE = pytest.mark.pgsandbox(isolation="database")


@pytest.mark.parametrize("n", cases(__file__, "workspaces_personal"))
async def test_personal_workspaces_in_creation_order(n: int, student: services.UserRecord) -> None:
    """A user's own workspaces are listed oldest first and read back equal."""
    created = [
        await services.create_workspace(student.id, f"  Notes {k} ") for k in range(n % 3 + 1)
    ]
    assert [w.title for w in created] == [f"Notes {k}" for k in range(n % 3 + 1)]
    assert await services.list_workspaces_for_user(student.id) == created
    assert await services.get_workspace(created[0].id) == created[0]


@pytest.mark.parametrize("n", cases(__file__, "workspaces_tutor_sees"))
async def test_tutor_sees_course_workspaces_not_personal_ones(
    n: int,
    student: services.UserRecord,
    tutor: services.UserRecord,
    workspace: services.WorkspaceRecord,
) -> None:
    """A tutor sees the student's course workspace, not the student's private one."""
    private = await services.create_workspace(student.id, f"Diary {n}")
    visible = await services.list_workspaces_for_user(tutor.id)
    assert workspace in visible
    assert private not in visible
    assert await services.user_can_access_workspace(tutor.id, workspace.id)
    assert not await services.user_can_access_workspace(tutor.id, private.id)


@pytest.mark.parametrize("n", cases(__file__, "workspaces_classmate"))
async def test_classmate_sees_only_own_workspaces(
    n: int, uid: str, course: services.CourseRecord, workspace: services.WorkspaceRecord
) -> None:
    """Another student of the course sees only their own workspace."""
    classmate = await services.find_or_create_user(f"classmate-{uid}-{n}@example.org")
    await services.enroll(course.id, classmate.id, EnrollmentRole.STUDENT)
    own = await services.create_workspace(classmate.id, "Mine", course_id=course.id)
    assert await services.list_workspaces_for_user(classmate.id) == [own]
    assert not await services.user_can_access_workspace(classmate.id, workspace.id)


@pytest.mark.parametrize("n", cases(__file__, "workspaces_outsider"))
async def test_outsider_may_not_create_in_course(
    n: int, uid: str, course: services.CourseRecord
) -> None:
    """A user not enrolled in the course gets PermissionDenied and no workspace."""
    outsider = await services.find_or_create_user(f"outsider-{uid}-{n}@example.org")
    with pytest.raises(PermissionDenied, match="not enrolled"):
        await services.create_workspace(outsider.id, "Sneaky", course_id=course.id)
    assert await services.list_workspaces_for_user(outsider.id) == []


@pytest.mark.parametrize("n", cases(__file__, "workspaces_delete"))
async def test_deleting_a_workspace_removes_everything_inside(
    n: int,
    workspace: services.WorkspaceRecord,
    document: services.DocumentRecord,
    student: services.UserRecord,
) -> None:
    """Its documents and their highlights go with it."""
    highlight = await services.add_highlight(document.id, student.id, 0, 3 + n % 5, "subject")
    await services.delete_workspace(workspace.id)
    with pytest.raises(NotFound):
        await services.get_workspace(workspace.id)
    with pytest.raises(NotFound):
        await services.get_document(document.id)
    with pytest.raises(NotFound):
        await services.delete_highlight(highlight.id)


@DATABASE
@pytest.mark.parametrize("n", cases(__file__, "workspaces_concurrent"))
async def test_concurrently_created_workspaces_are_all_listed(
    n: int, student: services.UserRecord, course: services.CourseRecord
) -> None:
    """Four workspaces created at once by one student are all there, oldest first."""
    created = await asyncio.gather(
        *(
            services.create_workspace(student.id, f"Draft {n}.{k}", course_id=course.id)
            for k in range(4)
        )
    )
    listed = await services.list_workspaces_for_user(student.id)
    assert sorted(w.id for w in listed) == sorted(w.id for w in created)
    assert listed == sorted(listed, key=lambda w: (w.created_at, w.id))
