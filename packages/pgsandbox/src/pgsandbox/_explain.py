"""Explanations of the classic failures of parallel async database tests.

When a test fails with one of these messages, pgsandbox adds a section to its report
saying what the message means, what usually causes it, and the fix, so the user sees an
explanation next to the bare error. docs/troubleshooting.md has the long form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EXPLANATIONS", "Explanation", "explain"]

DOCS = "docs/troubleshooting.md"


@dataclass(frozen=True, slots=True)
class Explanation:
    """What one failure message means and how to fix it."""

    key: str
    pattern: re.Pattern[str]
    cause: str
    fix: str

    def render(self) -> str:
        """The text of the report section."""
        return (
            f"pgsandbox: this failure is '{self.key}'.\n"
            f"  Cause: {self.cause}\n"
            f"  Fix:   {self.fix}\n"
            f"  More:  {DOCS}#{self.key.replace(' ', '-')}"
        )


EXPLANATIONS = (
    Explanation(
        "attached to a different loop",
        re.compile(r"attached to a different loop"),
        "an asyncpg connection, or an engine or pool holding one, was created in one event "
        "loop and used in another: a module-level engine, or an async fixture whose loop "
        "scope differs from the test's.",
        "create engines in the loop that uses them: take pgsandbox_sessionmaker / "
        "pgsandbox_engine instead of a global engine, keep one engine per running loop in "
        "your connection manager, and make asyncio_default_fixture_loop_scope match "
        "asyncio_default_test_loop_scope (or pass loop_scope= to the fixture).",
    ),
    Explanation(
        "Event loop is closed",
        re.compile(r"Event loop is closed"),
        "a connection or engine from an event loop that has already ended (an earlier "
        "test's function-scoped loop) was used, reset or garbage-collected later.",
        "dispose engines inside the loop that made them before it ends (await "
        "engine.dispose() in the fixture's teardown); cache engines across tests only "
        "with a wider loop scope, per loop.",
    ),
    Explanation(
        "another operation is in progress",
        re.compile(r"another operation is in progress"),
        "two coroutines used one asyncpg connection at the same time: asyncio.gather over "
        "one session or connection, or a background task still using the test's session.",
        "give every concurrent task its own session from pgsandbox_sessionmaker, and "
        "await (or cancel) background tasks before the test ends.",
    ),
    Explanation(
        "savepoint does not exist",
        re.compile(r'savepoint "[^"]+" does not exist'),
        "sessions of concurrent tasks interleaved their savepoints on one connection: in "
        "'transaction' isolation every session joins the test's connection, and a session "
        "that ended released the savepoint another task's session was still in.",
        "make the sessions with pgsandbox_sessionmaker, whose sessions "
        "take turns on the connection, or give the test real connections with "
        '@pytest.mark.pgsandbox(isolation="database").',
    ),
    Explanation(
        "cannot be called from a running event loop",
        re.compile(r"cannot be called from a running event loop"),
        "sync code that starts its own event loop (asyncio.run or asyncio.Runner: alembic's "
        "async env.py, a sync wrapper of async code) was called from an async test or "
        "fixture, whose loop is already running.",
        "call it from a sync test or fixture, or run it in a thread (await "
        "asyncio.to_thread(...)). pgsandbox itself migrates in the controller, before any "
        "test loop runs.",
    ),
    Explanation(
        "QueuePool limit reached",
        re.compile(r"QueuePool limit of size \d+ overflow \d+ reached"),
        "every connection of a pool is checked out: connections leak (never closed), or "
        "the pool is too small for the concurrency of the code under test.",
        "close sessions and connections (async with ...); pgsandbox fails the test that "
        "leaks one and shows where it was taken. Size pools per xdist worker.",
    ),
    Explanation(
        "too many clients already",
        re.compile(r"too many clients already|remaining connection slots are reserved"),
        "xdist workers times pool size exceeded the server's max_connections.",
        "shrink each worker's pool (glossator divides GLOSSATOR_CONNECTION_BUDGET among "
        "the workers), or raise max_connections; pgsandbox's own cluster allows 300.",
    ),
    Explanation(
        "source database is being accessed by other users",
        re.compile(r"is being accessed by other users"),
        "CREATE DATABASE ... TEMPLATE (or DROP DATABASE) ran while another session was "
        "connected to that database.",
        "never connect to the template: use pgsandbox_url. pgsandbox marks templates "
        "ALLOW_CONNECTIONS false, retries clones, and drops its databases WITH (FORCE).",
    ),
    Explanation(
        "connection reset under load",
        re.compile(
            r"connection was closed in the middle of operation|ConnectionResetError"
            r"|server closed the connection unexpectedly|terminating connection due to "
            r"administrator command"
        ),
        "the server ended the connection: another worker's cleanup terminated it "
        "(pg_terminate_backend), the server restarted, or it ran out of memory.",
        "never terminate other sessions from tests; pgsandbox only ends sessions on "
        "databases it created. Check the server log for restarts.",
    ),
    Explanation(
        "deadlock from a per-worker TRUNCATE",
        re.compile(r"deadlock detected"),
        "workers sharing one database TRUNCATE or migrate its tables while other workers use them.",
        "drop the truncate/migrate hook: with pgsandbox every worker has its own clone and "
        "every test is rolled back or gets a fresh clone.",
    ),
)


def explain(text: str) -> list[Explanation]:
    """The explanations whose message appears in a failure's text."""
    return [item for item in EXPLANATIONS if item.pattern.search(text)]
