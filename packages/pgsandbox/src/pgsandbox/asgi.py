"""Test clients for ASGI apps (Starlette, FastAPI, Litestar) that share the test's loop.

In ``transaction`` isolation the app's sessions use the test's one connection, which
belongs to the test's event loop and thread. A client that serves the app elsewhere (a
sync ``TestClient`` runs it in a portal thread with a loop of its own) cannot work with
it; pgsandbox stops such a test with an explanation. These clients serve the app where
the connection lives:

* :func:`lifespan_client`, for async tests: an ``httpx.AsyncClient`` on
  ``httpx.ASGITransport``, with the app's lifespan (startup and shutdown) run in a task
  of its own, entered and left in that same task, in the test's loop.
* :func:`portal_client`, for sync tests: Starlette's (and so FastAPI's) ``TestClient``,
  running the app, lifespan included, in the ``pgsandbox_portal`` fixture's portal, whose
  loop holds the test's connection.

httpx and Starlette are the project's dependencies, imported only when called.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping

    import httpx
    from anyio.from_thread import BlockingPortal
    from starlette.testclient import TestClient

__all__ = ["LifespanFailed", "lifespan_client", "portal_client"]


class LifespanFailed(RuntimeError):
    """The app's lifespan startup or shutdown reported a failure."""


@contextlib.asynccontextmanager
async def lifespan_client(
    app: Any, *, base_url: str = "http://testserver", **client_options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` that runs ``app`` in the test's own event loop.

    The app's lifespan starts before the client is handed out and ends after it closes,
    in one task of its own (anyio's cancel scopes in a lifespan must be entered and left
    in the same task). What the lifespan yields as state reaches every request, as under
    a server. An app without lifespan support is served without one.

    Example::

        async def test_home(app):
            async with pgsandbox.asgi.lifespan_client(app) as client:
                assert (await client.get("/")).status_code == 200

    Raises:
        LifespanFailed: the app's startup or shutdown failed.
    """
    import httpx

    state: dict[str, Any] = {}
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: MutableMapping[str, Any]) -> None:
        await outbox.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
    lifespan = asyncio.create_task(app({**scope, "state": state}, receive, send))
    # A failed startup is raised as LifespanFailed; the task's own error is then no news.
    lifespan.add_done_callback(lambda task: task.cancelled() or task.exception())
    supported = await _step(lifespan, inbox, outbox, "startup")

    async def with_state(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in {"http", "websocket"}:
            scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    transport = httpx.ASGITransport(app=with_state)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url=base_url, **client_options
        ) as client:
            yield client
    finally:
        if supported:
            await _step(lifespan, inbox, outbox, "shutdown")
            await lifespan


async def _step(
    lifespan: asyncio.Task[Any],
    inbox: asyncio.Queue[dict[str, Any]],
    outbox: asyncio.Queue[MutableMapping[str, Any]],
    phase: str,
) -> bool:
    """Send ``lifespan.<phase>`` and wait for the app's answer; False if it has none."""
    await inbox.put({"type": f"lifespan.{phase}"})
    answer = asyncio.ensure_future(outbox.get())
    await asyncio.wait({answer, lifespan}, return_when=asyncio.FIRST_COMPLETED)
    if not answer.done():
        answer.cancel()
        if phase == "startup" and lifespan.exception() is not None:
            return False  # the app raised on a lifespan scope: it does not support one
        msg = f"the app's lifespan ended without answering lifespan.{phase}"
        raise LifespanFailed(msg)
    message = answer.result()
    if message["type"] == f"lifespan.{phase}.failed":
        raise LifespanFailed(message.get("message", f"lifespan {phase} failed"))
    return True


def portal_client(app: Any, portal: BlockingPortal, **client_options: Any) -> TestClient:
    """Starlette's ``TestClient`` serving ``app`` in ``portal`` (the ``pgsandbox_portal``).

    The client runs requests and, used as a context manager, the lifespan in the given
    portal instead of a portal of its own, so the app shares the loop that holds the
    test's connection. Works for FastAPI (its ``TestClient`` is Starlette's).

    Example::

        def test_home(app, pgsandbox_portal):
            with pgsandbox.asgi.portal_client(app, pgsandbox_portal) as client:
                assert client.get("/").status_code == 200
    """
    from starlette.testclient import TestClient

    class PortalTestClient(TestClient):
        """A ``TestClient`` that serves the app in pgsandbox's portal."""

        def __enter__(self) -> PortalTestClient:
            # Starlette's __enter__ always starts a portal of its own, so it is given ours
            # for the duration of the call (a sync call, in this thread).
            with _portal_of_starlette(portal):
                super().__enter__()
            return self

        def __exit__(self, *args: object) -> None:
            try:
                super().__exit__(*args)
            finally:
                self.portal = portal  # Starlette resets it; later requests keep using ours

    client = PortalTestClient(app, **client_options)
    client.portal = portal  # used by requests made outside `with`
    return client


@contextlib.contextmanager
def _portal_of_starlette(portal: BlockingPortal) -> Iterator[None]:
    import anyio.from_thread

    original: Callable[..., Any] = anyio.from_thread.start_blocking_portal

    def ours(*_args: Any, **_kwargs: Any) -> contextlib.nullcontext[BlockingPortal]:
        return contextlib.nullcontext(portal)  # not stopped on exit: the fixture owns it

    anyio.from_thread.start_blocking_portal = ours  # type: ignore[assignment]  # see above
    try:
        yield
    finally:
        anyio.from_thread.start_blocking_portal = original
