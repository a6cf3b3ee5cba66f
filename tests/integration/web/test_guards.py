"""Hostile and careless users, through the API in process: bad input is a 4xx, hidden
things cost what missing ones cost, archived courses are read-only, and an outage or a
failed export shows users nothing internal (issue 17, findings 8 to 11).
"""

from __future__ import annotations

import json
import socket
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import glossator.db
from glossator import db, services
from glossator.db.models import EnrollmentRole, ExportJob, ExportJobStatus
from glossator.web.accounts import set_password

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from tests.integration.web.conftest import ApiSignIn, OpenClient

PASSWORD = "correct horse battery staple"  # noqa: S105 - test users only, rolled back


async def _signed_in(api_sign_in: ApiSignIn, label: str) -> tuple[services.UserRecord, Any]:
    user = await set_password(f"{label}-{uuid.uuid4().hex[:8]}@example.org", PASSWORD, label)
    return user, await api_sign_in(user.email, PASSWORD)


async def _post_raw(client: httpx.AsyncClient, path: str, body: str) -> httpx.Response:
    """POST a JSON text as written (escapes such as \\u0000 stay escapes)."""
    return await client.post(
        path, content=body.encode(), headers={"content-type": "application/json"}
    )


@pytest_asyncio.fixture
async def owned(api_sign_in: ApiSignIn) -> dict[str, Any]:
    """An owner with a workspace, a document, a highlight and an export, and their client."""
    owner, client = await _signed_in(api_sign_in, "owner")
    workspace = (await client.post("/api/workspaces", json={"title": "Mine"})).json()["workspace"]
    uploaded = await client.post(
        f"/api/workspaces/{workspace['id']}/documents",
        files={"file": ("a.html", b"<p>" + b"Secret words here. " * 2000 + b"</p>")},
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()["documents"][0]
    highlight = await client.post(
        f"/api/documents/{document['id']}/highlights", json={"start": 0, "end": 6, "tag": "t"}
    )
    export = await client.post(f"/api/documents/{document['id']}/exports")
    return {
        "owner": owner,
        "client": client,
        "workspace": workspace,
        "document": document,
        "highlight": highlight.json()["highlight"],
        "export": export.json()["export"],
    }


class TestBadInputIsA4xx:
    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("/api/workspaces", '{"title": "a\\u0000b"}'),
            ("/api/workspaces", '{"title": "lone \\ud800 surrogate"}'),
            ("/api/courses", '{"code": "C\\u0000", "title": "x"}'),
            ("/api/courses", '{"code": "C1", "title": "\\udfff"}'),
            ("/api/documents/{document}/highlights",
             '{"start": 0, "end": 3, "tag": "t\\u0000"}'),
            ("/api/documents/{document}/highlights",
             '{"start": 0, "end": 3, "tag": "t", "comment": "c\\ud83d"}'),
            ("/api/workspaces", '{"title": ' + "[" * 5000 + "]" * 5000 + "}"),
        ],
        ids=["title-nul", "title-surrogate", "code-nul", "course-title-surrogate", "tag-nul",
             "comment-surrogate", "deeply-nested"],
    )  # fmt: skip
    async def test_unstorable_json_strings_are_422_and_store_nothing(
        self, owned: dict[str, Any], path: str, body: str
    ) -> None:
        """The answer names the field; the owner's data is unchanged."""
        client = owned["client"]
        response = await _post_raw(client, path.format(document=owned["document"]["id"]), body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"]
        workspaces = await services.list_workspaces_for_user(owned["owner"].id)
        assert [w.title for w in workspaces] == ["Mine"]
        assert len(await services.list_highlights(owned["document"]["id"])) == 1

    @pytest.mark.parametrize(
        ("field", "filename", "value"),
        [("title", "a.html", b"x\x00y"), ("kind", "a.html", b"html\x00"),
         ("title", "a\x00b.html", b"ok")],
        ids=["title-nul", "kind-nul", "filename-nul"],
    )  # fmt: skip
    async def test_upload_form_fields_with_nul_are_422(
        self, owned: dict[str, Any], field: str, filename: str, value: bytes
    ) -> None:
        """Multipart fields and file names are checked before anything is imported or stored.

        The body is written by hand: httpx would percent-encode a NUL in a file name.
        """
        workspace_id = owned["workspace"]["id"]
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n'.encode()
            + value
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: text/html\r\n\r\n'.encode()
            + b"<p>hello</p>\r\n"
            + f"--{boundary}--\r\n".encode()
        )
        response = await owned["client"].post(
            f"/api/workspaces/{workspace_id}/documents",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 422, response.text
        assert "NUL" in response.json()["error"]["message"]
        assert len(await services.list_documents(workspace_id)) == 1

    @pytest.mark.parametrize(
        ("filename", "content"),
        [
            ("chat.json", json.dumps({"title": "t", "messages": [
                {"role": "user", "content": "before\u0000after"}]}).encode()),
            ("chat.json", b'{"title": "t", "messages": [{"role": "user", "content": "x\\ud800"}]}'),
            ("page.html", b"<p>nul \x00 byte</p>"),
        ],
        ids=["conversation-nul", "conversation-surrogate", "html-nul-byte"],
    )  # fmt: skip
    async def test_file_content_never_makes_a_500(
        self, owned: dict[str, Any], filename: str, content: bytes
    ) -> None:
        """The importers own file content; whatever they let through, the answer is not 5xx.

        Either the text is cleaned and stored (201) or refused (422); what reaches the
        database and cannot be stored is a 422 with a clear message too.
        """
        response = await owned["client"].post(
            f"/api/workspaces/{owned['workspace']['id']}/documents",
            files={"file": (filename, content)},
        )
        assert response.status_code in {201, 422}, response.text
        if response.status_code == 422:
            error = response.json()["error"]
            assert error["message"]
            for internal in ("asyncpg", "sqlalchemy", "Traceback", "DataError"):
                assert internal not in response.text

    async def test_a_page_form_with_nul_is_422(self, owned: dict[str, Any]) -> None:
        """``POST /workspaces`` (the page form) refuses it with the error page."""
        client = owned["client"]
        response = await client.post(
            "/workspaces",
            data={"csrf_token": client.headers["X-CSRF-Token"], "title": "bad\x00title"},
        )
        assert response.status_code == 422
        assert "NUL" in response.text

    async def test_ids_beyond_bigint_are_404_when_signed_in(self, owned: dict[str, Any]) -> None:
        """Every id route answers 404 for a 20-digit id instead of a database error."""
        client = owned["client"]
        too_big = "99999999999999999999"
        for path in (f"/api/documents/{too_big}", f"/api/highlights/{too_big}",
                     f"/api/exports/{too_big}/pdf", f"/documents/{too_big}"):  # fmt: skip
            response = await client.request("DELETE" if "highlights" in path else "GET", path)
            assert response.status_code == 404, (path, response.text)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL of every statement any engine of this process runs while the test runs."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _queries(seen: list[str]) -> list[str]:
    return [
        s for s in seen if s.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE"))
    ]


class TestHiddenCostsWhatMissingCosts:
    @pytest.mark.parametrize(
        ("path", "heavy"),
        [
            ("/api/documents/{document}", ("documents.html", "documents.plain_text")),
            ("/api/documents/{document}/highlights", ("documents.html", "highlights.comment")),
            ("/api/exports/{export}", ("export_jobs.last_error", "export_jobs.result")),
            ("/api/exports/{export}/pdf", ("export_jobs.result", "documents.html")),
        ],
    )
    async def test_a_hidden_id_runs_the_same_statements_as_a_missing_one(
        self,
        owned: dict[str, Any],
        api_sign_in: ApiSignIn,
        statements: list[str],
        path: str,
        heavy: tuple[str, ...],
    ) -> None:
        """One narrow query answers both with no row; no heavy column is ever read."""
        _, intruder = await _signed_in(api_sign_in, "intruder")
        hidden = path.format(document=owned["document"]["id"], export=owned["export"]["id"])
        missing = path.format(document=10**17, export=10**17)

        statements.clear()
        hidden_answer = await intruder.get(hidden)
        hidden_sql = _queries(statements)
        statements.clear()
        missing_answer = await intruder.get(missing)
        missing_sql = _queries(statements)

        assert hidden_answer.status_code == missing_answer.status_code == 404
        assert (
            hidden_answer.json()["error"]["message"].split(" ")[0]
            == (missing_answer.json()["error"]["message"].split(" ")[0])
        )
        assert hidden_sql == missing_sql
        assert not [s for s in hidden_sql if any(column in s for column in heavy)]

    async def test_the_capture_sees_heavy_columns_when_they_are_read(
        self, owned: dict[str, Any], statements: list[str]
    ) -> None:
        """The owner's read does load the HTML: the check above could fail."""
        statements.clear()
        response = await owned["client"].get(f"/api/documents/{owned['document']['id']}")
        assert response.status_code == 200
        assert any("documents.html" in s for s in _queries(statements))


class TestArchivedCoursesAreReadOnly:
    async def test_every_change_in_an_archived_course_is_409(self, api_sign_in: ApiSignIn) -> None:
        """Uploads, highlights, exports and deletions are refused; reading still works."""
        student, client = await _signed_in(api_sign_in, "student")
        course = await services.create_course(f"AR-{uuid.uuid4().hex[:8]}", "Archived")
        await services.enroll(course.id, student.id, EnrollmentRole.STUDENT)
        workspace = (
            await client.post("/api/workspaces", json={"title": "W", "course_id": course.id})
        ).json()["workspace"]
        document = (
            await client.post(
                f"/api/workspaces/{workspace['id']}/documents",
                files={"file": ("a.html", b"<p>Some text to mark.</p>")},
            )
        ).json()["documents"][0]
        highlight = (
            await client.post(
                f"/api/documents/{document['id']}/highlights",
                json={"start": 0, "end": 4, "tag": "t"},
            )
        ).json()["highlight"]
        await services.archive_course(course.id)

        attempts = {
            "upload": await client.post(
                f"/api/workspaces/{workspace['id']}/documents",
                files={"file": ("b.html", b"<p>more</p>")},
            ),
            "highlight": await client.post(
                f"/api/documents/{document['id']}/highlights",
                json={"start": 0, "end": 4, "tag": "t"},
            ),
            "export": await client.post(f"/api/documents/{document['id']}/exports"),
            "delete highlight": await client.delete(f"/api/highlights/{highlight['id']}"),
            "delete document": await client.delete(f"/api/documents/{document['id']}"),
            "delete workspace": await client.delete(f"/api/workspaces/{workspace['id']}"),
            "page upload": await client.post(
                f"/workspaces/{workspace['id']}/documents",
                data={"csrf_token": client.headers["X-CSRF-Token"]},
                files={"file": ("c.html", b"<p>more</p>")},
            ),
        }
        answers = {name: response.status_code for name, response in attempts.items()}
        assert answers == dict.fromkeys(attempts, 409)
        assert all("archived" in response.text for response in attempts.values())
        read = await client.get(f"/api/documents/{document['id']}")
        assert read.status_code == 200
        assert [h["id"] for h in read.json()["highlights"]] == [highlight["id"]]
        assert len(await services.list_documents(workspace["id"])) == 1


class TestNothingInternalIsShown:
    async def test_a_failed_export_shows_neither_worker_nor_log(
        self, owned: dict[str, Any]
    ) -> None:
        """Status answers carry a generic error, not the worker's host:pid or LaTeX lines."""
        export_id = owned["export"]["id"]
        async with db.session() as db_session:
            await db_session.execute(
                update(ExportJob)
                .where(ExportJob.id == export_id)
                .values(
                    status=ExportJobStatus.FAILED,
                    worker_id="build-host-7:4242",
                    last_error="! LaTeX Error: File `/srv/secret/x.sty' not found.",
                )
            )
            await db_session.commit()
        response = await owned["client"].get(f"/api/exports/{export_id}")
        assert response.status_code == 200
        export = response.json()["export"]
        assert export["status"] == "failed"
        assert "could not be made" in export["error"]
        for internal in ("build-host-7", "4242", "LaTeX", "/srv/secret", "worker_id", "last_error"):
            assert internal not in response.text

    async def test_a_database_outage_is_503_with_retry_after(
        self, open_api_client: OpenClient
    ) -> None:
        """Connection refused: 503, a clear message and Retry-After; no exception class names."""
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # The outage itself: an engine on a port nothing listens on, never connected.
        dead_url = f"postgresql+asyncpg://nobody@127.0.0.1:{port}/none"
        engine = create_async_engine(dead_url)  # pgsandbox-audit: allow engine-in-test
        try:
            with glossator.db.override_sessionmaker(async_sessionmaker(engine)):
                client = open_api_client()
                response = await client.post(
                    "/api/session", json={"email": "a@example.org", "password": "whatever1"}
                )
                health = await client.get("/healthz")
        finally:
            await engine.dispose()
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["type"] == "ServiceUnavailable"
        assert "database" in response.json()["error"]["message"]
        assert "Refused" not in response.text
        assert "Error" not in response.text
        assert health.status_code == 503
