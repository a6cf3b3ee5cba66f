"""Courses: creation, enrollments, roles, archiving, invitations; a race to enrol."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.realistic_suite._counts import cases
from glossator import services
from glossator.db.models import EnrollmentRole
from glossator.errors import AlreadyExists, CourseArchived, DuplicateEnrollment

DATABASE = pytest.mark.pgsandbox(isolation="database")


@pytest.mark.parametrize("n", cases(__file__, "courses_create"))
async def test_creates_and_reads_back_a_course(n: int, uid: str) -> None:
    """A course is created open with the cleaned code and title, and read back equal."""
    course = await services.create_course(f" LIT-{uid}-{n} ", f"Close Reading {n}")
    assert (course.code, course.title, course.archived) == (
        f"LIT-{uid}-{n}",
        f"Close Reading {n}",
        False,
    )
    assert await services.get_course(course.id) == course


@pytest.mark.parametrize("n", cases(__file__, "courses_duplicate"))
async def test_duplicate_code_is_already_exists_and_work_continues(n: int, uid: str) -> None:
    """A second course with the same code raises AlreadyExists; the next call still works."""
    await services.create_course(f"DUP-{uid}", "First")
    with pytest.raises(AlreadyExists, match=f"DUP-{uid}"):
        await services.create_course(f"DUP-{uid}", "Second")
    other = await services.create_course(f"DUP-{uid}-{n}", "Third")
    assert other.code == f"DUP-{uid}-{n}"


@pytest.mark.parametrize("n", cases(__file__, "courses_enrollments"))
async def test_enrollments_are_listed_by_address(
    n: int,
    uid: str,
    course: services.CourseRecord,
    student: services.UserRecord,
    tutor: services.UserRecord,
) -> None:
    """Classmates join; the list is ordered by address, each with its role."""
    expected = [(student.email, EnrollmentRole.STUDENT), (tutor.email, EnrollmentRole.TUTOR)]
    for k in range(n % 3 + 1):
        classmate = await services.find_or_create_user(f"classmate{k}-{uid}@example.org")
        await services.enroll(course.id, classmate.id, "student")
        expected.append((classmate.email, EnrollmentRole.STUDENT))
    listed = await services.list_enrollments(course.id)
    assert [(e.email, e.role) for e in listed] == sorted(expected)


@pytest.mark.parametrize("n", cases(__file__, "courses_change_role"))
async def test_change_role_and_duplicate_enrollment(
    n: int, course: services.CourseRecord, student: services.UserRecord
) -> None:
    """A second enrollment is refused; change_role updates the stored role."""
    with pytest.raises(DuplicateEnrollment):
        await services.enroll(course.id, student.id, EnrollmentRole.TUTOR)
    role = (EnrollmentRole.TUTOR, EnrollmentRole.INSTRUCTOR)[n % 2]
    changed = await services.change_role(course.id, student.id, role)
    assert changed.role is role
    roles = {e.user_id: e.role for e in await services.list_enrollments(course.id)}
    assert roles[student.id] is role


@pytest.mark.parametrize("n", cases(__file__, "courses_archive"))
async def test_archived_course_is_frozen(
    n: int, uid: str, course: services.CourseRecord, student: services.UserRecord
) -> None:
    """An archived course accepts no enrollment, no role change, no second archiving."""
    newcomer = await services.find_or_create_user(f"late-{uid}-{n}@example.org")
    archived = await services.archive_course(course.id)
    assert archived.archived_at is not None
    assert (await services.get_course(course.id)).archived_at == archived.archived_at
    with pytest.raises(CourseArchived):
        await services.enroll(course.id, newcomer.id, EnrollmentRole.STUDENT)
    with pytest.raises(CourseArchived):
        await services.change_role(course.id, student.id, EnrollmentRole.TUTOR)
    with pytest.raises(CourseArchived, match="already"):
        await services.archive_course(course.id)


@pytest.mark.parametrize("n", cases(__file__, "courses_invitation_accepted"))
async def test_accepted_invitation_enrols(
    n: int, uid: str, course: services.CourseRecord, tutor: services.UserRecord
) -> None:
    """An invited address signs up, sees the invitation, accepts it and is enrolled."""
    address = f"invitee-{uid}-{n}@example.org"
    invitation = await services.invite(course.id, address, "tutor", invited_by_id=tutor.id)
    assert [i.email for i in await services.list_course_invitations(course.id)] == [address]
    invitee = await services.find_or_create_user(address)
    assert [i.id for i in await services.list_invitations(invitee.id)] == [invitation.id]
    enrollment = await services.accept_invitation(invitation.id, invitee.id)
    assert (enrollment.user_id, enrollment.role) == (invitee.id, EnrollmentRole.TUTOR)
    assert await services.list_course_invitations(course.id) == []


@pytest.mark.parametrize("n", cases(__file__, "courses_invitation_declined"))
async def test_declined_invitation_enrols_nobody(
    n: int, uid: str, course: services.CourseRecord
) -> None:
    """Declining removes the invitation; the course's enrollments stay as they were."""
    before = await services.list_enrollments(course.id)
    address = f"decliner-{uid}-{n}@example.org"
    invitation = await services.invite(course.id, address, EnrollmentRole.STUDENT)
    decliner = await services.find_or_create_user(address)
    await services.decline_invitation(invitation.id, decliner.id)
    assert await services.list_invitations(decliner.id) == []
    assert await services.list_enrollments(course.id) == before


@DATABASE
@pytest.mark.parametrize("n", cases(__file__, "courses_concurrent_enroll"))
async def test_concurrent_enrollments_one_wins(
    n: int, uid: str, course: services.CourseRecord
) -> None:
    """Three sessions enrolling the same user at once: one enrollment, two refusals."""
    newcomer = await services.find_or_create_user(f"eager-{uid}-{n}@example.org")
    outcomes = await asyncio.gather(
        *(services.enroll(course.id, newcomer.id, "student") for _ in range(3)),
        return_exceptions=True,
    )
    enrolled = [o for o in outcomes if isinstance(o, services.EnrollmentRecord)]
    refused = [o for o in outcomes if isinstance(o, DuplicateEnrollment)]
    assert (len(enrolled), len(refused)) == (1, 2), outcomes
    listed = [e.user_id for e in await services.list_enrollments(course.id)]
    assert listed.count(newcomer.id) == 1
