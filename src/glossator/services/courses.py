"""Courses, enrollments, and invitations into courses.

An instructor enrols people by inviting an e-mail address (:func:`invite`). The
invitation is stored whether or not the address has an account, and the answer is the
same either way, so inviting tells nothing about who has an account; nobody is enrolled
until the person with that address accepts (:func:`accept_invitation`) or declines
(:func:`decline_invitation`) it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from glossator import db
from glossator.db.models import Course, CourseInvitation, Enrollment, EnrollmentRole, User
from glossator.errors import (
    AlreadyExists,
    CourseArchived,
    DuplicateEnrollment,
    NotFound,
    ValidationError,
)
from glossator.services._common import clean_text, constraint_name, get_or_raise
from glossator.services.users import normalise_email

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "CourseRecord",
    "EnrollmentRecord",
    "InvitationRecord",
    "accept_invitation",
    "archive_course",
    "change_role",
    "create_course",
    "decline_invitation",
    "enroll",
    "get_course",
    "invite",
    "list_course_invitations",
    "list_enrollments",
    "list_invitations",
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


@dataclasses.dataclass(frozen=True, slots=True)
class InvitationRecord:
    """A pending invitation of an address into a course, with the course for display."""

    id: int
    course_id: int
    course_code: str
    course_title: str
    email: str
    role: EnrollmentRole
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


async def invite(
    course_id: int, email: str, role: EnrollmentRole | str, *, invited_by_id: int | None = None
) -> InvitationRecord:
    """Invite an address into a course (again: the role and date are renewed).

    Nothing tells whether the address has an account, or is enrolled already: the
    invitation is stored either way, and only its addressee sees it.

    Raises:
        ValidationError: The address or the role is invalid.
        NotFound: The course does not exist.
        CourseArchived: The course is archived.
    """
    address = normalise_email(email)
    chosen = _role(role)
    async with db.session() as db_session:
        course = await _open_course(db_session, course_id)
        row = await db_session.scalar(
            insert(CourseInvitation)
            .values(course_id=course_id, email=address, role=chosen, invited_by_id=invited_by_id)
            .on_conflict_do_update(
                index_elements=[CourseInvitation.course_id, CourseInvitation.email],
                set_={"role": chosen, "invited_by_id": invited_by_id, "created_at": func.now()},
            )
            .returning(CourseInvitation)
        )
        assert row is not None
        record = _invitation_record(row, course)
        await db_session.commit()
    return record


async def list_invitations(user_id: int) -> list[InvitationRecord]:
    """The invitations addressed to the user, in courses that are not archived; oldest first.

    Raises:
        NotFound: There is no such user.
    """
    async with db.session() as db_session:
        user = await get_or_raise(db_session, User, user_id, "user")
        rows = await db_session.execute(
            select(CourseInvitation, Course)
            .join(Course, Course.id == CourseInvitation.course_id)
            .where(CourseInvitation.email == user.email, Course.archived_at.is_(None))
            .order_by(CourseInvitation.created_at, CourseInvitation.id)
        )
        return [_invitation_record(invitation, course) for invitation, course in rows]


async def list_course_invitations(course_id: int) -> list[InvitationRecord]:
    """A course's pending invitations, ordered by address.

    Raises:
        NotFound: There is no such course.
    """
    async with db.session() as db_session:
        course = await get_or_raise(db_session, Course, course_id, "course")
        rows = await db_session.scalars(
            select(CourseInvitation)
            .where(CourseInvitation.course_id == course_id)
            .order_by(CourseInvitation.email)
        )
        return [_invitation_record(row, course) for row in rows]


async def _own_invitation(
    db_session: AsyncSession, invitation_id: int, user_id: int
) -> tuple[CourseInvitation, User]:
    # One query for "exists and is addressed to this user": someone else's invitation
    # is missing, exactly like one that does not exist.
    found = (
        await db_session.execute(
            select(CourseInvitation, User)
            .join(User, User.email == CourseInvitation.email)
            .where(CourseInvitation.id == invitation_id, User.id == user_id)
            .with_for_update(of=CourseInvitation)
        )
    ).one_or_none()
    if found is None:
        raise NotFound("invitation", invitation_id)
    return found[0], found[1]


async def accept_invitation(invitation_id: int, user_id: int) -> EnrollmentRecord:
    """Accept an invitation addressed to the user: they are enrolled with its role.

    Someone enrolled already keeps their current role; the invitation is used up.

    Raises:
        NotFound: No such invitation is addressed to the user.
        CourseArchived: The course has been archived since.
    """
    async with db.session() as db_session:
        invitation, user = await _own_invitation(db_session, invitation_id, user_id)
        await _open_course(db_session, invitation.course_id)
        await db_session.execute(
            insert(Enrollment)
            .values(course_id=invitation.course_id, user_id=user.id, role=invitation.role)
            .on_conflict_do_nothing(index_elements=[Enrollment.user_id, Enrollment.course_id])
        )
        enrollment = await db_session.scalar(
            select(Enrollment).where(
                Enrollment.course_id == invitation.course_id, Enrollment.user_id == user.id
            )
        )
        assert enrollment is not None
        record = _enrollment_record(enrollment, user)
        await db_session.delete(invitation)
        await db_session.commit()
    return record


async def decline_invitation(invitation_id: int, user_id: int) -> None:
    """Decline (delete) an invitation addressed to the user.

    Raises:
        NotFound: No such invitation is addressed to the user.
    """
    async with db.session() as db_session:
        invitation, _ = await _own_invitation(db_session, invitation_id, user_id)
        await db_session.execute(
            delete(CourseInvitation).where(CourseInvitation.id == invitation.id)
        )
        await db_session.commit()


def _invitation_record(invitation: CourseInvitation, course: Course) -> InvitationRecord:
    return InvitationRecord(
        id=invitation.id,
        course_id=course.id,
        course_code=course.code,
        course_title=course.title,
        email=invitation.email,
        role=invitation.role,
        created_at=invitation.created_at,
    )
