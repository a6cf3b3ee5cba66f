"""The server-rendered pages, requested in process against the test's sandbox database.

Each test drives ``create_app(settings)`` through httpx's ASGI transport, as a browser
would: it signs in with the form, keeps the session cookie, posts forms with their CSRF
token, and reads the HTML. The app's lifespan does not run (httpx does not send it), so
glossator's sessions stay on the sandbox that the folder's autouse fixture installs;
everything the pages do is rolled back after the test.

What is checked is what a user sees: redirects to sign in, empty states, error pages,
forms with the session's token, highlights drawn as marks, and every piece of text a
user controls (titles, names, comments, file names, document text) escaped.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio

from glossator import services
from glossator.db.models import SourceKind
from glossator.importers import normalize_html
from glossator.settings import Settings
from glossator.web import _page_index, _uploads, create_app
from glossator.web._offload import close_shared_pool
from glossator.web._page_index import INLINE_RENDER_BYTES
from glossator.web._pages import QUOTE_CHARS
from glossator.web.accounts import set_password

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

PASSWORD = "correct horse battery staple"  # noqa: S105 - test users only, rolled back
SECRET_KEY = "pages-test-secret-key-" + "k" * 32
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_MARK = re.compile(r'<mark class="hl (hl-\d)" data-highlights="([\d ]+)">([^<]*)</mark>')


@pytest_asyncio.fixture
async def open_client() -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """Opens clients of one app: each keeps its own cookies, like a browser of its own."""
    app = create_app(Settings(secret_key=SECRET_KEY))
    opened: list[httpx.AsyncClient] = []

    def open_one() -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.aclose()
    close_shared_pool()  # worker processes that imports and large pages started


@pytest.fixture
def client(open_client: Callable[[], httpx.AsyncClient]) -> httpx.AsyncClient:
    """A client that is not signed in."""
    return open_client()


def _csrf(page: httpx.Response) -> str:
    """The session's CSRF token, from the page's ``<meta name="csrf-token">``."""
    found = _META_CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


async def _sign_in(client: httpx.AsyncClient, email: str, *, next_page: str = "/") -> str:
    """Sign in through the form (password ``PASSWORD``); return the new session's token."""
    form = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "csrf_token": _csrf(form),
            "email": email,
            "password": PASSWORD,
            "next": next_page,
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == next_page
    return _csrf(await client.get("/workspaces"))


async def _user(email: str, display_name: str | None = None) -> services.UserRecord:
    """A user who can sign in with ``PASSWORD`` (an existing one keeps their name)."""
    return await set_password(email, PASSWORD, display_name)


def _document_part(page: httpx.Response) -> str:
    """The ``<article id="document">`` element's content."""
    return page.text.split('id="document"', 1)[1].split("</article>", 1)[0]


