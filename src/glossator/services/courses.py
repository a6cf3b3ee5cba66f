"""Courses and enrollments."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from glossator import db
from glossator.db.models import Course, Enrollment, EnrollmentRole, User
from glossator.errors import (
    AlreadyExists,
    CourseArchived,
    DuplicateEnrollment,
    NotFound,
    ValidationError,
)
from glossator.services._common import clean_text, constraint_name, get_or_raise

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "CourseRecord",
    "EnrollmentRecord",
    "archive_course",
    "change_role",
    "create_course",
    "enroll",
    "get_course",
    "list_enrollments",
]


@dataclasses.dataclass(frozen=True, slots=True)
class CourseRecord:
    """A course as the services return it."""

    id: int
    code: str
    title: str
    archived_at: dt.datetime | None
    created_at: dt.datetime

    @property
    def archived(self) -> bool:
        """Whether the course is archived (read-only)."""
        return self.archived_at is not None

    @classmethod
    def from_row(cls, row: Course) -> CourseRecord:
        """Copy the fields of a ``Course`` row."""
        return cls(
            id=row.id,
            code=row.code,
            title=row.title,
            archived_at=row.archived_at,
            created_at=row.created_at,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    """A user's role in a course, with the user's address and name for display."""

    course_id: int
    user_id: int
    role: EnrollmentRole
    email: str
    display_name: str
    created_at: dt.datetime


async def create_course(code: str, title: str) -> CourseRecord:
    """Create a course.

    Args:
        code: Unique short code, e.g. ``"HIST-101"``; surrounding spaces are removed.
        title: Human-readable title.

    Raises:
        ValidationError: The code or title is empty or too long.
        AlreadyExists: A course with this code exists.
    """
    course = Course(
        code=clean_text(code, "course code", max_length=64),
        title=clean_text(title, "course title", max_length=200),
    )
    async with db.session() as db_session:
        try:
            async with db_session.begin_nested():
                db_session.add(course)
        except IntegrityError as error:
            if constraint_name(error) == "uq_courses_code":
                raise AlreadyExists(f"a course with code {course.code!r} exists") from None
            raise
        record = CourseRecord.from_row(course)
        await db_session.commit()
    return record


async def get_course(course_id: int) -> CourseRecord:
    """Return the course with this id.

    Raises:
        NotFound: There is no such course.
    """
    async with db.session() as db_session:
        return CourseRecord.from_row(await get_or_raise(db_session, Course, course_id, "course"))


async def _open_course(db_session: AsyncSession, course_id: int) -> Course:
    # FOR SHARE: a concurrent archive_course waits until this transaction ends, so nothing
    # slips into a course between the check and the commit.
    course = await get_or_raise(db_session, Course, course_id, "course", lock={"read": True})
    if course.archived_at is not None:
        raise CourseArchived(f"course {course.code!r} is archived")
    return course


async def enroll(course_id: int, user_id: int, role: EnrollmentRole | str) -> EnrollmentRecord:
    """Enrol a user in a course with a role.

    Raises:
        ValidationError: ``role`` is not student, tutor or instructor.
        NotFound: The course or the user does not exist.
        CourseArchived: The course is archived.
        DuplicateEnrollment: The user is enrolled already (use :func:`change_role`).
    """
    async with db.session() as db_session:
        await _open_course(db_session, course_id)
        user = await get_or_raise(db_session, User, user_id, "user")
        enrollment = Enrollment(course_id=course_id, user_id=user_id, role=_role(role))
        # Insert inside a savepoint: when it violates the unique constraint, only the
        # savepoint is rolled back and the error is reported as what it means.
        try:
            async with db_session.begin_nested():
                db_session.add(enrollment)
        except IntegrityError as error:
            if constraint_name(error) == "uq_enrollments_user_id_course_id":
                raise DuplicateEnrollment(
                    f"user {user_id} is enrolled in course {course_id} already"
                ) from None
            raise
        record = _enrollment_record(enrollment, user)
        await db_session.commit()
    return record


async def change_role(course_id: int, user_id: int, role: EnrollmentRole | str) -> EnrollmentRecord:
    """Change the role of an enrolled user.

    Raises:
        NotFound: The course does not exist, or the user is not enrolled in it.
        CourseArchived: The course is archived.
    """
    async with db.session() as db_session:
        await _open_course(db_session, course_id)
        enrollment = await db_session.scalar(
            select(Enrollment)
            .where(Enrollment.course_id == course_id, Enrollment.user_id == user_id)
            .with_for_update()
        )
        if enrollment is None:
            raise NotFound("enrollment", (course_id, user_id))
        enrollment.role = _role(role)
        user = await get_or_raise(db_session, User, user_id, "user")
        record = _enrollment_record(enrollment, user)
        await db_session.commit()
    return record


async def archive_course(course_id: int) -> CourseRecord:
    """Archive a course: it keeps its data but accepts no new enrollments or workspaces.

    Raises:
        NotFound: There is no such course.
        CourseArchived: It is archived already.
    """
    async with db.session() as db_session:
        course = await get_or_raise(db_session, Course, course_id, "course", lock=True)
        if course.archived_at is not None:
            raise CourseArchived(f"course {course.code!r} is archived already")
        course.archived_at = await db_session.scalar(select(func.now()))
        record = CourseRecord.from_row(course)
        await db_session.commit()
    return record


async def list_enrollments(course_id: int) -> list[EnrollmentRecord]:
    """List a course's enrollments, ordered by e-mail address.

    Raises:
        NotFound: There is no such course.
    """
    async with db.session() as db_session:
        await get_or_raise(db_session, Course, course_id, "course")
        rows = await db_session.execute(
            select(Enrollment, User)
            .join(User, User.id == Enrollment.user_id)
            .where(Enrollment.course_id == course_id)
            .order_by(User.email)
        )
        return [_enrollment_record(enrollment, user) for enrollment, user in rows]


def _role(value: EnrollmentRole | str) -> EnrollmentRole:
    try:
        return EnrollmentRole(value)
    except ValueError:
        choices = ", ".join(role.value for role in EnrollmentRole)
        raise ValidationError(f"unknown role {value!r}; use one of {choices}") from None


def _enrollment_record(enrollment: Enrollment, user: User) -> EnrollmentRecord:
    return EnrollmentRecord(
        course_id=enrollment.course_id,
        user_id=enrollment.user_id,
        role=enrollment.role,
        email=user.email,
        display_name=user.display_name,
        created_at=enrollment.created_at,
    )
