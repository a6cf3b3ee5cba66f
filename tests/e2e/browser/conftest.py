"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), and CLI-made users.

Browser tests run in a pytest process of their own without xdist (``nox -s e2e`` runs
``pytest tests/e2e/browser -n 0``): Playwright's sync API runs its own event loop and
must not share a process with pytest-asyncio's loops of the API tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests._tools import require_tool
from tests.e2e._processes import REPO_ROOT, REPORTS_DIR
from tests.e2e.conftest import E2EUser, unique_email

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from playwright.sync_api import Browser, Page

    from tests.e2e._processes import AppServer

#: Flags for Chromium in a container without network, GPU or a sandbox.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPORTS_DIR


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; skips (locally) or fails (CI) when it is missing."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("browser tests run without xdist: pytest tests/e2e/browser -n 0")
    executable = require_tool("chromium", install_hint="apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class PageEvents:
    """What a page did that a test may want to assert never happened."""

    def __init__(self) -> None:
        """Start with nothing recorded."""
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []


@pytest.fixture
def open_page(
    browser: Browser, app_server: AppServer
) -> Iterator[Callable[[], tuple[Page, PageEvents]]]:
    """Open pages in fresh browser contexts (own cookies) on the app server.

    Dialogs (``alert``) are recorded and dismissed; console errors recorded.
    """
    contexts: list[Any] = []

    def open_one() -> tuple[Page, PageEvents]:
        context = browser.new_context(base_url=app_server.base_url, accept_downloads=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        events = PageEvents()

        def on_dialog(dialog: Any) -> None:
            events.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on(
            "console",
            lambda message: (
                events.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        return page, events

    try:
        yield open_one
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def cli_user(pgsandbox_url: str) -> Callable[[str], E2EUser]:
    """Create users with ``glossator user create`` (password on stdin), as an admin would."""

    def create(role: str) -> E2EUser:
        email = unique_email(role)
        password = f"pw-{uuid.uuid4().hex}"
        env = {**os.environ, "GLOSSATOR_DATABASE_URL": pgsandbox_url}
        env.pop("PYTEST_XDIST_WORKER", None)
        result = subprocess.run(
            [sys.executable, "-m", "glossator", "user", "create", "--email", email,
             "--name", role.title()],
            input=password + "\n",
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=env,
            timeout=60,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.endswith(f"<{email}> can sign in\n")
        user_id = int(result.stdout.split()[1])
        return E2EUser(user_id, email, password, role.title())

    return create


def sign_in_page(page: Page, user: E2EUser) -> None:
    """Sign in through the form; end on "My workspaces"."""
    page.goto("/login")
    page.fill("#email", user.email)
    page.fill("#password", user.password)
    page.click("#sign-in")
    page.wait_for_url("**/workspaces")
