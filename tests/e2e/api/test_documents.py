"""Workspaces, uploads (HTML, conversation exports, RTF), highlights and sanitising."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest

from glossator.importers import parse_export
from tests.e2e.api._helpers import GENERATED, create_workspace, upload, upload_fixture

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from tests.e2e.conftest import E2EUser

    MakeUser = Callable[[str], Awaitable[E2EUser]]
    SignIn = Callable[[E2EUser], Awaitable[httpx.AsyncClient]]

pytestmark = pytest.mark.pgsandbox(isolation="shared")

HOSTILE_HTML = b"""<html><head><title>Hostile</title><script>window.__xss = 1</script></head>
<body onload="window.__xss = 2"><h1>Harmless heading</h1>
<p>Text with an image <img src="x" onerror="window.__xss = 3"> and a
<a href="javascript:window.__xss = 4">bad link</a>.</p>
<svg><script>window.__xss = 5</script></svg>
<p style="background: url(javascript:alert(6))" onclick="window.__xss = 7">Last line.</p>
</body></html>"""


class TestWorkspaces:
    """A user creates workspaces and sees their own."""

    async def test_created_workspaces_are_listed_oldest_first(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """``POST /api/workspaces`` then ``GET``: both, in creation order, owned by the user."""
        user = await make_user("owner")
        client = await sign_in(user)
        first = await create_workspace(client, "First")
        second = await create_workspace(client, "Second")
        listed = (await client.get("/api/workspaces")).json()["workspaces"]
        assert [w["id"] for w in listed] == [first["id"], second["id"]]
        assert {w["owner_id"] for w in listed} == {user.id}

    async def test_an_empty_title_gets_422(self, make_user: MakeUser, sign_in: SignIn) -> None:
        """Validation errors of the services come back as 422 with their message."""
        client = await sign_in(await make_user("owner"))
        response = await client.post("/api/workspaces", json={"title": "   "})
        assert response.status_code == 422
        assert "title" in response.json()["error"]["message"]

    async def test_owner_deletes_a_workspace(self, make_user: MakeUser, sign_in: SignIn) -> None:
        """After ``DELETE`` the workspace is gone (404)."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Temporary")
        assert (await client.delete(f"/api/workspaces/{workspace['id']}")).status_code == 204
        assert (await client.get(f"/api/workspaces/{workspace['id']}")).status_code == 404


