"""Integration tests: glossator's services against PostgreSQL through pgsandbox.

Each test runs in its own sandbox (pgsandbox's default ``transaction`` isolation): the
services commit as usual, and everything is rolled back after the test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

import glossator.db
from glossator import services
from glossator.db.models import EnrollmentRole, SourceKind
from tests.integration.export_fixtures import latex_tools, start_export_worker  # noqa: F401 - registers the export fixtures

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@pytest.fixture(autouse=True)
def _glossator_uses_sandbox(
    pgsandbox_sessionmaker: async_sessionmaker[AsyncSession],
) -> Iterator[None]:
    """Every session glossator opens joins this test's sandbox."""
    with glossator.db.override_sessionmaker(pgsandbox_sessionmaker):
        yield


@pytest_asyncio.fixture
async def student() -> services.UserRecord:
    """A user who will be enrolled as a student in ``course``."""
    return await services.find_or_create_user("student@example.org", "Stu Dent")


@pytest_asyncio.fixture
async def tutor() -> services.UserRecord:
    """A user who will be enrolled as a tutor in ``course``."""
    return await services.find_or_create_user("tutor@example.org", "Tu Tor")


@pytest_asyncio.fixture
async def course(student: services.UserRecord, tutor: services.UserRecord) -> services.CourseRecord:
    """A course with ``student`` enrolled as student and ``tutor`` as tutor."""
    created = await services.create_course("HIST-101", "Reading Primary Sources")
    await services.enroll(created.id, student.id, EnrollmentRole.STUDENT)
    await services.enroll(created.id, tutor.id, EnrollmentRole.TUTOR)
    return created


@pytest_asyncio.fixture
async def workspace(
    student: services.UserRecord, course: services.CourseRecord
) -> services.WorkspaceRecord:
    """``student``'s workspace in ``course``."""
    return await services.create_workspace(student.id, "Essay drafts", course_id=course.id)


@pytest_asyncio.fixture
async def document(workspace: services.WorkspaceRecord) -> services.DocumentRecord:
    """A document in ``workspace`` with a one-sentence plain text."""
    text = "The quick brown fox jumps over the lazy dog."
    return await services.add_document(workspace.id, "Fox", SourceKind.HTML, f"<p>{text}</p>", text)
