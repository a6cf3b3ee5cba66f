"""How the code under test shares the test's one connection in ``transaction`` isolation.

Every session pgsandbox's sessionmaker makes joins the test's outer transaction with a
savepoint on one connection. Two things go wrong with that in real projects, and this
module guards against both, at the savepoint statements every session sends:

* **Another event loop or thread.** A sync ``TestClient`` (Starlette, FastAPI) or
  Litestar's client runs the app in a thread with a loop of its own; the app's sessions
  then drive the test's asyncpg connection from the wrong loop. The first such use is
  stopped with an explanation, which is also recorded, so the test fails at teardown even
  when the app turned the exception into a 500.
* **Concurrent sessions.** ``asyncio.gather`` over code that opens its own sessions, or a
  background task with a session of its own, interleave savepoints on one connection
  (``savepoint "sa_savepoint_2" does not exist``, ``current transaction is aborted``,
  ``another operation is in progress``). As Ecto's SQL sandbox does, sessions of different
  tasks take turns: a session's savepoint holds the connection from its first statement to
  its commit, rollback or close, and a session of another task waits for it. A task
  nests freely on top of savepoints its own task, or a task that started it, holds (the
  starter awaits it, as a request handler awaits its dependency), and on top of those of
  finished tasks (an async fixture that left its session open). A savepoint is released
  only once the savepoints nested on it are gone. A wait longer than the configured bound
  (``pgsandbox_session_wait``) is a deadlock of this scheme: it fails with an explanation
  naming ``@pytest.mark.pgsandbox(isolation="database")``.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.util import await_only

from pgsandbox._diagnostics import capture_stack, task_stack

__all__ = ["GUARD", "ConnectionGuard", "SandboxMisuse", "ThreadTurns"]

#: ``Connection.info`` key of the guard of a test's connection.
GUARD = "pgsandbox_guard"

#: Tokens of the savepoints the current task (or a task that started it) holds.
_HELD: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "pgsandbox_held", default=frozenset()
)
_TOKENS = itertools.count(1)

WRONG_LOOP_FIX = (
    "The app ran in another thread or event loop than the test (a sync TestClient runs "
    "the app in a portal thread with its own loop), but the test's connection belongs to "
    "the test's loop. Fix: in a sync test, request the pgsandbox_portal fixture and make "
    "the client with pgsandbox.asgi.portal_client(app, pgsandbox_portal) (Litestar's "
    "TestClient or AsyncTestClient: set client.blocking_portal = pgsandbox_portal before "
    "entering it); in an async test, use `async with pgsandbox.asgi.lifespan_client(app) "
    "as client` (httpx, same loop). See docs/pgsandbox.md#apps-served-in-another-thread."
)


class SandboxMisuse(Exception):
    """The code under test used the test's connection in a way pgsandbox cannot support."""


def _idle(holder: asyncio.Task[Any] | None, task: asyncio.Task[Any] | None) -> bool:
    """Whether ``holder``'s savepoint cannot interleave with ``task``'s statements.

    Its own task's, or a finished task's (an async fixture's setup that left its session
    open: that task is done, and the savepoint waits for the test's teardown).
    """
    return holder is task or holder is None or holder.done()


@dataclass
class _Savepoint:
    name: str
    task: asyncio.Task[Any] | None
    token: int


@dataclass
class ConnectionGuard:
    """Watches one test's connection: who uses it, from where, and in which order."""

    nodeid: str
    loop: asyncio.AbstractEventLoop
    thread: int
    wait_seconds: float
    problems: list[str] = field(default_factory=list)
    #: Set when the test is over: pgsandbox's own cleanup waits for nobody.
    closing: bool = False
    _stack: list[_Savepoint] = field(default_factory=list)
    _changed: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ loop and thread
    def check_caller(self) -> None:
        """Raise (and record) if the caller is not the test's thread and event loop."""
        thread = threading.get_ident()
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if thread == self.thread and loop is self.loop:
            return
        where = "another thread" if thread != self.thread else "another event loop"
        self._fail(
            f"pgsandbox: the test's database connection ({self.nodeid}) was used from "
            f"{where}, at:\n    " + "\n    ".join(capture_stack()) + f"\n  {WRONG_LOOP_FIX}"
        )

    # ------------------------------------------------------------------ savepoints
    def enter(self, name: str) -> None:
        """Before ``SAVEPOINT name``: wait until this task may nest on the connection."""
        self.check_caller()
        task = asyncio.current_task()
        held = _HELD.get()
        if not self.closing and not self._may_nest(task, held):
            self._wait(lambda: self._may_nest(task, held), f"begin a session ({name})")
        token = next(_TOKENS)
        # No stack captured here (one per session, almost never shown): a report of a wait
        # shows where the holder's task is when the wait gives up.
        self._stack.append(_Savepoint(name, task, token))
        # The task's own context (greenlets share it): tasks it starts from now inherit it.
        _HELD.set(held | {token})

    def leave(self, name: str) -> None:
        """Before ``RELEASE`` / ``ROLLBACK TO`` of ``name``: wait for what is nested on it."""
        self.check_caller()
        index = self._index(name)
        if index is None:
            return
        owner = self._stack[index].task

        def alone() -> bool:
            return all(_idle(sp.task, owner) for sp in self._stack[index + 1 :])

        if not self.closing and not alone():
            self._wait(alone, f"end a session ({name}) with other tasks' sessions nested in it")
        for savepoint in self._stack[index:]:
            _HELD.set(_HELD.get() - {savepoint.token})
        del self._stack[index:]
        self._notify()

    def _index(self, name: str) -> int | None:
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index].name == name:
                return index
        return None

    def _may_nest(self, task: asyncio.Task[Any] | None, held: frozenset[int]) -> bool:
        if not self._stack:
            return True
        top = self._stack[-1]
        return _idle(top.task, task) or top.token in held

    def _wait(self, ready: Any, what: str) -> None:
        # One task throughout (asyncio.timeout, not wait_for's inner task): once woken, the
        # check and what the caller does next run in one step of this task, so two waiters
        # woken together cannot both find the connection free.
        async def wait() -> None:
            async with asyncio.timeout(self.wait_seconds):
                while not ready():
                    if self._changed is None or self._changed.done():
                        self._changed = self.loop.create_future()
                    # Woken by a savepoint's end, or by a holder's task ending without one.
                    me = asyncio.current_task()
                    holders = {
                        sp.task
                        for sp in self._stack
                        if sp.task is not None and sp.task is not me and not sp.task.done()
                    }
                    await asyncio.wait({self._changed, *holders}, return_when="FIRST_COMPLETED")

        try:
            await_only(wait())
        except TimeoutError:
            holder = self._stack[-1] if self._stack else None
            where = (
                "\n    ".join(task_stack(holder.task))
                if holder is not None and holder.task is not None and not holder.task.done()
                else "(its task has ended)"
            )
            self._fail(
                f"pgsandbox: a session waited {self.wait_seconds:g} s to {what} on the "
                f"test's connection ({self.nodeid}), held by another task's session "
                f"(savepoint {holder.name if holder else '?'}), whose task is now at:\n"
                f"    {where}\n"
                "  In 'transaction' isolation concurrent sessions share one connection and "
                "take turns, each from its first statement to its commit, rollback or "
                "close; this one waited for a session that waits for it (or never ends). "
                "Fix: commit or close that session before waiting on other tasks, or give "
                'the test real connections: @pytest.mark.pgsandbox(isolation="database") '
                "(ini pgsandbox_session_wait sets the bound)."
            )

    def _notify(self) -> None:
        """Wake the waiters (called from sync code, in the test's loop)."""
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    def _fail(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)
        raise SandboxMisuse(message)


