"""Workspaces: creation rules, who sees which, and deletion with everything inside."""

from __future__ import annotations

import pytest

from glossator import services
from glossator.db.models import EnrollmentRole
from glossator.errors import CourseArchived, NotFound, PermissionDenied, ValidationError


class TestCreateWorkspace:
    async def test_personal_workspace(self, student: services.UserRecord) -> None:
        """A workspace without a course belongs to its owner only."""
        workspace = await services.create_workspace(student.id, "  Notes ")
        assert (workspace.title, workspace.owner_id, workspace.course_id) == (
            "Notes",
            student.id,
            None,
        )
        assert await services.get_workspace(workspace.id) == workspace

    async def test_course_workspace_for_enrolled_owner(
        self, student: services.UserRecord, course: services.CourseRecord
    ) -> None:
        """An enrolled user can create a workspace in the course."""
        workspace = await services.create_workspace(student.id, "Essay", course_id=course.id)
        assert workspace.course_id == course.id

    async def test_owner_must_be_enrolled_in_the_course(
        self, course: services.CourseRecord
    ) -> None:
        """A user not enrolled in the course gets PermissionDenied."""
        outsider = await services.find_or_create_user("outsider@example.org")
        with pytest.raises(PermissionDenied, match="not enrolled"):
            await services.create_workspace(outsider.id, "Sneaky", course_id=course.id)

    async def test_archived_course_gets_no_new_workspace(
        self, student: services.UserRecord, course: services.CourseRecord
    ) -> None:
        """Creating a workspace in an archived course raises CourseArchived."""
        await services.archive_course(course.id)
        with pytest.raises(CourseArchived):
            await services.create_workspace(student.id, "Too late", course_id=course.id)

    async def test_unknown_owner_or_course_is_not_found(self, student: services.UserRecord) -> None:
        """The owner and the course must exist."""
        with pytest.raises(NotFound, match="user"):
            await services.create_workspace(987_654_321, "Ghost")
        with pytest.raises(NotFound, match="course"):
            await services.create_workspace(student.id, "Lost", course_id=987_654_321)

    async def test_blank_title_is_rejected(self, student: services.UserRecord) -> None:
        """A workspace needs a title."""
        with pytest.raises(ValidationError, match="workspace title"):
            await services.create_workspace(student.id, "")

    async def test_unknown_workspace_is_not_found(self) -> None:
        """get_workspace of an unknown id raises NotFound."""
        with pytest.raises(NotFound, match="workspace"):
            await services.get_workspace(987_654_321)


class TestListWorkspacesForUser:
    async def test_owner_sees_own_workspaces_in_creation_order(
        self, student: services.UserRecord
    ) -> None:
        """A user's own workspaces are listed oldest first."""
        first = await services.create_workspace(student.id, "First")
        second = await services.create_workspace(student.id, "Second")
        assert await services.list_workspaces_for_user(student.id) == [first, second]

    async def test_tutor_sees_course_workspaces(
        self, tutor: services.UserRecord, workspace: services.WorkspaceRecord
    ) -> None:
        """A tutor of the course sees the students' workspaces in it."""
        assert workspace in await services.list_workspaces_for_user(tutor.id)
        assert await services.user_can_access_workspace(tutor.id, workspace.id)

    async def test_fellow_student_does_not_see_others_workspaces(
        self, course: services.CourseRecord, workspace: services.WorkspaceRecord
    ) -> None:
        """Another student of the same course sees only their own workspaces."""
        classmate = await services.find_or_create_user("classmate@example.org")
        await services.enroll(course.id, classmate.id, EnrollmentRole.STUDENT)
        own = await services.create_workspace(classmate.id, "Mine", course_id=course.id)
        assert await services.list_workspaces_for_user(classmate.id) == [own]
        assert not await services.user_can_access_workspace(classmate.id, workspace.id)

    async def test_personal_workspaces_stay_private_from_tutors(
        self, student: services.UserRecord, tutor: services.UserRecord
    ) -> None:
        """Workspaces outside any course are not shown to the student's tutors."""
        private = await services.create_workspace(student.id, "Diary")
        assert private not in await services.list_workspaces_for_user(tutor.id)

    async def test_unknown_user_is_not_found(self) -> None:
        """Listing for an unknown user raises NotFound."""
        with pytest.raises(NotFound):
            await services.list_workspaces_for_user(987_654_321)


class TestDeleteWorkspace:
    async def test_deletes_workspace_with_documents_and_highlights(
        self,
        workspace: services.WorkspaceRecord,
        document: services.DocumentRecord,
        student: services.UserRecord,
    ) -> None:
        """Deleting a workspace removes its documents and their highlights too."""
        highlight = await services.add_highlight(document.id, student.id, 0, 3, "subject")
        await services.delete_workspace(workspace.id)
        with pytest.raises(NotFound):
            await services.get_workspace(workspace.id)
        with pytest.raises(NotFound):
            await services.get_document(document.id)
        with pytest.raises(NotFound):
            await services.delete_highlight(highlight.id)

    async def test_unknown_workspace_is_not_found(self) -> None:
        """Deleting an unknown workspace raises NotFound."""
        with pytest.raises(NotFound):
            await services.delete_workspace(987_654_321)

    async def test_access_check_of_unknown_workspace_is_not_found(
        self, student: services.UserRecord
    ) -> None:
        """user_can_access_workspace distinguishes 'no such workspace' from 'no access'."""
        with pytest.raises(NotFound):
            await services.user_can_access_workspace(student.id, 987_654_321)