class TestSignIn:
    async def test_the_form_carries_the_token_and_only_a_local_next_page(
        self, client: httpx.AsyncClient
    ) -> None:
        """The hidden token is the session's; ``next`` survives only as a path on this site."""
        page = await client.get("/login", params={"next": "/documents/3"})
        assert page.status_code == 200
        token = _csrf(page)
        assert f'<input type="hidden" name="csrf_token" value="{token}">' in page.text
        assert '<input type="hidden" name="next" value="/documents/3">' in page.text
        assert 'id="signed-in-as"' not in page.text
        for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            page = await client.get("/login", params={"next": elsewhere})
            assert '<input type="hidden" name="next" value="/workspaces">' in page.text
            assert "evil" not in page.text

    async def test_a_wrong_password_shows_the_form_again_with_401(
        self, client: httpx.AsyncClient, student: services.UserRecord
    ) -> None:
        """The error names neither which part was wrong nor starts a session."""
        await _user(student.email)
        form = await client.get("/login")
        response = await client.post(
            "/login",
            data={"csrf_token": _csrf(form), "email": student.email, "password": "not it at all"},
        )
        assert response.status_code == 401
        assert 'id="login-error">Wrong e-mail or password.</p>' in response.text
        assert 'id="login-form"' in response.text
        after = await client.get("/workspaces")
        assert after.status_code == 303
        assert after.headers["location"] == "/login?next=/workspaces"

    async def test_a_form_without_its_token_gets_the_403_page(
        self, client: httpx.AsyncClient, student: services.UserRecord
    ) -> None:
        """Posting the sign-in form without the CSRF token is refused with an error page."""
        await _user(student.email)
        response = await client.post("/login", data={"email": student.email, "password": PASSWORD})
        assert response.status_code == 403
        assert '<h1 id="error-status">403</h1>' in response.text
        assert "missing its CSRF token; reload the page" in response.text
        assert (await client.get("/workspaces")).status_code == 303

    async def test_signing_in_goes_to_next_and_escapes_who_is_signed_in(
        self, client: httpx.AsyncClient
    ) -> None:
        """The header shows the user's name and address, as text even when it looks like HTML."""
        await _user("mallory@example.org", '<b onclick="x()">Mallory</b>')
        await _sign_in(client, "mallory@example.org", next_page="/workspaces?from=login")
        page = await client.get("/workspaces")
        assert (
            '<span class="who" id="signed-in-as">&lt;b onclick=&#34;x()&#34;&gt;Mallory&lt;/b&gt;'
            " &lt;mallory@example.org&gt;</span>"
        ) in page.text
        assert "<b onclick" not in page.text
        home = await client.get("/")
        assert (home.status_code, home.headers["location"]) == (303, "/workspaces")

    async def test_pages_without_a_session_redirect_to_sign_in_with_next(
        self, client: httpx.AsyncClient
    ) -> None:
        """The page asked for, query included, comes back as ``next``; ``/`` goes to sign in."""
        response = await client.get("/documents/7", params={"x": "1"})
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/documents/7%3Fx%3D1"
        home = await client.get("/")
        assert (home.status_code, home.headers["location"]) == (303, "/login")

    async def test_signing_out_needs_the_token_and_ends_the_session(
        self, client: httpx.AsyncClient, student: services.UserRecord
    ) -> None:
        """A sign-out without the token is refused; with it, pages redirect to sign in again."""
        await _user(student.email)
        token = await _sign_in(client, student.email)
        refused = await client.post("/logout", data={"csrf_token": "forged"})
        assert refused.status_code == 403
        assert (await client.get("/workspaces")).status_code == 200
        response = await client.post("/logout", data={"csrf_token": token})
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        assert (await client.get("/workspaces")).status_code == 303


