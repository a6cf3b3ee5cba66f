"""Courses and enrollments, including duplicate and archived-course errors."""

from __future__ import annotations

import pytest

from glossator import services
from glossator.db.models import EnrollmentRole
from glossator.errors import (
    AlreadyExists,
    CourseArchived,
    DuplicateEnrollment,
    NotFound,
    ValidationError,
)


class TestCreateCourse:
    async def test_creates_course(self) -> None:
        """A course is created open (not archived) with the given code and title."""
        course = await services.create_course(" LIT-200 ", "Close Reading")
        assert (course.code, course.title, course.archived) == ("LIT-200", "Close Reading", False)
        assert await services.get_course(course.id) == course

    async def test_duplicate_code_is_already_exists_and_work_continues(self) -> None:
        """A second course with the same code raises AlreadyExists; the next call still works."""
        await services.create_course("LIT-200", "Close Reading")
        with pytest.raises(AlreadyExists, match="LIT-200"):
            await services.create_course("LIT-200", "Another Title")
        other = await services.create_course("LIT-201", "Distant Reading")
        assert other.code == "LIT-201"

    async def test_empty_title_is_rejected(self) -> None:
        """A course needs a title."""
        with pytest.raises(ValidationError, match="course title"):
            await services.create_course("LIT-202", " ")

    async def test_unknown_course_is_not_found(self) -> None:
        """get_course of an unknown id raises NotFound."""
        with pytest.raises(NotFound, match="course"):
            await services.get_course(987_654_321)


class TestEnroll:
    async def test_enrolls_user_with_role(self, student: services.UserRecord) -> None:
        """enroll returns the enrollment with the user's address and name."""
        course = await services.create_course("PHIL-1", "Logic")
        enrollment = await services.enroll(course.id, student.id, EnrollmentRole.INSTRUCTOR)
        assert (enrollment.course_id, enrollment.user_id) == (course.id, student.id)
        assert enrollment.role is EnrollmentRole.INSTRUCTOR
        assert enrollment.email == student.email

    async def test_second_enrollment_is_duplicate_and_keeps_the_first(
        self, course: services.CourseRecord, student: services.UserRecord
    ) -> None:
        """Enrolling twice raises DuplicateEnrollment; the original role is unchanged."""
        with pytest.raises(DuplicateEnrollment):
            await services.enroll(course.id, student.id, EnrollmentRole.TUTOR)
        roles = {e.user_id: e.role for e in await services.list_enrollments(course.id)}
        assert roles[student.id] is EnrollmentRole.STUDENT

    async def test_unknown_user_or_course_is_not_found(
        self, course: services.CourseRecord, student: services.UserRecord
    ) -> None:
        """Both ends of an enrollment must exist."""
        with pytest.raises(NotFound, match="user"):
            await services.enroll(course.id, 987_654_321, EnrollmentRole.STUDENT)
        with pytest.raises(NotFound, match="course"):
            await services.enroll(987_654_321, student.id, EnrollmentRole.STUDENT)

    async def test_role_may_be_given_as_text_and_must_be_known(
        self, student: services.UserRecord
    ) -> None:
        """'tutor' is accepted for EnrollmentRole.TUTOR; an unknown role is a ValidationError."""
        course = await services.create_course("PHIL-2", "Ethics")
        with pytest.raises(ValidationError, match="student, tutor, instructor"):
            await services.enroll(course.id, student.id, "dean")
        enrollment = await services.enroll(course.id, student.id, "tutor")
        assert enrollment.role is EnrollmentRole.TUTOR

    async def test_archived_course_accepts_no_enrollment(
        self, course: services.CourseRecord
    ) -> None:
        """Enrolling into an archived course raises CourseArchived."""
        newcomer = await services.find_or_create_user("late@example.org")
        await services.archive_course(course.id)
        with pytest.raises(CourseArchived):
            await services.enroll(course.id, newcomer.id, EnrollmentRole.STUDENT)


class TestChangeRole:
    async def test_changes_the_role(
        self, course: services.CourseRecord, student: services.UserRecord
    ) -> None:
        """change_role updates the stored role."""
        changed = await services.change_role(course.id, student.id, EnrollmentRole.TUTOR)
        assert changed.role is EnrollmentRole.TUTOR
        roles = {e.user_id: e.role for e in await services.list_enrollments(course.id)}
        assert roles[student.id] is EnrollmentRole.TUTOR

    async def test_user_not_enrolled_is_not_found(self, course: services.CourseRecord) -> None:
        """Changing the role of someone not enrolled raises NotFound for the enrollment."""
        outsider = await services.find_or_create_user("outsider@example.org")
        with pytest.raises(NotFound, match="enrollment"):
            await services.change_role(course.id, outsider.id, EnrollmentRole.TUTOR)

    async def test_archived_course_roles_are_frozen(
        self, course: services.CourseRecord, student: services.UserRecord
    ) -> None:
        """Roles in an archived course cannot change."""
        await services.archive_course(course.id)
        with pytest.raises(CourseArchived):
            await services.change_role(course.id, student.id, EnrollmentRole.TUTOR)


class TestArchiveCourse:
    async def test_archiving_sets_archived_at(self, course: services.CourseRecord) -> None:
        """An archived course reports when it was archived."""
        archived = await services.archive_course(course.id)
        assert archived.archived
        assert archived.archived_at is not None
        assert (await services.get_course(course.id)).archived_at == archived.archived_at

    async def test_archiving_twice_is_an_error(self, course: services.CourseRecord) -> None:
        """A course can be archived once."""
        await services.archive_course(course.id)
        with pytest.raises(CourseArchived, match="already"):
            await services.archive_course(course.id)

    async def test_unknown_course_is_not_found(self) -> None:
        """Archiving a course that does not exist raises NotFound."""
        with pytest.raises(NotFound):
            await services.archive_course(987_654_321)


class TestListEnrollments:
    async def test_lists_by_email(
        self,
        course: services.CourseRecord,
        student: services.UserRecord,
        tutor: services.UserRecord,
    ) -> None:
        """Enrollments come ordered by e-mail address, with roles."""
        enrollments = await services.list_enrollments(course.id)
        assert [(e.email, e.role) for e in enrollments] == [
            (student.email, EnrollmentRole.STUDENT),
            (tutor.email, EnrollmentRole.TUTOR),
        ]

    async def test_new_course_has_none(self) -> None:
        """A fresh course has no enrollments."""
        course = await services.create_course("EMPTY-1", "Nobody Here")
        assert await services.list_enrollments(course.id) == []

    async def test_unknown_course_is_not_found(self) -> None:
        """Listing enrollments of an unknown course raises NotFound."""
        with pytest.raises(NotFound):
            await services.list_enrollments(987_654_321)
