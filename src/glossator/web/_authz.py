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

Equal work for hidden and missing: each check is one narrow query (ids, owner, the
course's archive date; never a document's HTML or an export's PDF) whose condition holds
both "it exists" and "this user sees it", so a hidden id and a missing one cost the same
statement returning no row. Content is loaded only after the check passed.

Archived courses are read-only: a change inside a workspace of an archived course
(upload, deletion, highlight, export) is :class:`CourseArchived` (409), checked here in
the same query. The services' own checks still hold for enrolments and new workspaces.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select

from glossator import db, services
from glossator.db.models import (
    Course,
    Document,
    Enrollment,
    EnrollmentRole,
    ExportJob,
    Highlight,
    Workspace,
)
from glossator.errors import CourseArchived, NotFound, PermissionDenied
from glossator.services._access import STAFF_ROLES, visible_to

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy import Select

    from glossator.services import DocumentRecord, UserRecord, WorkspaceRecord

__all__ = [
    "course_role",
    "deletable_highlight",
    "document_access",
    "enrolled_courses",
    "export_access",
    "require_course_role",
    "visible_document",
    "visible_export",
    "visible_workspace",
]


def _workspace_query() -> Select[Workspace, str, dt.datetime | None]:
    return select(Workspace, Course.code, Course.archived_at).outerjoin(
        Course, Course.id == Workspace.course_id
    )


def _check_change(
    user: UserRecord,
    workspace: WorkspaceRecord,
    course_code: str | None,
    archived_at: dt.datetime | None,
    *,
    manage: bool,
    write: bool,
) -> None:
    if manage and workspace.owner_id != user.id:
        raise PermissionDenied("only the workspace's owner may change its documents")
    if (manage or write) and archived_at is not None:
        raise CourseArchived(f"course {course_code!r} is archived, so its workspaces are read-only")


async def visible_workspace(
    user: UserRecord, workspace_id: int, *, manage: bool = False, write: bool = False
) -> WorkspaceRecord:
    """The workspace, if ``user`` sees it (and owns it, when ``manage``).

    Args:
        user: Who asks.
        workspace_id: The workspace.
        manage: The owner's changes (uploads, deletions): only the owner, not archived.
        write: Viewers' changes (highlights, exports): not in an archived course.

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
        PermissionDenied: ``manage`` and ``user`` is not the owner.
        CourseArchived: ``manage`` or ``write``, and its course is archived.
    """
    async with db.session() as db_session:
        found = (
            await db_session.execute(
                _workspace_query().where(Workspace.id == workspace_id, visible_to(user.id))
            )
        ).one_or_none()
        if found is None:
            raise NotFound("workspace", workspace_id)
        row, code, archived_at = found
        workspace = services.WorkspaceRecord.from_row(row)
    _check_change(user, workspace, code, archived_at, manage=manage, write=write)
    return workspace


async def document_access(
    user: UserRecord, document_id: int, *, manage: bool = False, write: bool = False
) -> WorkspaceRecord:
    """The document's workspace, if ``user`` sees the document; its content is not loaded.

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
        PermissionDenied: ``manage`` and ``user`` does not own its workspace.
        CourseArchived: ``manage`` or ``write``, and its course is archived.
    """
    async with db.session() as db_session:
        found = (
            await db_session.execute(
                _workspace_query()
                .join(Document, Document.workspace_id == Workspace.id)
                .where(Document.id == document_id, visible_to(user.id))
            )
        ).one_or_none()
        if found is None:
            raise NotFound("document", document_id)
        row, code, archived_at = found
        workspace = services.WorkspaceRecord.from_row(row)
    _check_change(user, workspace, code, archived_at, manage=manage, write=write)
    return workspace


async def visible_document(
    user: UserRecord, document_id: int, *, manage: bool = False, write: bool = False
) -> tuple[DocumentRecord, WorkspaceRecord]:
    """The document (with its content) and its workspace, checked as :func:`document_access`.

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
        PermissionDenied: ``manage`` and ``user`` does not own its workspace.
        CourseArchived: ``manage`` or ``write``, and its course is archived.
    """
    workspace = await document_access(user, document_id, manage=manage, write=write)
    return await services.get_document(document_id), workspace


async def export_access(user: UserRecord, export_id: int, *, write: bool = False) -> int:
    """The export job's id, if ``user`` sees its document; neither PDF nor log is loaded.

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
        CourseArchived: ``write`` and the document's course is archived.
    """
    async with db.session() as db_session:
        found = (
            await db_session.execute(
                _workspace_query()
                .join(Document, Document.workspace_id == Workspace.id)
                .join(ExportJob, ExportJob.document_id == Document.id)
                .where(ExportJob.id == export_id, visible_to(user.id))
            )
        ).one_or_none()
        if found is None:
            raise NotFound("export", export_id)
        row, code, archived_at = found
        workspace = services.WorkspaceRecord.from_row(row)
    _check_change(user, workspace, code, archived_at, manage=False, write=write)
    return export_id


async def visible_export(user: UserRecord, export_id: int) -> services.ExportRecord:
    """The export job, if ``user`` sees its document.

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
    """
    await export_access(user, export_id)
    try:
        return await services.get_export(export_id, user_id=user.id)
    except PermissionDenied:
        raise NotFound("export", export_id) from None


async def deletable_highlight(user: UserRecord, highlight_id: int) -> int:
    """The highlight's id, if ``user`` sees it and wrote it or owns its workspace.

    Raises:
        NotFound: It does not exist or ``user`` may not see it.
        PermissionDenied: ``user`` sees it but neither wrote it nor owns the workspace.
        CourseArchived: Its workspace's course is archived.
    """
    async with db.session() as db_session:
        found = (
            await db_session.execute(
                _workspace_query()
                .add_columns(Highlight.author_id)
                .join(Document, Document.workspace_id == Workspace.id)
                .join(Highlight, Highlight.document_id == Document.id)
                .where(Highlight.id == highlight_id, visible_to(user.id))
            )
        ).one_or_none()
        if found is None:
            raise NotFound("highlight", highlight_id)
        row, code, archived_at, author_id = found
        workspace = services.WorkspaceRecord.from_row(row)
    if user.id not in (author_id, workspace.owner_id):
        raise PermissionDenied("only its author or the workspace's owner may delete a highlight")
    _check_change(user, workspace, code, archived_at, manage=False, write=True)
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
