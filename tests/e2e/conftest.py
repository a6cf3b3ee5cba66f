"""End-to-end fixtures: the app server and export worker as subprocesses, and users.

Every e2e test is marked ``@pytest.mark.pgsandbox(isolation="shared")``: the server and
the worker are other processes, so they see only committed data, in the run-wide shared
database. Tests keep apart by unique data (each user's address holds a UUID).

Server lifetime: one app server (and one export worker) per pytest process, started by
the first test that asks and stopped at the end of the process. pgsandbox's fixtures are
function-scoped, but the shared database's URL is the same for every shared test of a
run, so the first test's ``pgsandbox_url`` serves all (:class:`E2EStack` checks that).
Starting a server costs about a second; per test that would dominate the suite.
Each process logs to ``.reports/e2e/<server|worker>-<xdist worker>.log``; the part of a
log written during a test is printed at its teardown, so pytest shows it when it fails.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio

import glossator.db
from glossator.web.accounts import set_password
from tests._tools import require_tool
from tests.e2e._processes import AppServer, E2EStack, ManagedProcess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

LATEX_INSTALL_HINT = "apt-get install latexmk texlive-latex-base texlive-latex-recommended lmodern"


@dataclasses.dataclass(frozen=True)
class E2EUser:
    """A user who can sign in, with the password in clear (tests only)."""

    id: int
    email: str
    password: str
    display_name: str


def unique_email(role: str) -> str:
    """An address no other test of the run uses."""
    return f"{role}-{uuid.uuid4().hex[:12]}@e2e.example.org"


def _require_shared(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("pgsandbox")
    if marker is None or marker.kwargs.get("isolation") != "shared":
        pytest.fail(
            f"{request.node.nodeid} uses the app server, which is another process and sees "
            'only committed data: mark it @pytest.mark.pgsandbox(isolation="shared")',
            pytrace=False,
        )


@pytest.fixture(scope="session")
def _e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    stack = E2EStack(
        label=os.environ.get("PYTEST_XDIST_WORKER", "main"),
        temp_dir=tmp_path_factory.mktemp("e2e-stack"),
    )
    try:
        yield stack
    finally:
        stack.stop()


def _show_log(process: ManagedProcess, since: int) -> None:
    text = process.log_text(since)
    if text:
        print(f"----- {process.name} log ({process.log_path}) -----\n{text}")  # noqa: T201 - shown by pytest when the test failed


@pytest.fixture
def app_server(
    request: pytest.FixtureRequest, pgsandbox_url: str, _e2e_stack: E2EStack
) -> Iterator[AppServer]:
    """The running ``glossator serve`` (on the shared database); its log shows on failure."""
    _require_shared(request)
    server = _e2e_stack.app_server(pgsandbox_url)
    since = server.process.log_size()
    yield server
    _show_log(server.process, since)


@pytest.fixture
def export_worker(
    request: pytest.FixtureRequest, pgsandbox_url: str, _e2e_stack: E2EStack
) -> Iterator[ManagedProcess]:
    """The running ``glossator worker``; skips (locally) or fails (CI) without latexmk."""
    _require_shared(request)
    require_tool("latexmk", install_hint=LATEX_INSTALL_HINT)
    worker = _e2e_stack.export_worker(pgsandbox_url)
    since = worker.log_size()
    yield worker
    _show_log(worker, since)


@pytest_asyncio.fixture
async def make_user(
    pgsandbox_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Callable[[str], Awaitable[E2EUser]]]:
    """Create users with a password, committed to the shared database.

    Call it with a role word for the address (``await make_user("owner")``).
    """

    async def create(role: str) -> E2EUser:
        password = f"pw-{uuid.uuid4().hex}"
        record = await set_password(unique_email(role), password, role.title())
        return E2EUser(record.id, record.email, password, record.display_name)

    with glossator.db.override_sessionmaker(pgsandbox_sessionmaker):
        yield create


@pytest_asyncio.fixture
async def sign_in(
    app_server: AppServer,
) -> AsyncIterator[Callable[[E2EUser], Awaitable[httpx.AsyncClient]]]:
    """Signed-in API clients: ``client = await sign_in(user)``.

    Each client has its own cookie jar and sends the session's CSRF token in
    ``X-CSRF-Token``; all are closed after the test.
    """
    clients: list[httpx.AsyncClient] = []

    async def open_client(user: E2EUser) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=app_server.base_url, timeout=30.0)
        clients.append(client)
        response = await client.post(
            "/api/session", json={"email": user.email, "password": user.password}
        )
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return client

    try:
        yield open_client
    finally:
        for client in clients:
            await client.aclose()
