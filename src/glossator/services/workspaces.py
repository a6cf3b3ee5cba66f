"""Workspaces: a user's collection of documents, optionally within a course."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from sqlalchemy import select

from glossator import db
from glossator.db.models import Course, Enrollment, User, Workspace
from glossator.errors import CourseArchived, PermissionDenied
from glossator.services._access import can_access_workspace, visible_to
from glossator.services._common import clean_text, get_or_raise

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "WorkspaceRecord",
    "create_workspace",
    "delete_workspace",
    "get_workspace",
    "list_workspaces_for_user",
    "user_can_access_workspace",
]


@dataclasses.dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    """A workspace as the services return it."""

    id: int
    title: str
    owner_id: int
    course_id: int | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Workspace) -> WorkspaceRecord:
        """Copy the fields of a ``Workspace`` row."""
        return cls(
            id=row.id,
            title=row.title,
            owner_id=row.owner_id,
            course_id=row.course_id,
            created_at=row.created_at,
        )


async def create_workspace(
    owner_id: int, title: str, course_id: int | None = None
) -> WorkspaceRecord:
    """Create a workspace owned by a user, optionally within a course.

    Args:
        owner_id: The user who owns it.
        title: Its title.
        course_id: A course the owner is enrolled in (in any role), or ``None``.

    Raises:
        ValidationError: The title is empty or too long.
        NotFound: The owner or the course does not exist.
        CourseArchived: The course is archived.
        PermissionDenied: The owner is not enrolled in the course.
    """
    clean_title = clean_text(title, "workspace title", max_length=200)
    async with db.session() as db_session:
        await get_or_raise(db_session, User, owner_id, "user")
        if course_id is not None:
            course = await get_or_raise(
                db_session, Course, course_id, "course", lock={"read": True}
            )
            if course.archived_at is not None:
                raise CourseArchived(f"course {course.code!r} is archived")
            enrolled = await db_session.scalar(
                select(Enrollment.id).where(
                    Enrollment.course_id == course_id, Enrollment.user_id == owner_id
                )
            )
            if enrolled is None:
                raise PermissionDenied(
                    f"user {owner_id} is not enrolled in course {course.code!r}, "
                    f"so cannot create a workspace in it"
                )
        workspace = Workspace(title=clean_title, owner_id=owner_id, course_id=course_id)
        db_session.add(workspace)
        await db_session.flush()
        record = WorkspaceRecord.from_row(workspace)
        await db_session.commit()
    return record


async def get_workspace(workspace_id: int) -> WorkspaceRecord:
    """Return the workspace with this id.

    Raises:
        NotFound: There is no such workspace.
    """
    async with db.session() as db_session:
        return WorkspaceRecord.from_row(
            await get_or_raise(db_session, Workspace, workspace_id, "workspace")
        )


async def list_workspaces_for_user(user_id: int) -> list[WorkspaceRecord]:
    """List the workspaces a user sees: their own, and all of the courses they teach.

    "Teach" means enrolled as tutor or instructor; students see only their own.
    Ordered by creation, oldest first.

    Raises:
        NotFound: There is no such user.
    """
    async with db.session() as db_session:
        await get_or_raise(db_session, User, user_id, "user")
        rows = await db_session.scalars(
            select(Workspace)
            .where(visible_to(user_id))
            .order_by(Workspace.created_at, Workspace.id)
        )
        return [WorkspaceRecord.from_row(row) for row in rows]


async def user_can_access_workspace(user_id: int, workspace_id: int) -> bool:
    """Whether the user owns the workspace or teaches its course.

    Raises:
        NotFound: There is no such workspace.
    """
    async with db.session() as db_session:
        await get_or_raise(db_session, Workspace, workspace_id, "workspace")
        return await can_access_workspace(db_session, user_id, workspace_id)


async def delete_workspace(workspace_id: int) -> None:
    """Delete a workspace with its documents, highlights and export jobs.

    Raises:
        NotFound: There is no such workspace.
    """
    async with db.session() as db_session:
        workspace = await get_or_raise(db_session, Workspace, workspace_id, "workspace")
        await db_session.delete(workspace)
        await db_session.commit()
