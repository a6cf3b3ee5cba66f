"""The JSON API under ``/api``: sessions, workspaces, documents, highlights, exports, courses.

Every endpoint but sign-in needs a signed-in user; every state-changing one also needs
the session's CSRF token in ``X-CSRF-Token``. Authorisation runs before any service
(:mod:`glossator.web._authz`). Errors are JSON, ``{"error": {"type", "message"}}``,
with the statuses of :mod:`glossator.web._errors`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from glossator import services
from glossator.db.models import EnrollmentRole, ExportJobStatus
from glossator.errors import ValidationError
from glossator.web import _authz
from glossator.web._input import check_form, json_body
from glossator.web._security import (
    CSRF_HEADER,
    check_csrf,
    csrf_token,
    require_user,
    sign_in,
    sign_out,
)
from glossator.web._throttle import authenticate_request
from glossator.web._uploads import read_upload, store_upload

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request

    from glossator.services import UserRecord
    from glossator.settings import Settings

    _Endpoint = Callable[[Request, UserRecord], Awaitable[Response]]

__all__ = ["api_routes", "to_json"]

#: Bytes a multipart upload may add around its file (boundaries, other fields).
MULTIPART_OVERHEAD: Final = 64 * 1024


def to_json(record: object) -> Any:
    """A service record (dataclass), list, enum or datetime as JSON-ready values."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {
            field.name: to_json(getattr(record, field.name)) for field in dataclasses.fields(record)
        }
    if isinstance(record, list | tuple):
        return [to_json(item) for item in record]
    if isinstance(record, enum.Enum):
        return record.value
    if isinstance(record, dt.datetime):
        return record.isoformat()
    return record


def _user_json(user: UserRecord) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "display_name": user.display_name}


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (:func:`glossator.web._input.json_body`)."""
    return await json_body(request)


def _field(body: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    # bool is an int in Python, never a valid offset or id here.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValidationError(f"field {name!r} must be a {kind.__name__}")
    return value


def _authed(endpoint: _Endpoint, *, csrf: bool) -> Callable[[Request], Awaitable[Response]]:
    """Require a signed-in user (and the CSRF header when ``csrf``) before ``endpoint``."""

    async def guarded(request: Request) -> Response:
        user = await require_user(request)
        if csrf:
            check_csrf(request, request.headers.get(CSRF_HEADER))
        return await endpoint(request, user)

    guarded.__name__ = guarded.__qualname__ = endpoint.__name__
    guarded.__doc__ = endpoint.__doc__
    return guarded


def _path_int(request: Request, name: str) -> int:
    value: int = request.path_params[name]
    return value


# ---------------------------------------------------------------------------- session


async def sign_in_json(request: Request) -> Response:
    """POST /api/session: sign in with ``{"email", "password"}``; returns the CSRF token."""
    body = await _json_body(request)
    user = await authenticate_request(
        request,
        _field(body, "email", str, required=False) or "",
        _field(body, "password", str, required=False) or "",
    )
    if user is None:
        return JSONResponse(
            {"error": {"type": "InvalidCredentials", "message": "wrong e-mail or password"}},
            status_code=401,
        )
    token = await sign_in(request, user)
    return JSONResponse({"user": _user_json(user), "csrf_token": token})


async def sign_out_json(request: Request, user: UserRecord) -> Response:
    """DELETE /api/session: sign out; the session ends on the server, for every copy."""
    await sign_out(request)
    return Response(status_code=204)


async def me(request: Request, user: UserRecord) -> Response:
    """GET /api/me: the signed-in user and the session's CSRF token."""
    return JSONResponse({"user": _user_json(user), "csrf_token": csrf_token(request)})


# ---------------------------------------------------------------------------- workspaces


async def list_workspaces(request: Request, user: UserRecord) -> Response:
    """GET /api/workspaces: the workspaces the user sees."""
    return JSONResponse({"workspaces": to_json(await services.list_workspaces_for_user(user.id))})


async def create_workspace(request: Request, user: UserRecord) -> Response:
    """POST /api/workspaces: ``{"title", "course_id"?}``; the user owns it."""
    body = await _json_body(request)
    course_id = _field(body, "course_id", int, required=False)
    if course_id is not None:
        await _authz.course_role(user, course_id)
    workspace = await services.create_workspace(
        user.id, _field(body, "title", str), course_id=course_id
    )
    return JSONResponse({"workspace": to_json(workspace)}, status_code=201)