class TestUploads:
    """Uploads become sanitised documents through glossator's importers."""

    async def test_an_rtf_fixtures_html_keeps_its_text_and_structure(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """LibreOffice's HTML of headings.rtf: title from <title>, headings kept, styles gone."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Sources")
        document = await upload_fixture(client, workspace["id"], "rtf/headings.html")
        assert document["title"] == "Reading Primary Sources"
        assert document["source_kind"] == "html"
        assert "<h2>Before You Begin</h2>" in document["html"]
        assert "style=" not in document["html"]
        assert document["plain_text"].startswith("Reading Primary Sources\nThis guide explains")

    async def test_a_conversation_export_becomes_one_document_per_conversation(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """An OpenAI-messages batch export holds several conversations."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Chats")
        source = GENERATED.parent / "sources" / "conversations" / "openai_messages_batch.json"
        response = await upload(client, workspace["id"], source.name, source.read_bytes())
        assert response.status_code == 201, response.text
        documents = response.json()["documents"]
        conversations = parse_export(source.read_bytes())
        assert len(conversations) > 1
        # A conversation without a title is named after the file, numbered.
        assert [d["title"] for d in documents] == [
            c.title or f"openai_messages_batch ({number})"
            for number, c in enumerate(conversations, start=1)
        ]
        assert {d["source_kind"] for d in documents} == {"conversation"}
        assert all(d["plain_text"] for d in documents)

    async def test_a_malformed_conversation_export_gets_422_with_the_reason(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """JSON of no known shape is refused with the importer's message."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Chats")
        response = await upload(
            client, workspace["id"], "chat.json", json.dumps({"not": "an export"}).encode()
        )
        assert response.status_code == 422
        assert "conversation export" in response.json()["error"]["message"]

    async def test_rtf_is_converted_or_refused_with_503_without_libreoffice(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """RTF goes through LibreOffice; a server without it says so (503), storing nothing."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "RTF")
        source = GENERATED.parent / "sources" / "rtf" / "headings.rtf"
        response = await upload(client, workspace["id"], source.name, source.read_bytes())
        if shutil.which("soffice") or shutil.which("libreoffice"):
            assert response.status_code == 201, response.text
            assert "Before You Begin" in response.json()["documents"][0]["plain_text"]
        else:
            assert response.status_code == 503
            assert "LibreOffice" in response.json()["error"]["message"]
            listed = await client.get(f"/api/workspaces/{workspace['id']}/documents")
            assert listed.json()["documents"] == []

    async def test_a_file_that_is_not_rtf_gets_422(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """The RTF header is checked before any converter runs."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "RTF")
        response = await upload(client, workspace["id"], "fake.rtf", b"MZ\x90\x00 not rtf")
        assert response.status_code == 422
        assert "not RTF" in response.json()["error"]["message"]


class TestSanitising:
    """Uploaded HTML is sanitised before it is stored, and so wherever it is shown."""

    async def test_scripts_and_event_handlers_are_neither_stored_nor_served(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """<script>, on*= handlers, javascript: URLs and styles are gone; the text stays."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Hostile")
        response = await upload(client, workspace["id"], "hostile.html", HOSTILE_HTML)
        assert response.status_code == 201, response.text
        document_id = response.json()["documents"][0]["id"]
        stored = (await client.get(f"/api/documents/{document_id}")).json()["document"]
        page = await client.get(f"/documents/{document_id}")
        assert page.status_code == 200
        document_part = page.text.split('id="document"', 1)[1].split("</article>", 1)[0]
        for served in (stored["html"], document_part):
            lowered = served.lower()
            for forbidden in ("<script", "onerror", "onload", "onclick", "javascript:", "style="):
                assert forbidden not in lowered, (forbidden, served)
        assert (
            stored["plain_text"]
            == "Harmless heading\nText with an image and a bad link.\nLast line."
        )
        assert "script-src 'self'" in page.headers["content-security-policy"]

    async def test_escaped_markup_in_a_fixture_stays_text(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """hostile_content.rtf's literal "<script>" text is shown as text, never as a tag."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Hostile RTF")
        document = await upload_fixture(client, workspace["id"], "rtf/hostile_content.html")
        page = await client.get(f"/documents/{document['id']}")
        assert "<script>alert('rtf')</script>" in document["plain_text"]
        assert "<script>alert" not in document["html"]
        assert "&lt;script&gt;alert('rtf')&lt;/script&gt;" in page.text
        assert 'href="javascript:' not in page.text


class TestHighlights:
    """Highlights are character ranges of the plain text; they may overlap."""

    async def test_overlapping_highlights_are_stored_listed_and_drawn(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """Two overlapping ranges: listed by start, drawn as three marks on the page."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Annotated")
        document = await upload_fixture(client, workspace["id"], "rtf/headings.html")
        text = document["plain_text"]
        start = text.index("primary source closely")
        url = f"/api/documents/{document['id']}/highlights"
        first = await client.post(url, json={"start": start, "end": start + 14, "tag": "claim"})
        second = await client.post(
            url,
            json={"start": start + 8, "end": start + 22, "tag": "evidence", "comment": "<b>x</b>"},
        )
        assert first.status_code == 201, first.text
        assert second.status_code == 201, second.text
        listed = (await client.get(url)).json()["highlights"]
        page = (await client.get(f"/documents/{document['id']}")).text
        assert [(h["tag"], text[h["start_offset"] : h["end_offset"]]) for h in listed] == [
            ("claim", "primary source"),
            ("evidence", "source closely"),
        ]
        assert page.count('<mark class="hl') == 3
        assert "&lt;b&gt;x&lt;/b&gt;" in page
        assert "<b>x</b>" not in page

    @pytest.mark.parametrize(
        "body",
        [
            {"start": 5, "end": 5, "tag": "claim"},
            {"start": 0, "end": 10_000, "tag": "claim"},
            {"start": -1, "end": 3, "tag": "claim"},
            {"start": 0, "end": 3, "tag": ""},
            {"start": "0", "end": 3, "tag": "claim"},
        ],
        ids=["empty", "past-the-end", "negative", "no-tag", "string-offset"],
    )
    async def test_invalid_highlights_get_422(
        self, make_user: MakeUser, sign_in: SignIn, body: dict[str, object]
    ) -> None:
        """Ranges and tags are validated; nothing is stored."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Annotated")
        document = await upload_fixture(client, workspace["id"], "rtf/headings.html")
        url = f"/api/documents/{document['id']}/highlights"
        response = await client.post(url, json=body)
        assert response.status_code == 422
        assert (await client.get(url)).json()["highlights"] == []

    async def test_the_author_deletes_a_highlight(
        self, make_user: MakeUser, sign_in: SignIn
    ) -> None:
        """``DELETE /api/highlights/{id}`` removes it."""
        client = await sign_in(await make_user("owner"))
        workspace = await create_workspace(client, "Annotated")
        document = await upload_fixture(client, workspace["id"], "rtf/headings.html")
        url = f"/api/documents/{document['id']}/highlights"
        created = (await client.post(url, json={"start": 0, "end": 7, "tag": "claim"})).json()
        deleted = await client.delete(f"/api/highlights/{created['highlight']['id']}")
        assert deleted.status_code == 204
        assert (await client.get(url)).json()["highlights"] == []
