"""Who may see and annotate a workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import exists, select

from glossator.db.models import Enrollment, EnrollmentRole, Workspace

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["STAFF_ROLES", "can_access_workspace", "visible_to"]

#: Roles that see every workspace of their course.
STAFF_ROLES = (EnrollmentRole.TUTOR, EnrollmentRole.INSTRUCTOR)


def visible_to(user_id: int) -> ColumnElement[bool]:
    """SQL condition on ``Workspace``: the user owns it or teaches its course."""
    teaches_course = exists().where(
        Enrollment.course_id == Workspace.course_id,
        Enrollment.user_id == user_id,
        Enrollment.role.in_(STAFF_ROLES),
    )
    return (Workspace.owner_id == user_id) | teaches_course


async def can_access_workspace(db_session: AsyncSession, user_id: int, workspace_id: int) -> bool:
    """Whether the user owns the workspace or is tutor/instructor of its course."""
    found = await db_session.scalar(
        select(Workspace.id).where(Workspace.id == workspace_id, visible_to(user_id))
    )
    return found is not None
