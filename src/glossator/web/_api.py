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
from glossator.db.models import EnrollmentRole
from glossator.errors import NotFound, ValidationError
from glossator.web import _authz, accounts
from glossator.web._security import (
    CSRF_HEADER,
    check_csrf,
    csrf_token,
    require_user,
    sign_in,
    sign_out,
)
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
    """The request's JSON object; 415 unless it says ``application/json``."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise _UnsupportedMediaType
    try:
        body = await request.json()
    except ValueError:
        raise ValidationError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    # bool is an int in Python, never a valid offset or id here.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValidationError(f"field {name!r} must be a {kind.__name__}")
    return value


class _UnsupportedMediaType(ValidationError):
    """The body is not JSON (415)."""

    def __init__(self) -> None:
        super().__init__("send the body as JSON (Content-Type: application/json)")


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
    found = await accounts.authenticate(
        str(body.get("email") or ""), str(body.get("password") or "")
    )
    if found is None:
        return JSONResponse(
            {"error": {"type": "InvalidCredentials", "message": "wrong e-mail or password"}},
            status_code=401,
        )
    user, fingerprint = found
    token = sign_in(request, user, fingerprint)
    return JSONResponse({"user": _user_json(user), "csrf_token": token})


async def sign_out_json(request: Request, user: UserRecord) -> Response:
    """DELETE /api/session: sign out."""
    sign_out(request)
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
    document, _ = await _authz.visible_document(
        user, _path_int(request, "document_id"), manage=True
    )
    await services.delete_document(document.id)
    return Response(status_code=204)


async def list_highlights(request: Request, user: UserRecord) -> Response:
    """GET /api/documents/{id}/highlights."""
    document, _ = await _authz.visible_document(user, _path_int(request, "document_id"))
    return JSONResponse({"highlights": to_json(await services.list_highlights(document.id))})


async def add_highlight(request: Request, user: UserRecord) -> Response:
    """POST /api/documents/{id}/highlights: ``{"start", "end", "tag", "comment"?}``."""
    document, _ = await _authz.visible_document(user, _path_int(request, "document_id"))
    body = await _json_body(request)
    highlight = await services.add_highlight(
        document.id,
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
    document, _ = await _authz.visible_document(user, _path_int(request, "document_id"))
    job_id = await services.request_export(document.id, user.id)
    record = await services.get_export(job_id, user_id=user.id)
    return JSONResponse({"export": to_json(record)}, status_code=202)


async def get_export(request: Request, user: UserRecord) -> Response:
    """GET /api/exports/{id}: the job's status."""
    record = await _authz.visible_export(user, _path_int(request, "export_id"))
    return JSONResponse({"export": to_json(record)})


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
    return JSONResponse({"export": to_json(cancelled)})


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


async def enroll(request: Request, user: UserRecord) -> Response:
    """POST /api/courses/{id}/enrollments: ``{"email", "role"}``; instructors only."""
    course_id = _path_int(request, "course_id")
    await _authz.require_course_role(user, course_id, instructor=True)
    body = await _json_body(request)
    email = _field(body, "email", str)
    enrolled_user = await accounts.find_user_by_email(email)
    if enrolled_user is None:
        raise NotFound("user", email)
    record = await services.enroll(course_id, enrolled_user.id, _field(body, "role", str))
    return JSONResponse({"enrollment": to_json(record)}, status_code=201)


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
        read("/api/workspaces/{workspace_id:int}", get_workspace),
        write("/api/workspaces/{workspace_id:int}", delete_workspace, "DELETE"),
        read("/api/workspaces/{workspace_id:int}/documents", list_documents),
        write(
            "/api/workspaces/{workspace_id:int}/documents",
            upload_documents,
            "POST",
            max_body_size=upload_limit,
        ),
        read("/api/documents/{document_id:int}", get_document),
        write("/api/documents/{document_id:int}", delete_document, "DELETE"),
        read("/api/documents/{document_id:int}/highlights", list_highlights),
        write("/api/documents/{document_id:int}/highlights", add_highlight, "POST"),
        write("/api/highlights/{highlight_id:int}", delete_highlight, "DELETE"),
        write("/api/documents/{document_id:int}/exports", request_export, "POST"),
        read("/api/exports/{export_id:int}", get_export),
        read("/api/exports/{export_id:int}/pdf", download_export),
        write("/api/exports/{export_id:int}/cancel", cancel_export, "POST"),
        read("/api/courses", list_courses),
        write("/api/courses", create_course, "POST"),
        read("/api/courses/{course_id:int}", get_course),
        read("/api/courses/{course_id:int}/enrollments", list_enrollments),
        write("/api/courses/{course_id:int}/enrollments", enroll, "POST"),
        write("/api/courses/{course_id:int}/enrollments/{user_id:int}", change_role, "PUT"),
    ]
