"""Glossator's services: async functions every caller (web, CLI, tests) goes through.

Each function opens its own session with :func:`glossator.db.session`, commits what it
changed, and returns frozen records (never ORM objects). Failures are raised as the
errors of :mod:`glossator.errors`.
"""

from __future__ import annotations

from glossator.services.courses import (
    CourseRecord,
    EnrollmentRecord,
    InvitationRecord,
    accept_invitation,
    archive_course,
    change_role,
    create_course,
    decline_invitation,
    enroll,
    get_course,
    invite,
    list_course_invitations,
    list_enrollments,
    list_invitations,
)
from glossator.services.documents import (
    DocumentRecord,
    DocumentSummary,
    add_document,
    delete_document,
    get_document,
    list_documents,
    reorder_documents,
)
from glossator.services.exports import (
    ExportRecord,
    cancel_export,
    get_export,
    get_export_pdf,
    request_export,
)
from glossator.services.highlights import (
    HighlightRecord,
    add_highlight,
    delete_highlight,
    list_highlights,
)
from glossator.services.users import UserRecord, find_or_create_user, get_user, normalise_email
from glossator.services.workspaces import (
    WorkspaceRecord,
    create_workspace,
    delete_workspace,
    get_workspace,
    list_workspaces_for_user,
    user_can_access_workspace,
)

__all__ = [
    "CourseRecord",
    "DocumentRecord",
    "DocumentSummary",
    "EnrollmentRecord",
    "ExportRecord",
    "HighlightRecord",
    "InvitationRecord",
    "UserRecord",
    "WorkspaceRecord",
    "accept_invitation",
    "add_document",
    "add_highlight",
    "archive_course",
    "cancel_export",
    "change_role",
    "create_course",
    "create_workspace",
    "decline_invitation",
    "delete_document",
    "delete_highlight",
    "delete_workspace",
    "enroll",
    "find_or_create_user",
    "get_course",
    "get_document",
    "get_export",
    "get_export_pdf",
    "get_user",
    "get_workspace",
    "invite",
    "list_course_invitations",
    "list_documents",
    "list_enrollments",
    "list_highlights",
    "list_invitations",
    "list_workspaces_for_user",
    "normalise_email",
    "reorder_documents",
    "request_export",
    "user_can_access_workspace",
]