#: The statements that end a savepoint (SQLAlchemy's spelling).
_SAVEPOINT_ENDS = ("RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


class ThreadTurns:
    """Sync sessions of different threads take turns on a sync test's one connection.

    The sync counterpart of :class:`ConnectionGuard`'s turns, for ``pgsandbox_sync_session``
    in ``transaction`` isolation: code under test that runs sessions in threads (two
    threads racing, a sync endpoint in a framework's thread pool) shares the test's
    psycopg connection. A thread's savepoint holds the connection from its first
    statement to its commit, rollback or close; a session of another thread waits for
    it. Savepoints of the test's own thread never make another thread wait (the test
    starts the other threads and waits for them, as a request handler is awaited), so a
    test that keeps a session open while a sync endpoint runs in a worker thread still
    works; nor do those of a thread that has ended (it left its session open). A wait
    longer than ``pgsandbox_session_wait`` fails with an explanation,
    recorded so the test fails at teardown even if the code under test caught it.
    """

    def __init__(self, nodeid: str, wait_seconds: float) -> None:
        """Watch the connection of test ``nodeid`` (created in the test's thread)."""
        self.nodeid = nodeid
        self.wait_seconds = wait_seconds
        self.test_thread = threading.current_thread()
        self.problems: list[str] = []
        self._held: dict[threading.Thread, int] = {}  # thread -> savepoints it holds
        #: SQLAlchemy's record of the savepoint whose end passed the turn last.
        self._ending: Any = None
        self._changed = threading.Condition()

    def enter(self, connection: Any, *_args: Any) -> None:
        """The ``savepoint`` event: wait until no other worker thread holds a savepoint."""
        self._take_turn()
        # The last holder's RELEASE has run (that passed the turn), but SQLAlchemy takes
        # its savepoint off the connection just after: a SAVEPOINT sent before then would
        # find that one inactive (PendingRollbackError, seen on 2.1). Microseconds.
        ending = self._ending
        deadline = time.monotonic() + 1.0
        while ending is not None and time.monotonic() < deadline:
            if getattr(connection, "_nested_transaction", None) is not ending:
                break
            time.sleep(0.0001)

    def _take_turn(self) -> None:
        me = threading.current_thread()

        def free() -> bool:
            return all(
                thread is me or thread is self.test_thread or not thread.is_alive()
                for thread in self._held
            )

        with self._changed:
            if not self._changed.wait_for(free, timeout=self.wait_seconds):
                message = (
                    f"pgsandbox: a session waited {self.wait_seconds:g} s for another "
                    f"thread's session on the test's connection ({self.nodeid}).\n  In "
                    "'transaction' isolation sessions of different threads share one "
                    "connection and take turns, each from its first statement to its commit, "
                    "rollback or close; the other thread's session never ended. Fix: close "
                    "sessions when the thread is done with them, or give the test real "
                    'connections: @pytest.mark.pgsandbox(isolation="database") (ini '
                    "pgsandbox_session_wait sets the bound)."
                )
                if message not in self.problems:
                    self.problems.append(message)
                raise SandboxMisuse(message)
            self._held[me] = self._held.get(me, 0) + 1

    def after_statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        """``after_cursor_execute``: a RELEASE or ROLLBACK TO that ran ends a turn."""
        if statement.startswith(_SAVEPOINT_ENDS):
            self._ending = getattr(_conn, "_nested_transaction", None)
            self.leave()

    def leave(self, *_args: Any) -> None:
        """A savepoint of the calling thread ended: the turn may pass on."""
        me = threading.current_thread()
        with self._changed:
            count = self._held.get(me, 0) - 1
            if count > 0:
                self._held[me] = count
            else:
                self._held.pop(me, None)
                self._changed.notify_all()