class TestWorkspacePages:
    async def test_a_new_user_sees_the_empty_state_and_the_create_form(
        self, client: httpx.AsyncClient
    ) -> None:
        """No workspaces yet: a sentence saying so, and the form with the session's token."""
        await _user("newcomer@example.org", "New Comer")
        token = await _sign_in(client, "newcomer@example.org")
        page = await client.get("/workspaces")
        assert page.status_code == 200
        assert '<p id="no-workspaces">You have no workspaces yet.</p>' in page.text
        assert 'id="workspace-list"' not in page.text
        form = page.text.split('id="new-workspace"', 1)[1].split("</form>", 1)[0]
        assert f'name="csrf_token" value="{token}"' in form
        assert page.headers["cache-control"] == "no-store"

    async def test_a_workspace_made_with_the_form_shows_its_title_as_text(
        self, client: httpx.AsyncClient
    ) -> None:
        """A title with markup is escaped in the list, the heading and the page title."""
        await _user("owner@example.org", "Owner")
        token = await _sign_in(client, "owner@example.org")
        title = '<script>alert("ws")</script>'
        response = await client.post("/workspaces", data={"csrf_token": token, "title": title})
        assert response.status_code == 303
        location = response.headers["location"]
        assert re.fullmatch(r"/workspaces/\d+", location)
        escaped = "&lt;script&gt;alert(&#34;ws&#34;)&lt;/script&gt;"

        page = await client.get(location)
        assert page.status_code == 200
        assert f'<h1 id="workspace-heading">{escaped}</h1>' in page.text
        assert f"<title>{escaped} · Glossator</title>" in page.text
        assert "<p>No documents yet.</p>" in page.text
        upload_form = page.text.split('id="upload-form"', 1)[0].rsplit("<form", 1)[1]
        assert f'action="{location}/documents"' in upload_form
        listing = await client.get("/workspaces")
        assert f'<a href="{location}">{escaped}</a>' in listing.text
        assert 'class="badge">course workspace' not in listing.text
        for served in (page.text, listing.text):
            assert "<script>alert" not in served

    async def test_a_blank_title_shows_the_form_again_with_the_error(
        self, client: httpx.AsyncClient
    ) -> None:
        """The service's validation message is shown on the list page, with 422."""
        await _user("owner@example.org")
        token = await _sign_in(client, "owner@example.org")
        response = await client.post("/workspaces", data={"csrf_token": token, "title": "   "})
        assert response.status_code == 422
        assert '<p class="error" role="alert">workspace title must not be empty</p>' in (
            response.text
        )
        assert 'id="new-workspace"' in response.text

    async def test_tutors_see_course_workspaces_marked_and_cannot_upload(
        self,
        open_client: Callable[[], httpx.AsyncClient],
        student: services.UserRecord,
        tutor: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """A tutor's list marks a student's workspace; only its owner gets the upload form."""
        await _user(tutor.email)
        await _user(student.email)
        as_tutor, as_student = open_client(), open_client()
        await _sign_in(as_tutor, tutor.email)
        await _sign_in(as_student, student.email)
        link = f'<a href="/workspaces/{workspace.id}">Essay drafts</a>'

        tutor_list = (await as_tutor.get("/workspaces")).text
        assert link in tutor_list
        assert '<span class="badge">course workspace</span>' in tutor_list
        tutor_page = await as_tutor.get(f"/workspaces/{workspace.id}")
        assert tutor_page.status_code == 200
        assert '<h1 id="workspace-heading">Essay drafts</h1>' in tutor_page.text
        assert 'id="upload-form"' not in tutor_page.text

        student_list = (await as_student.get("/workspaces")).text
        assert link in student_list
        assert "course workspace" not in student_list
        student_page = await as_student.get(f"/workspaces/{workspace.id}")
        assert 'id="upload-form"' in student_page.text

    async def test_someone_elses_workspace_is_a_404_page_that_leaks_nothing(
        self, client: httpx.AsyncClient, workspace: services.WorkspaceRecord
    ) -> None:
        """Not visible is reported exactly as missing: 404, no title, the user still shown."""
        await _user("outsider@example.org", "Out Sider")
        await _sign_in(client, "outsider@example.org")
        for workspace_id in (workspace.id, workspace.id + 100_000):
            page = await client.get(f"/workspaces/{workspace_id}")
            assert page.status_code == 404
            assert '<h1 id="error-status">404</h1>' in page.text
            assert f'<p id="error-message">workspace {workspace_id} does not exist</p>' in (
                page.text
            )
            assert "Essay drafts" not in page.text
            assert "Out Sider" in page.text


class TestDocumentPage:
    async def test_overlapping_highlights_are_marked_and_listed(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        tutor: services.UserRecord,
        workspace: services.WorkspaceRecord,
        document: services.DocumentRecord,
    ) -> None:
        """Two overlapping highlights: three marks in the text, two entries in the sidebar."""
        first = await services.add_highlight(
            document.id, student.id, 4, 15, "claim", comment="<b>why</b> quick?"
        )
        second = await services.add_highlight(document.id, tutor.id, 10, 19, "evidence")
        await _user(student.email)
        await _sign_in(client, student.email)

        page = await client.get(f"/documents/{document.id}")

        assert page.status_code == 200
        content = _document_part(page)
        assert content.startswith(f' data-document-id="{document.id}"><p><span class="t" ')
        assert _MARK.findall(content) == [
            ("hl-1", f"{first.id}", "quick "),
            ("hl-2", f"{first.id} {second.id}", "brown"),
            ("hl-1", f"{second.id}", " fox"),
        ]
        # Each label is on the page once, in the list the script builds tooltips from.
        label = "claim: &lt;b&gt;why&lt;/b&gt; quick?"
        assert page.text.count(label) == 1
        assert f'data-highlight-id="{first.id}" data-label="{label}"' in page.text
        assert f'data-highlight-id="{second.id}" data-label="evidence"' in page.text
        assert "<h2>Highlights (2)</h2>" in page.text
        assert '<q class="quote">quick brown</q>' in page.text
        assert '<q class="quote">brown fox</q>' in page.text
        assert '<p class="comment">&lt;b&gt;why&lt;/b&gt; quick?</p>' in page.text
        assert '<p class="meta">Stu Dent</p>' in page.text
        assert '<p class="meta">Tu Tor</p>' in page.text
        assert f'data-highlight-id="{second.id}"' in page.text
        assert "<b>why</b>" not in page.text
        assert f'<a href="/workspaces/{workspace.id}">Essay drafts</a>' in page.text

    async def test_a_document_without_highlights_has_spans_and_no_marks(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        document: services.DocumentRecord,
    ) -> None:
        """The whole sentence is one span from offset 0; the sidebar counts no highlights."""
        await _user(student.email)
        await _sign_in(client, student.email)
        page = await client.get(f"/documents/{document.id}")
        assert (
            '<p><span class="t" data-start="0">The quick brown fox jumps over the lazy dog.'
            "</span></p>"
        ) in _document_part(page)
        assert "<mark" not in page.text
        assert "<h2>Highlights (0)</h2>" in page.text

    async def test_hostile_titles_and_text_are_shown_as_text(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """Markup in a title or in the document's text never becomes markup on the page."""
        imported = normalize_html(
            "<p>Literal &lt;script&gt;alert(1)&lt;/script&gt; here.</p>"
            "<script>alert(2)</script><p><a href='javascript:alert(3)'>a link</a></p>"
        )
        stored = await services.add_document(
            workspace.id,
            "<img src=x onerror=alert(4)>",
            SourceKind.HTML,
            imported.html,
            imported.plain_text,
        )
        await _user(student.email)
        await _sign_in(client, student.email)

        page = await client.get(f"/documents/{stored.id}")

        assert page.status_code == 200
        heading = "&lt;img src=x onerror=alert(4)&gt;"
        assert f'<h1 id="document-heading">{heading}</h1>' in page.text
        assert f"<title>{heading} · Glossator</title>" in page.text
        content = _document_part(page)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
        assert 'data-start="0">Literal ' in content
        assert "<script" not in content  # the page's own script tag is in its head
        for unwanted in ("alert(2)", "javascript:", "<img"):
            assert unwanted not in page.text

    async def test_documents_the_user_may_not_see_are_404_pages(
        self, client: httpx.AsyncClient, document: services.DocumentRecord
    ) -> None:
        """Another user's document and a missing one look the same, and show nothing of it."""
        await _user("outsider@example.org")
        await _sign_in(client, "outsider@example.org")
        for document_id in (document.id, document.id + 100_000):
            page = await client.get(f"/documents/{document_id}")
            assert page.status_code == 404
            assert f"document {document_id} does not exist" in page.text
            assert "quick brown fox" not in page.text
            assert "Essay drafts" not in page.text


class TestUploadForm:
    async def test_an_uploaded_html_file_opens_as_a_document(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """The owner's upload is sanitised and stored; the browser lands on its page."""
        await _user(student.email)
        token = await _sign_in(client, student.email)
        upload = (
            b"<html><head><title>Field notes</title></head><body><h2>Day 1</h2>"
            b"<p>Rain &amp; wind.</p><script>steal()</script></body></html>"
        )
        response = await client.post(
            f"/workspaces/{workspace.id}/documents",
            data={"csrf_token": token, "kind": "", "title": ""},
            files={"file": ("notes.html", upload, "text/html")},
        )
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert re.fullmatch(r"/documents/\d+", location)

        page = await client.get(location)
        assert '<h1 id="document-heading">Field notes</h1>' in page.text
        assert _document_part(page).endswith(
            '<h2><span class="t" data-start="0">Day 1</span></h2>'
            '<p><span class="t" data-start="6">Rain &amp; wind.</span></p>'
        )
        assert "steal()" not in page.text
        listing = (await client.get(f"/workspaces/{workspace.id}")).text
        assert f'<li><a href="{location}">Field notes</a> <span class="badge">html</span>' in (
            listing
        )

    async def test_a_file_that_cannot_be_imported_shows_the_workspace_with_the_error(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """An HTML file that is not UTF-8: 422, the reason above the form, nothing stored."""
        await _user(student.email)
        token = await _sign_in(client, student.email)
        response = await client.post(
            f"/workspaces/{workspace.id}/documents",
            data={"csrf_token": token},
            files={"file": ("latin1.html", "<p>Café</p>".encode("latin-1"), "text/html")},
        )
        assert response.status_code == 422
        assert 'id="upload-error">the HTML file is not UTF-8 text' in response.text
        assert '<h1 id="workspace-heading">Essay drafts</h1>' in response.text
        assert "<p>No documents yet.</p>" in response.text
        assert 'id="upload-form"' in response.text

    async def test_a_file_of_unknown_kind_gets_an_error_page_naming_it_as_text(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """The file name is in the message, escaped; nothing is stored."""
        await _user(student.email)
        token = await _sign_in(client, student.email)
        response = await client.post(
            f"/workspaces/{workspace.id}/documents",
            data={"csrf_token": token},
            files={"file": ("<img src=x onerror=alert(5)>.txt", b"plain words", "text/plain")},
        )
        assert response.status_code == 422
        assert '<h1 id="error-status">422</h1>' in response.text
        assert "cannot tell what &#39;&lt;img src=x onerror=alert(5)&gt;.txt&#39; is" in (
            response.text
        )
        assert "<img" not in response.text
        assert await services.list_documents(workspace.id) == []

    async def test_only_the_owner_may_upload(
        self,
        client: httpx.AsyncClient,
        tutor: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """A tutor sees the workspace but gets 403 when posting a file to it."""
        await _user(tutor.email)
        token = await _sign_in(client, tutor.email)
        response = await client.post(
            f"/workspaces/{workspace.id}/documents",
            data={"csrf_token": token},
            files={"file": ("notes.html", b"<p>mine now</p>", "text/html")},
        )
        assert response.status_code == 403
        assert "only the workspace&#39;s owner may change its documents" in response.text
        assert await services.list_documents(workspace.id) == []


class TestHostileContent:
    """Issue 17: uploads and documents made to hold the server up."""

    async def test_a_title_that_never_closes_imports_at_once(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """``"<title>" * 16000`` (112 KB) held every request for half a minute; now quick."""
        await _user(student.email)
        token = await _sign_in(client, student.email)
        response = await client.post(
            f"/workspaces/{workspace.id}/documents",
            data={"csrf_token": token},
            files={"file": ("titles.html", b"<title>" * 16_000, "text/html")},
        )
        assert response.status_code == 303, response.text
        (stored,) = await services.list_documents(workspace.id)
        assert stored.title == "titles"

    async def test_an_import_past_its_time_limit_is_a_422_and_others_are_served_meanwhile(
        self,
        open_client: Callable[[], httpx.AsyncClient],
        student: services.UserRecord,
        workspace: services.WorkspaceRecord,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Deeply nested HTML keeps the sanitiser busy; the worker is stopped after the
        limit, the user is told, nothing is stored, and other requests are answered
        while it runs."""
        monkeypatch.setattr(_uploads, "IMPORT_TIME_LIMIT", 2.0)
        uploader, bystander = open_client(), open_client()
        await _user(student.email)
        token = await _sign_in(uploader, student.email)
        upload = asyncio.create_task(
            uploader.post(
                f"/workspaces/{workspace.id}/documents",
                data={"csrf_token": token},
                files={"file": ("nested.html", b"<div>" * 200_000, "text/html")},
            )
        )
        answered_meanwhile = 0
        while not upload.done():
            page = await bystander.get("/login")
            assert page.status_code == 200
            if not upload.done():
                answered_meanwhile += 1
            await asyncio.sleep(0.05)
        response = await upload
        assert response.status_code == 422
        assert "importing &#39;nested.html&#39; took longer than 2 s" in response.text
        assert answered_meanwhile >= 5
        assert await services.list_documents(workspace.id) == []

    async def test_a_large_document_is_shown_a_page_at_a_time(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """Each page holds a bounded part of the text, with offsets of the whole document."""
        paragraphs = "".join(
            f"<section><p>Paragraph {number} of a long <b>judgment</b>.</p></section>"
            for number in range(12_000)
        )
        imported = normalize_html(f"<article>{paragraphs}</article>")
        assert len(imported.html) > INLINE_RENDER_BYTES  # rendered in a worker
        stored = await services.add_document(
            workspace.id, "Long", SourceKind.HTML, imported.html, imported.plain_text
        )
        highlight = await services.add_highlight(
            stored.id, student.id, len(imported.plain_text) - 20, len(imported.plain_text), "q"
        )
        await _user(student.email)
        await _sign_in(client, student.email)

        first = await client.get(f"/documents/{stored.id}")
        assert first.status_code == 200
        count = int(re.search(r"Page 1 of (\d+)", first.text).group(1))  # type: ignore[union-attr] # asserted by int()
        assert count > 2
        assert len(first.text) < len(imported.html) / 2
        assert 'rel="next"' in first.text
        assert 'rel="prev"' not in first.text
        assert "<mark" not in _document_part(first)
        assert f'data-highlight-id="{highlight.id}"' in first.text  # listed on every page

        last = await client.get(f"/documents/{stored.id}", params={"page": "9999"})
        assert f"Page {count} of {count}" in last.text
        content = last.text.split('id="document"', 1)[1].split("</article>\n", 1)[0]
        # The elements open at the cut are opened again, and closed at the page's end.
        assert content.startswith(f' data-document-id="{stored.id}"><article><section><p>')
        assert content.endswith("</p></section></article>")
        starts = [int(start) for start in re.findall(r'data-start="(\d+)"', content)]
        assert min(starts) > len(imported.plain_text) // 2
        assert {ids for _, ids, _ in _MARK.findall(content)} == {str(highlight.id)}
        for page_number in ("0", "-3", "x"):
            page = await client.get(f"/documents/{stored.id}", params={"page": page_number})
            assert f"Page 1 of {count}" in page.text

    async def test_a_large_upload_gets_its_page_index_in_the_background(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """The upload answers; its first view waits for the index the upload started."""
        await _user(student.email)
        token = await _sign_in(client, student.email)
        body = "".join(f"<p>Paragraph {number} of the upload.</p>" for number in range(12_000))
        response = await client.post(
            f"/workspaces/{workspace.id}/documents",
            data={"csrf_token": token},
            files={"file": ("big.html", body.encode(), "text/html")},
        )
        assert response.status_code == 303, response.text
        document_id = int(response.headers["location"].rsplit("/", 1)[1])
        page = await client.get(response.headers["location"], params={"page": "2"})
        assert page.status_code == 200
        assert "Page 2 of " in page.text
        assert _page_index._remembered(document_id) is not None
        assert document_id not in _page_index._warming

    async def test_nested_highlights_with_long_comments_list_each_comment_once(
        self,
        client: httpx.AsyncClient,
        student: services.UserRecord,
        workspace: services.WorkspaceRecord,
    ) -> None:
        """150 nested highlights, 1,000-character comments: was a 23 MB page."""
        words = " ".join(f"word{number}" for number in range(2_000))
        imported = normalize_html(f"<p>{words}</p>")
        stored = await services.add_document(
            workspace.id, "Nested", SourceKind.HTML, imported.html, imported.plain_text
        )
        length = len(imported.plain_text)
        for number in range(150):
            comment = f"comment {number:03d} " + "x" * 988
            await services.add_highlight(
                stored.id, student.id, number * 10, length - number * 10, "claim", comment=comment
            )
        await _user(student.email)
        await _sign_in(client, student.email)

        page = await client.get(f"/documents/{stored.id}")

        assert page.status_code == 200
        assert len(page.text) < 1_500_000
        for number in range(150):
            # Once in the list item's data-label, once shown as the comment.
            assert page.text.count(f"comment {number:03d} ") == 2
        assert '<q class="quote">word0 word1' in page.text
        assert max(
            len(quote) for quote in re.findall(r'<q class="quote">([^<]*)</q>', page.text)
        ) <= (QUOTE_CHARS + 1)
