"""Server-rendered pages: sign in, my workspaces, a workspace, a document.

Pages use plain HTML forms (each with the session's CSRF token) and the JSON API from
``static/app.js`` (highlights, export progress). A page the user may not see answers
404 with no data; without a session, pages redirect to ``/login?next=...``.

The document page shows one page of the document (``?page=N``, about
:data:`~glossator.web._render.PAGE_TEXT_CHARS` characters of text each) and every
highlight once, in the sidebar, with its quote cut to :data:`QUOTE_CHARS` characters.
Large documents are rendered in a worker process (:mod:`glossator.web._page_index`), so
they never hold up other requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from glossator import services
from glossator.errors import ValidationError
from glossator.web import _authz
from glossator.web._input import check_form
from glossator.web._page_index import render_page
from glossator.web._render import MarkRange
from glossator.web._security import (
    CSRF_FORM_FIELD,
    check_csrf,
    csrf_token,
    current_user,
    require_user,
    sign_in,
    sign_out,
)
from glossator.web._throttle import authenticate_request
from glossator.web._uploads import read_upload, store_upload

if TYPE_CHECKING:
    from starlette.requests import Request

    from glossator.services import UserRecord
    from glossator.settings import Settings

__all__ = ["QUOTE_CHARS", "page_routes", "safe_next"]

_DEFAULT_PAGE = "/workspaces"
#: The longest quote shown per highlight in the sidebar (a highlight may cover a book).
QUOTE_CHARS: Final = 300


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the default page (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return _DEFAULT_PAGE
    return target


def _render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    templates = request.app.state.templates
    context = {"csrf_token": csrf_token(request), **context}
    response: Response = templates.TemplateResponse(
        request, template, context, status_code=status_code
    )
    return response


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def home(request: Request) -> Response:
    """GET /: my workspaces, or the sign-in page."""
    return _see_other(_DEFAULT_PAGE if await current_user(request) else "/login")


async def login_page(request: Request) -> Response:
    """GET /login."""
    next_page = safe_next(request.query_params.get("next"))
    return _render(request, "login.html", {"next": next_page, "error": None, "user": None})


async def login_submit(request: Request) -> Response:
    """POST /login: check the form's CSRF token and the password; start a session."""
    async with request.form(max_files=0, max_fields=10) as form:
        check_csrf(request, _text(form.get(CSRF_FORM_FIELD)))
        check_form(form)
        email = _text(form.get("email"))
        password = _text(form.get("password"))
        next_page = safe_next(_text(form.get("next")))
    user = await authenticate_request(request, email, password)
    if user is None:
        context = {"next": next_page, "error": "Wrong e-mail or password.", "user": None}
        return _render(request, "login.html", context, status_code=401)
    await sign_in(request, user)
    return _see_other(next_page)


async def logout_submit(request: Request) -> Response:
    """POST /logout."""
    async with request.form(max_files=0, max_fields=5) as form:
        check_csrf(request, _text(form.get(CSRF_FORM_FIELD)))
    await sign_out(request)
    return _see_other("/login")


async def workspaces_page(request: Request) -> Response:
    """GET /workspaces: the workspaces the user sees, and a form to create one."""
    user = await require_user(request)
    return await _workspaces(request, user)


async def _workspaces(
    request: Request, user: UserRecord, *, error: str | None = None, status_code: int = 200
) -> Response:
    workspaces = await services.list_workspaces_for_user(user.id)
    context = {"user": user, "workspaces": workspaces, "error": error}
    return _render(request, "workspaces.html", context, status_code=status_code)


async def workspace_create(request: Request) -> Response:
    """POST /workspaces: create a workspace owned by the user."""
    user = await require_user(request)
    async with request.form(max_files=0, max_fields=5) as form:
        check_csrf(request, _text(form.get(CSRF_FORM_FIELD)))
        check_form(form)
        title = _text(form.get("title"))
    try:
        workspace = await services.create_workspace(user.id, title)
    except ValidationError as error:
        return await _workspaces(request, user, error=str(error), status_code=422)
    return _see_other(f"/workspaces/{workspace.id}")