async def get_workspace(request: Request, user: UserRecord) -> Response:
    """GET /api/workspaces/{id}: the workspace and its documents (without content)."""
    workspace = await _authz.visible_workspace(user, _path_int(request, "workspace_id"))
    documents = await services.list_documents(workspace.id)
    return JSONResponse({"workspace": to_json(workspace), "documents": to_json(documents)})


async def delete_workspace(request: Request, user: UserRecord) -> Response:
    """DELETE /api/workspaces/{id}: owner only."""
    workspace = await _authz.visible_workspace(
        user, _path_int(request, "workspace_id"), manage=True
    )
    await services.delete_workspace(workspace.id)
    return Response(status_code=204)


async def list_documents(request: Request, user: UserRecord) -> Response:
    """GET /api/workspaces/{id}/documents: the documents in their order."""
    workspace = await _authz.visible_workspace(user, _path_int(request, "workspace_id"))
    return JSONResponse({"documents": to_json(await services.list_documents(workspace.id))})


async def upload_documents(request: Request, user: UserRecord) -> Response:
    """POST /api/workspaces/{id}/documents: multipart ``file`` (+ ``kind``, ``title``)."""
    workspace = await _authz.visible_workspace(
        user, _path_int(request, "workspace_id"), manage=True
    )
    settings: Settings = request.app.state.settings
    async with request.form(
        max_files=1, max_fields=10, max_part_size=settings.max_upload_bytes
    ) as form:
        check_form(form)
        upload = await read_upload(form)
    documents = await store_upload(workspace.id, upload, settings)
    return JSONResponse({"documents": to_json(documents)}, status_code=201)


# ---------------------------------------------------------------------------- documents


async def get_document(request: Request, user: UserRecord) -> Response:
    """GET /api/documents/{id}: the document (HTML and plain text) with its highlights."""
    document, _ = await _authz.visible_document(user, _path_int(request, "document_id"))
    highlights = await services.list_highlights(document.id)
    return JSONResponse({"document": to_json(document), "highlights": to_json(highlights)})


async def delete_document(request: Request, user: UserRecord) -> Response:
    """DELETE /api/documents/{id}: the workspace's owner only."""
    document_id = _path_int(request, "document_id")
    await _authz.document_access(user, document_id, manage=True)
    await services.delete_document(document_id)
    return Response(status_code=204)


async def list_highlights(request: Request, user: UserRecord) -> Response:
    """GET /api/documents/{id}/highlights."""
    document_id = _path_int(request, "document_id")
    await _authz.document_access(user, document_id)
    return JSONResponse({"highlights": to_json(await services.list_highlights(document_id))})


async def add_highlight(request: Request, user: UserRecord) -> Response:
    """POST /api/documents/{id}/highlights: ``{"start", "end", "tag", "comment"?}``."""
    document_id = _path_int(request, "document_id")
    await _authz.document_access(user, document_id, write=True)
    body = await _json_body(request)
    highlight = await services.add_highlight(
        document_id,
        user.id,
        _field(body, "start", int),
        _field(body, "end", int),
        _field(body, "tag", str),
        comment=_field(body, "comment", str, required=False),
    )
    return JSONResponse({"highlight": to_json(highlight)}, status_code=201)


async def delete_highlight(request: Request, user: UserRecord) -> Response:
    """DELETE /api/highlights/{id}: its author or the workspace's owner."""
    highlight_id = await _authz.deletable_highlight(user, _path_int(request, "highlight_id"))
    await services.delete_highlight(highlight_id)
    return Response(status_code=204)


# ---------------------------------------------------------------------------- exports


async def request_export(request: Request, user: UserRecord) -> Response:
    """POST /api/documents/{id}/exports: queue a PDF export; poll /api/exports/{id}."""
    document_id = _path_int(request, "document_id")
    await _authz.document_access(user, document_id, write=True)
    job_id = await services.request_export(document_id, user.id)
    record = await services.get_export(job_id, user_id=user.id)
    return JSONResponse({"export": _export_json(record)}, status_code=202)


