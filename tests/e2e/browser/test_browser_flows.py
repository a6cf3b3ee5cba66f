"""A user's way through the app in Chromium: annotate, export, download; and what others see."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.e2e._processes import REPO_ROOT, REPORTS_DIR
from tests.e2e.api.test_documents import HOSTILE_HTML
from tests.e2e.browser.conftest import sign_in_page

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from playwright.sync_api import Page

    from tests.e2e._processes import ManagedProcess
    from tests.e2e.browser.conftest import PageEvents
    from tests.e2e.conftest import E2EUser

    OpenPage = Callable[[], tuple[Page, PageEvents]]

pytestmark = pytest.mark.pgsandbox(isolation="shared")

FIXTURE = REPO_ROOT / "fixtures" / "generated" / "rtf" / "headings.html"
PHRASE = "primary source closely"
COMMENT = "The author's central instruction."

SELECT_PHRASE = """(phrase) => {
  const root = document.getElementById("document");
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(phrase);
    if (at >= 0) {
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + phrase.length);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      return true;
    }
  }
  return false;
}"""


def _create_workspace_with_document(page: Page, title: str, path: Path) -> tuple[int, int]:
    """Create a workspace and upload ``path`` through the forms; return both ids."""
    page.fill("#workspace-title", title)
    page.click("#create-workspace")
    page.wait_for_url(re.compile(r".*/workspaces/\d+$"))
    workspace_id = int(page.url.rsplit("/", 1)[1])
    page.set_input_files("#upload-file", str(path))
    page.click("#upload")
    page.wait_for_url(re.compile(r".*/documents/\d+$"))
    return workspace_id, int(page.url.rsplit("/", 1)[1])


class TestAnnotationFlow:
    """Sign in, create, upload, highlight, reload, export, download."""

    def test_highlight_persists_and_the_export_downloads_as_pdf(
        self,
        open_page: OpenPage,
        cli_user: Callable[[str], E2EUser],
        export_worker: ManagedProcess,
        tmp_path: Path,
    ) -> None:
        """The whole flow in one browser; a screenshot goes to .reports/e2e/."""
        page, events = open_page()
        sign_in_page(page, cli_user("annotator"))
        _, document_id = _create_workspace_with_document(page, "Seminar notes", FIXTURE)
        assert page.inner_text("#document-heading") == "Reading Primary Sources"

        page.select_option("#highlight-tag", "evidence")
        page.fill("#highlight-comment", COMMENT)
        assert page.evaluate(SELECT_PHRASE, PHRASE) is True
        page.click("#add-highlight")
        page.wait_for_selector("mark.hl")

        page.reload()
        marks = page.locator("#document mark.hl")
        assert marks.count() == 1
        assert marks.inner_text() == PHRASE
        # The mark carries ids only; the script builds its tooltip from the highlight list.
        assert marks.get_attribute("data-highlights")
        marks.hover()
        assert marks.get_attribute("title") == f"evidence: {COMMENT}"
        assert page.inner_text("#highlight-list .comment") == COMMENT
        assert page.inner_text("#highlight-list .quote") == PHRASE

        page.click("#export-button")
        page.wait_for_selector("#export-download:not([hidden])", timeout=90_000)
        assert page.inner_text("#export-status").startswith("Ready")
        REPORTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(REPORTS_DIR / "browser-flow.png"), full_page=True)

        with page.expect_download() as download_info:
            page.click("#export-download")
        download = download_info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        assert download.suggested_filename == "Reading-Primary-Sources.pdf"
        assert saved.read_bytes().startswith(b"%PDF-")
        assert page.url.endswith(f"/documents/{document_id}")
        assert events.dialogs == []
        assert events.console_errors == []


class TestOtherUsers:
    """Another user cannot open the workspace or its document, and sees none of it."""

    def test_another_user_gets_not_found_without_data(
        self, open_page: OpenPage, cli_user: Callable[[str], E2EUser]
    ) -> None:
        """Direct URLs answer 404 pages; the intruder's own list stays empty."""
        owner_page, _ = open_page()
        sign_in_page(owner_page, cli_user("owner"))
        workspace_id, document_id = _create_workspace_with_document(
            owner_page, "Private seminar", FIXTURE
        )

        page, _ = open_page()
        sign_in_page(page, cli_user("intruder"))
        assert page.is_visible("#no-workspaces")
        for path in (f"/workspaces/{workspace_id}", f"/documents/{document_id}"):
            response = page.goto(path)
            assert response is not None
            assert response.status == 404
            assert page.inner_text("#error-status") == "404"
            content = page.content()
            assert "Private seminar" not in content
            assert "Reading Primary Sources" not in content
            assert "primary source" not in content


class TestHostileUpload:
    """An uploaded document with scripts runs none of them in the browser."""

    def test_no_script_of_the_upload_runs(
        self, open_page: OpenPage, cli_user: Callable[[str], E2EUser], tmp_path: Path
    ) -> None:
        """No dialog, ``window.__xss`` unset, no script or handler in the document's DOM."""
        hostile = tmp_path / "hostile.html"
        hostile.write_bytes(HOSTILE_HTML)
        page, events = open_page()
        sign_in_page(page, cli_user("uploader"))
        _create_workspace_with_document(page, "Hostile", hostile)
        page.reload()
        page.wait_for_load_state("load")
        page.locator("#document").hover()
        page.locator("#document a").first.click(no_wait_after=True, trial=True)

        assert page.evaluate("typeof window.__xss") == "undefined"
        assert (
            page.evaluate(
                "document.querySelectorAll('#document script, #document [onerror], "
                "#document [onload], #document [onclick], #document [style]').length"
            )
            == 0
        )
        assert page.inner_text("#document").startswith("Harmless heading")
        assert events.dialogs == []