async def workspace_page(request: Request) -> Response:
    """GET /workspaces/{id}: its documents, and an upload form for its owner."""
    user = await require_user(request)
    return await _workspace(request, user, request.path_params["workspace_id"])


async def _workspace(
    request: Request,
    user: UserRecord,
    workspace_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    workspace = await _authz.visible_workspace(user, workspace_id)
    documents = await services.list_documents(workspace.id)
    context = {
        "user": user,
        "workspace": workspace,
        "documents": documents,
        "is_owner": workspace.owner_id == user.id,
        "error": error,
    }
    return _render(request, "workspace.html", context, status_code=status_code)


async def document_upload(request: Request) -> Response:
    """POST /workspaces/{id}/documents: import an uploaded file (owner only)."""
    user = await require_user(request)
    workspace = await _authz.visible_workspace(
        user, request.path_params["workspace_id"], manage=True
    )
    settings: Settings = request.app.state.settings
    async with request.form(
        max_files=1, max_fields=10, max_part_size=settings.max_upload_bytes
    ) as form:
        check_csrf(request, _text(form.get(CSRF_FORM_FIELD)))
        check_form(form)
        upload = await read_upload(form)
    try:
        documents = await store_upload(workspace.id, upload, settings)
    except ValidationError as error:
        return await _workspace(request, user, workspace.id, error=str(error), status_code=422)
    return _see_other(f"/documents/{documents[0].id}")


async def document_page(request: Request) -> Response:
    """GET /documents/{id}?page=N: a page of the document with its highlights."""
    user = await require_user(request)
    document, workspace = await _authz.visible_document(user, request.path_params["document_id"])
    highlights = await services.list_highlights(document.id)
    authors = {
        author_id: (await services.get_user(author_id)).display_name
        for author_id in {highlight.author_id for highlight in highlights}
    }
    rendered = await render_page(
        document.id,
        document.html,
        document.plain_text,
        [MarkRange(h.id, h.start_offset, h.end_offset) for h in highlights],
        _page_number(request.query_params.get("page")),
    )
    context = {
        "user": user,
        "workspace": workspace,
        "document": document,
        "content": rendered.html,
        "page": rendered,
        "highlights": [
            {
                "record": highlight,
                "author": authors[highlight.author_id],
                "quote": _quote(document.plain_text, highlight.start_offset, highlight.end_offset),
                "label": ": ".join(filter(None, (highlight.tag, highlight.comment))),
                "on_page": highlight.start_offset < rendered.end
                and highlight.end_offset > rendered.start,
            }
            for highlight in highlights
        ],
    }
    return _render(request, "document.html", context)


def _page_number(value: str | None) -> int:
    """``?page=`` as a number from 1; anything else is page 1 (past the end: the last)."""
    if value is None or not value.isdecimal() or len(value) > 9:
        return 1
    return max(1, int(value))


def _quote(text: str, start: int, end: int) -> str:
    quote = text[start : min(end, start + QUOTE_CHARS)]
    return quote + "…" if end - start > QUOTE_CHARS else quote


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def page_routes(settings: Settings) -> list[Route]:
    """The pages' routes; the upload form may post ``settings.max_upload_bytes``."""
    upload_limit = settings.max_upload_bytes + 64 * 1024
    return [
        Route("/", home, methods=["GET"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout_submit, methods=["POST"]),
        Route("/workspaces", workspaces_page, methods=["GET"]),
        Route("/workspaces", workspace_create, methods=["POST"]),
        Route("/workspaces/{workspace_id:id}", workspace_page, methods=["GET"]),
        Route(
            "/workspaces/{workspace_id:id}/documents",
            document_upload,
            methods=["POST"],
            max_body_size=upload_limit,
        ),
        Route("/documents/{document_id:id}", document_page, methods=["GET"]),
    ]
