"""Who may do what, checked before any service runs.

The rules (docs/web.md has the table):

* A workspace is *visible* to its owner and to tutors and instructors of its course
  (:func:`glossator.services._access.visible_to`, the rule the services use). Seeing it
  means reading its documents, highlights and exports, adding highlights and exporting.
* Only its owner *manages* it: uploads and deletes documents, deletes the workspace.
* A highlight is deleted by its author or the workspace's owner.
* A course is visible to the users enrolled in it; its staff (tutors, instructors) see
  the enrolments; its instructors enrol users and change roles.

Something the user may not see is reported as missing (:class:`NotFound`, 404), exactly
as something that does not exist, so ids cannot be probed. Something the user sees but
may not change is :class:`PermissionDenied` (403).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from glossator import db, services
from glossator.db.models import Course, Enrollment, EnrollmentRole, Highlight, Workspace
from glossator.errors import NotFound, PermissionDenied
from glossator.services._access import STAFF_ROLES, visible_to

if TYPE_CHECKING:
    from glossator.services import DocumentRecord, UserRecord, WorkspaceRecord

__all__ = [
    "course_role",
    "deletable_highlight",
    "enrolled_courses",
    "require_course_role",
    "visible_document",
    "visible_export",
    "visible_workspace",
]


async def visible_workspace(
    user: UserRecord, workspace_id: int, *, manage: bool = False
) -> WorkspaceRecord:
    """The workspace, if ``user`` sees it (and owns it, when ``manage``).

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
        PermissionDenied: ``manage`` and ``user`` is not the owner.
    """
    async with db.session() as db_session:
        row = await db_session.scalar(
            select(Workspace).where(Workspace.id == workspace_id, visible_to(user.id))
        )
        if row is None:
            raise NotFound("workspace", workspace_id)
        workspace = services.WorkspaceRecord.from_row(row)
    if manage and workspace.owner_id != user.id:
        raise PermissionDenied("only the workspace's owner may change its documents")
    return workspace


async def visible_document(
    user: UserRecord, document_id: int, *, manage: bool = False
) -> tuple[DocumentRecord, WorkspaceRecord]:
    """The document and its workspace, if ``user`` sees it (owns it, when ``manage``).

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
        PermissionDenied: ``manage`` and ``user`` does not own its workspace.
    """
    document = await services.get_document(document_id)
    try:
        workspace = await visible_workspace(user, document.workspace_id, manage=manage)
    except NotFound:
        raise NotFound("document", document_id) from None
    return document, workspace


async def visible_export(user: UserRecord, export_id: int) -> services.ExportRecord:
    """The export job, if ``user`` sees its document.

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
    """
    try:
        return await services.get_export(export_id, user_id=user.id)
    except PermissionDenied:
        raise NotFound("export", export_id) from None


async def deletable_highlight(user: UserRecord, highlight_id: int) -> int:
    """The highlight's id, if ``user`` sees it and wrote it or owns its workspace.

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
        PermissionDenied: ``user`` sees it but neither wrote it nor owns the workspace.
    """
    async with db.session() as db_session:
        found = await db_session.scalar(
            select(Highlight).where(Highlight.id == highlight_id).limit(1)
        )
        author_id = found.author_id if found is not None else None
        document_id = found.document_id if found is not None else None
    if author_id is None or document_id is None:
        raise NotFound("highlight", highlight_id)
    try:
        _, workspace = await visible_document(user, document_id)
    except NotFound:
        raise NotFound("highlight", highlight_id) from None
    if user.id not in (author_id, workspace.owner_id):
        raise PermissionDenied("only its author or the workspace's owner may delete a highlight")
    return highlight_id


async def course_role(user: UserRecord, course_id: int) -> EnrollmentRole:
    """``user``'s role in the course.

    Raises:
        NotFound: The course does not exist or ``user`` is not enrolled in it.
    """
    async with db.session() as db_session:
        role = await db_session.scalar(
            select(Enrollment.role).where(
                Enrollment.course_id == course_id, Enrollment.user_id == user.id
            )
        )
    if role is None:
        raise NotFound("course", course_id)
    return role


async def enrolled_courses(
    user: UserRecord,
) -> list[tuple[services.CourseRecord, EnrollmentRole]]:
    """The courses ``user`` is enrolled in, with their role, ordered by code."""
    async with db.session() as db_session:
        rows = await db_session.execute(
            select(Course, Enrollment.role)
            .join(Enrollment, Enrollment.course_id == Course.id)
            .where(Enrollment.user_id == user.id)
            .order_by(Course.code)
        )
        return [(services.CourseRecord.from_row(course), role) for course, role in rows]


async def require_course_role(
    user: UserRecord, course_id: int, *, instructor: bool = False
) -> EnrollmentRole:
    """``user``'s role, which must be staff (or instructor, when ``instructor``).

    Raises:
        NotFound: The course does not exist or ``user`` is not enrolled in it.
        PermissionDenied: ``user``'s role is not enough.
    """
    role = await course_role(user, course_id)
    allowed = (EnrollmentRole.INSTRUCTOR,) if instructor else STAFF_ROLES
    if role not in allowed:
        needed = "instructors" if instructor else "tutors and instructors"
        raise PermissionDenied(f"only the course's {needed} may do this")
    return role