#: What users see of a job. Not the queue, the worker (host and pid) or its raw error
#: (LaTeX log lines, paths): those are for the operator's logs.
_EXPORT_FIELDS: Final = (
    "id",
    "document_id",
    "requested_by_id",
    "status",
    "attempts",
    "max_attempts",
    "result_sha256",
    "result_size",
    "created_at",
    "started_at",
    "finished_at",
)


def _export_json(record: services.ExportRecord) -> dict[str, Any]:
    """The job as users see it, with a message instead of the worker's error."""
    data: dict[str, Any] = {name: to_json(getattr(record, name)) for name in _EXPORT_FIELDS}
    data["error"] = (
        f"the PDF could not be made; the server's log has the details (export {record.id})"
        if record.status is ExportJobStatus.FAILED
        else None
    )
    return data


async def get_export(request: Request, user: UserRecord) -> Response:
    """GET /api/exports/{id}: the job's status."""
    record = await _authz.visible_export(user, _path_int(request, "export_id"))
    return JSONResponse({"export": _export_json(record)})


_UNSAFE_FILENAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


async def download_export(request: Request, user: UserRecord) -> Response:
    """GET /api/exports/{id}/pdf: the PDF, once the job is done (409 before)."""
    record = await _authz.visible_export(user, _path_int(request, "export_id"))
    pdf = await services.get_export_pdf(record.id, user_id=user.id)
    document = await services.get_document(record.document_id)
    filename = _UNSAFE_FILENAME.sub("-", document.title).strip("-.")[:80] or "export"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{filename}.pdf"'},
    )


async def cancel_export(request: Request, user: UserRecord) -> Response:
    """POST /api/exports/{id}/cancel: cancel a queued or running job."""
    record = await _authz.visible_export(user, _path_int(request, "export_id"))
    cancelled = await services.cancel_export(record.id, user_id=user.id)
    return JSONResponse({"export": _export_json(cancelled)})


# ---------------------------------------------------------------------------- courses


async def list_courses(request: Request, user: UserRecord) -> Response:
    """GET /api/courses: the courses the user is enrolled in, with their role."""
    enrolled = await _authz.enrolled_courses(user)
    return JSONResponse(
        {"courses": [{**to_json(course), "role": role.value} for course, role in enrolled]}
    )


async def create_course(request: Request, user: UserRecord) -> Response:
    """POST /api/courses: ``{"code", "title"}``; the creator becomes its instructor."""
    body = await _json_body(request)
    course = await services.create_course(_field(body, "code", str), _field(body, "title", str))
    await services.enroll(course.id, user.id, EnrollmentRole.INSTRUCTOR)
    return JSONResponse(
        {"course": {**to_json(course), "role": EnrollmentRole.INSTRUCTOR.value}}, status_code=201
    )


async def get_course(request: Request, user: UserRecord) -> Response:
    """GET /api/courses/{id}: enrolled users only."""
    role = await _authz.course_role(user, _path_int(request, "course_id"))
    course = await services.get_course(_path_int(request, "course_id"))
    return JSONResponse({"course": {**to_json(course), "role": role.value}})


async def list_enrollments(request: Request, user: UserRecord) -> Response:
    """GET /api/courses/{id}/enrollments: tutors and instructors only."""
    course_id = _path_int(request, "course_id")
    await _authz.require_course_role(user, course_id)
    return JSONResponse({"enrollments": to_json(await services.list_enrollments(course_id))})


async def invite(request: Request, user: UserRecord) -> Response:
    """POST /api/courses/{id}/invitations: ``{"email", "role"}``; instructors only.

    The answer is the same whether or not the address has an account (202, the
    invitation as sent): the invitee decides, through ``/api/invitations``.
    """
    course_id = _path_int(request, "course_id")
    await _authz.require_course_role(user, course_id, instructor=True)
    body = await _json_body(request)
    record = await services.invite(
        course_id, _field(body, "email", str), _field(body, "role", str), invited_by_id=user.id
    )
    invitation = {"course_id": course_id, "email": record.email, "role": record.role.value}
    return JSONResponse({"invitation": {**invitation, "status": "pending"}}, status_code=202)


