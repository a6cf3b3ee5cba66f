"""Server faults during a run: a lost server, a full server, and pgsandbox's connection budget.

Two faults look alike from a client (a connection fails) but need opposite fixes: a server
that went away (start it again) and a server at its connection limit (raise
``max_connections`` or run fewer workers). pgsandbox tells them apart from the error's
text, so the end-of-run line names the right cause, and neither raises a canary alarm: a
canary that could not be read was not found missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CONTROLLER_CONNECTIONS",
    "LIMIT",
    "LOST",
    "ConnectionBudget",
    "connection_cut",
    "known_budget",
    "limit_message",
    "per_worker_connections",
    "remember_budget",
    "trouble_detail",
    "trouble_of",
]

LOST = "lost"
LIMIT = "limit"

_LIMIT_PATTERN = re.compile(
    r"too many clients already|remaining connection slots are reserved"
    r"|TooManyConnectionsError",
    re.I,
)
#: Errors that only a server that is down (or going down) gives.
_LOST_PATTERN = re.compile(
    r"connection refused|ConnectionRefusedError|Connect call failed"
    r"|the database system is shutting down|the database system is starting up"
    r"|cannot reach PostgreSQL|No such file or directory\s+Is the server running",
    re.I,
)
#: Errors of a connection the server ended: a stopped server gives them, but so does a
#: pg_terminate_backend from a test. They count as the lost server's only once it is
#: confirmed lost by one of the errors above.
_CUT_PATTERN = re.compile(
    r"server closed the connection unexpectedly|terminating connection due to administrator"
    r"|connection was closed in the middle of operation|ConnectionDoesNotExistError"
    r"|consuming input failed",
    re.I,
)

#: The controller's maintenance connection and the one it opens to read a canary.
CONTROLLER_CONNECTIONS = 2


def trouble_of(text: str) -> str | None:
    """Classify an error's text: :data:`LIMIT`, :data:`LOST`, or None (something else)."""
    if _LIMIT_PATTERN.search(text):
        return LIMIT
    if _LOST_PATTERN.search(text):
        return LOST
    return None


def connection_cut(text: str) -> bool:
    """Whether an error's text says the server ended the connection (see ``_CUT_PATTERN``)."""
    return bool(_CUT_PATTERN.search(text))


def trouble_detail(kind: str, text: str) -> str:
    """The few words of an error's text that name the fault, for the end-of-run line."""
    if kind == LIMIT:
        match = _LIMIT_PATTERN.search(text)
        return match.group(0) if match else "too many clients already"
    for line in text.splitlines():
        if _LOST_PATTERN.search(line):
            return line.strip().removeprefix("pgsandbox: ")[:300]
    return text.strip().splitlines()[0][:300] if text.strip() else kind


def per_worker_connections() -> dict[str, int]:
    """The connections one worker may hold at once, by what holds them.

    Derived from the pool sizes pgsandbox uses, not measured: a test uses one database at a
    time, so one async engine may be at its limit (pool plus overflow) while the other
    database's engine keeps its idle pool; the sync engines keep one idle connection per
    database; the engine of the worker's recycled ``database`` clone keeps its idle pool
    too; and the worker has four maintenance connections (its own, the clone pool's
    thread and dropper, the recycled clone's reset connection) plus one short connection
    to each fresh clone.
    """
    from pgsandbox._sandbox import MAX_OVERFLOW, POOL_SIZE, RECYCLED_POOL_SIZE

    return {
        "busiest async engine (pool + overflow)": POOL_SIZE + MAX_OVERFLOW,
        "the other database's idle async pool": POOL_SIZE,
        "the recycled database clone's idle async pool": RECYCLED_POOL_SIZE,
        "idle sync connections (worker and shared database)": 2,
        "maintenance (worker, clone thread, dropper, clone reset, clone warm-up)": 5,
    }


@dataclass(frozen=True, slots=True)
class ConnectionBudget:
    """What a run needs from the server's connection limit, for messages."""

    max_connections: int
    per_worker: int
    workers: int

    @property
    def needed(self) -> int:
        """Connections the whole run may hold at once."""
        return CONTROLLER_CONNECTIONS + max(self.workers, 1) * self.per_worker

    def describe(self, in_use: int | None = None) -> str:
        """``max_connections = 100, 97 in use, pgsandbox needs up to 18 per worker ...``."""
        used = f", {in_use} in use" if in_use is not None else ""
        return (
            f"max_connections = {self.max_connections}{used}; pgsandbox needs up to "
            f"{self.per_worker} per worker plus {CONTROLLER_CONNECTIONS} for the controller "
            f"(about {self.needed} for {max(self.workers, 1)} worker(s)), besides what the "
            "code under test opens"
        )


_known_budget: list[ConnectionBudget] = []


def remember_budget(budget: ConnectionBudget) -> None:
    """Keep this process's budget, so a refused connection's message can quote it."""
    _known_budget[:] = [budget]


def known_budget() -> ConnectionBudget | None:
    """The budget :func:`remember_budget` kept, if any."""
    return _known_budget[0] if _known_budget else None


def limit_message(where: str, detail: str, in_use: int | None = None, extra: str = "") -> str:
    """The explanation of a connection refused for the server's connection limit."""
    budget = known_budget()
    numbers = f" ({budget.describe(in_use)})" if budget is not None else ""
    return (
        f"pgsandbox: PostgreSQL {where} refused a connection: {detail}{numbers}{extra}.\n"
        "  The server is up, but at its connection limit. Fix: raise max_connections "
        "(ALTER SYSTEM SET max_connections = ..., then restart the server), run fewer xdist "
        "workers (-n), or find the code that keeps connections open."
    )