async def list_course_invitations(request: Request, user: UserRecord) -> Response:
    """GET /api/courses/{id}/invitations: pending invitations; tutors and instructors."""
    course_id = _path_int(request, "course_id")
    await _authz.require_course_role(user, course_id)
    invitations = await services.list_course_invitations(course_id)
    return JSONResponse(
        {
            "invitations": [
                {
                    "email": item.email,
                    "role": item.role.value,
                    "created_at": to_json(item.created_at),
                }
                for item in invitations
            ]
        }
    )


async def my_invitations(request: Request, user: UserRecord) -> Response:
    """GET /api/invitations: the invitations addressed to the signed-in user."""
    return JSONResponse({"invitations": to_json(await services.list_invitations(user.id))})


async def accept_invitation(request: Request, user: UserRecord) -> Response:
    """POST /api/invitations/{id}/accept: join the course with the invitation's role."""
    record = await services.accept_invitation(_path_int(request, "invitation_id"), user.id)
    return JSONResponse({"enrollment": to_json(record)})


async def decline_invitation(request: Request, user: UserRecord) -> Response:
    """POST /api/invitations/{id}/decline: refuse it; the inviter is not told who declined."""
    await services.decline_invitation(_path_int(request, "invitation_id"), user.id)
    return Response(status_code=204)


async def change_role(request: Request, user: UserRecord) -> Response:
    """PUT /api/courses/{id}/enrollments/{user_id}: ``{"role"}``; instructors only."""
    course_id = _path_int(request, "course_id")
    await _authz.require_course_role(user, course_id, instructor=True)
    body = await _json_body(request)
    record = await services.change_role(
        course_id, _path_int(request, "user_id"), _field(body, "role", str)
    )
    return JSONResponse({"enrollment": to_json(record)})


def api_routes(settings: Settings) -> list[Route]:
    """The API's routes; uploads may be ``settings.max_upload_bytes`` large."""
    upload_limit = settings.max_upload_bytes + MULTIPART_OVERHEAD

    def read(path: str, endpoint: _Endpoint) -> Route:
        return Route(path, _authed(endpoint, csrf=False), methods=["GET"])

    def write(path: str, endpoint: _Endpoint, method: str, **options: Any) -> Route:
        return Route(path, _authed(endpoint, csrf=True), methods=[method], **options)

    return [
        Route("/api/session", sign_in_json, methods=["POST"]),
        write("/api/session", sign_out_json, "DELETE"),
        read("/api/me", me),
        read("/api/workspaces", list_workspaces),
        write("/api/workspaces", create_workspace, "POST"),
        read("/api/workspaces/{workspace_id:id}", get_workspace),
        write("/api/workspaces/{workspace_id:id}", delete_workspace, "DELETE"),
        read("/api/workspaces/{workspace_id:id}/documents", list_documents),
        write(
            "/api/workspaces/{workspace_id:id}/documents",
            upload_documents,
            "POST",
            max_body_size=upload_limit,
        ),
        read("/api/documents/{document_id:id}", get_document),
        write("/api/documents/{document_id:id}", delete_document, "DELETE"),
        read("/api/documents/{document_id:id}/highlights", list_highlights),
        write("/api/documents/{document_id:id}/highlights", add_highlight, "POST"),
        write("/api/highlights/{highlight_id:id}", delete_highlight, "DELETE"),
        write("/api/documents/{document_id:id}/exports", request_export, "POST"),
        read("/api/exports/{export_id:id}", get_export),
        read("/api/exports/{export_id:id}/pdf", download_export),
        write("/api/exports/{export_id:id}/cancel", cancel_export, "POST"),
        read("/api/courses", list_courses),
        write("/api/courses", create_course, "POST"),
        read("/api/courses/{course_id:id}", get_course),
        read("/api/courses/{course_id:id}/enrollments", list_enrollments),
        read("/api/courses/{course_id:id}/invitations", list_course_invitations),
        write("/api/courses/{course_id:id}/invitations", invite, "POST"),
        read("/api/invitations", my_invitations),
        write("/api/invitations/{invitation_id:id}/accept", accept_invitation, "POST"),
        write("/api/invitations/{invitation_id:id}/decline", decline_invitation, "POST"),
        write("/api/courses/{course_id:id}/enrollments/{user_id:id}", change_role, "PUT"),
    ]
