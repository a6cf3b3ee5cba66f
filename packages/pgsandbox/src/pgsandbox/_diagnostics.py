"""Connection diagnostics: who holds which connection, for how long, and where it was taken.

Always on: every connection pgsandbox hands out is tagged with
``application_name=pgsandbox/<run>/<worker>/<test>`` (so ``pg_stat_activity`` tells who
holds what), and a test that ends with a connection still checked out, or a session
transaction still open, fails with the stack of where it was taken.

With ``--pgsandbox-debug`` the same events go, one JSON object per line, to
``.reports/pgsandbox-<worker>.jsonl``: engine creation, connect time, checkout and checkin
(with the time held and the pool's state), session begin and end, and failures.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import linecache
import logging
import os
import sys
import sysconfig
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

try:
    from greenlet import getcurrent  # type: ignore[import-untyped]  # greenlet ships no stubs
except ImportError:  # pragma: no cover - SQLAlchemy's asyncio extra brings greenlet
    getcurrent = None
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterable, Iterator
    from types import FrameType

    from sqlalchemy.engine import Engine

__all__ = [
    "TAG_KEY",
    "CapturedStack",
    "ConnectionTracker",
    "JsonlHandler",
    "capture_stack",
    "debug_log_path",
    "task_stack",
    "user_stack",
]

DEBUG_LOGGER = "pgsandbox.debug"
#: ``ConnectionRecord.info`` key: the application_name a pooled connection was last given.
TAG_KEY = "pgsandbox_application_name"
_MAX_APPLICATION_NAME = 63
_HIDDEN_FRAMES = (
    "/sqlalchemy/",
    "/asyncio/",
    "/pgsandbox/",
    "/_pytest/",
    "/pluggy/",
    "/pytest_asyncio/",
    "/greenlet/",
    "contextlib.py",
    "/threading.py",
    "/concurrent/",
    "/asyncpg/",
    "/psycopg/",
)


#: Frames of the standard library and of installed packages are not "your code".
_LIBRARY_PREFIXES = tuple(
    {
        path
        for path in (
            sysconfig.get_paths()["stdlib"],
            sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"],
        )
        if path
    }
)


def user_stack(limit: int = 8) -> list[str]:
    """The caller's stack without library frames: where *your* code took a connection.

    SQLAlchemy's asyncio layer runs the sync code (and so these events) in a greenlet,
    whose stack ends at ``greenlet_spawn``; the awaiting coroutines (the test) are on the
    parent greenlet's stack, so both are walked.
    """
    return list(capture_stack(limit))


class CapturedStack:
    """A stack captured cheaply now and formatted only if a leak is ever reported.

    Every checkout and session begin captures one, and almost none is ever shown, so
    capturing keeps only ``(file, line, function)`` per frame; filtering out library frames
    and reading source lines (``traceback.extract_stack`` does both at once, which costs
    about as much as a database round trip) wait until the stack is printed.
    """

    __slots__ = ("_frames", "_limit")

    def __init__(self, frames: list[tuple[str, int, str]], limit: int) -> None:
        """Keep the frames, outermost first."""
        self._frames = frames
        self._limit = limit

    def __iter__(self) -> Iterator[str]:
        """Yield ``file:line in function: source`` for the innermost user frames."""
        frames = [
            (filename, lineno, name)
            for filename, lineno, name in self._frames
            if not filename.startswith("<")
            and name != "<module>"
            and not any(part in filename for part in _HIDDEN_FRAMES)
        ]
        for filename, lineno, name in frames[-self._limit :]:
            line = linecache.getline(filename, lineno).strip()
            yield f"{filename}:{lineno} in {name}: {line}"


#: Frames kept per stack, innermost first. The code that took a connection sits near the
#: top of its stack; below it are pytest's, pluggy's and asyncio's frames, which a leak
#: report hides anyway, and walking all of them (about 70 per stack under pytest-asyncio)
#: on every checkout and session start was a measurable part of a test's overhead.
_STACK_DEPTH = 48


def _runner_prefixes() -> tuple[str, ...]:
    """Where the walk stops: files of the test runner (asyncio, pytest, pluggy, threads).

    Every frame past the first of them is the runner's (a coroutine's callers are
    asyncio's, a test function's are pytest's), and never shown. Directories, not name
    fragments: SQLAlchemy's ``ext/asyncio`` must not count as asyncio.
    """
    found = []
    for name in ("asyncio", "_pytest", "pluggy", "pytest_asyncio", "threading"):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin:
            found.append(origin if name == "threading" else str(Path(origin).parent) + os.sep)
    return tuple(found)


_RUNNER_FRAMES = _runner_prefixes()


def _frames_of(frame: FrameType | None) -> list[tuple[str, int, str]]:
    found: list[tuple[str, int, str]] = []
    while frame is not None and len(found) < _STACK_DEPTH:
        code = frame.f_code
        filename = code.co_filename
        if filename.startswith(_RUNNER_FRAMES):
            break
        found.append((filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    found.reverse()
    return found


def capture_stack(limit: int = 8) -> CapturedStack:
    """Capture the caller's stack (and the awaiting parent greenlet's) for later display."""
    frames = _frames_of(sys._getframe(1))
    parent = getattr(getcurrent(), "parent", None) if getcurrent is not None else None
    if parent is not None and getattr(parent, "gr_frame", None) is not None:
        frames = _frames_of(parent.gr_frame) + frames
    return CapturedStack(frames, limit)


def task_stack(task: asyncio.Task[Any], limit: int = 8) -> CapturedStack:
    """Where a suspended task is now: its coroutine and every coroutine it awaits.

    (``Task.get_stack`` gives only the outermost frame of a suspended coroutine.)
    """
    frames: list[tuple[str, int, str]] = []
    awaited: Any = task.get_coro()
    while awaited is not None and len(frames) < _STACK_DEPTH:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        frame = frame or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        awaited = (
            getattr(awaited, "cr_await", None)
            or getattr(awaited, "ag_await", None)
            or getattr(awaited, "gi_yieldfrom", None)
        )
    return CapturedStack(frames, limit)


def debug_log_path(rootdir: Path, worker_id: str) -> Path:
    """Where a worker's debug log goes."""
    return rootdir / ".reports" / f"pgsandbox-{worker_id}.jsonl"


class JsonlHandler(logging.Handler):
    """Writes log records as JSON lines, with their ``extra`` fields, to one file."""

    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def __init__(self, path: Path, base: dict[str, Any]) -> None:
        """Append to ``path``; every record carries the fields of ``base``."""
        super().__init__(logging.DEBUG)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self.base = base

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record."""
        data: dict[str, Any] = {
            **self.base,
            "ts": record.created,
            "logger": record.name,
            "event": getattr(record, "event", record.getMessage()),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in self._STANDARD})
        data.setdefault("test", self.base.get("test", ""))
        self._file.write(json.dumps(data, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()
        super().close()


@dataclass
class _Held:
    test: str
    stack: Iterable[str]
    started: float
    what: str
    proxy: Any = None
    owned: bool = False  # taken by pgsandbox itself (the test's own connection)


@dataclass
class ConnectionTracker:
    """Watches the engines and sessions pgsandbox creates in one process."""

    run_id: str
    worker_id: str
    debug: bool = False
    test: str = ""
    test_name: str = ""
    _checkouts: dict[int, _Held] = field(default_factory=dict)
    _transactions: dict[int, _Held] = field(default_factory=dict)
    connects: int = 0
    peak_checked_out: int = 0
    _logger: logging.Logger = field(default_factory=lambda: logging.getLogger(DEBUG_LOGGER))
    _session_classes: dict[type[Session], type[Session]] = field(default_factory=dict)
    _internal: int = 0
    _untagged: int = 0

    @contextlib.contextmanager
    def internal(self, *, tag: bool = True) -> Iterator[None]:
        """Mark the connections checked out inside this block as pgsandbox's own.

        Args:
            tag: set the test's ``application_name`` on checkout. ``False`` when the
                caller tags the connection itself (``transaction`` isolation sends the
                tag with its ``BEGIN``, saving a round trip per test).
        """
        self._internal += 1
        self._untagged += not tag
        try:
            yield
        finally:
            self._internal -= 1
            self._untagged -= not tag

    # ------------------------------------------------------------------ tests
    def begin_test(self, nodeid: str, name: str) -> None:
        """Attribute what follows to this test."""
        self.test, self.test_name = nodeid, name
        self._log("test_begin")

    def end_test(self) -> None:
        """Nothing is attributed to a test any more; forget what it left behind."""
        self._log("test_end")
        for table in (self._checkouts, self._transactions):
            for key in [k for k, held in table.items() if held.test == self.test]:
                del table[key]
        self.test = self.test_name = ""

    def application_name(self, *, idle: bool = False) -> str:
        """``pgsandbox/<run>/<worker>/<test>``, cut to PostgreSQL's 63-byte limit.

        Args:
            idle: the name of a connection no test holds (``…/<worker>/-``).
        """
        test = "-" if idle else (self.test_name or "-")
        name = f"pgsandbox/{self.run_id}/{self.worker_id}/{test}"
        return name.encode()[:_MAX_APPLICATION_NAME].decode(errors="ignore")

    # ------------------------------------------------------------------ engines
    def instrument(self, engine: Engine, label: str) -> None:
        """Tag, time and track every connection of a (sync or async's sync) engine."""
        self._log("engine_created", engine=label, url=engine.url.render_as_string())
        event.listen(engine, "do_connect", self._before_connect)
        event.listen(engine, "connect", self._after_connect)
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "checkin", self._on_checkin)

    def _before_connect(self, _dialect: Any, record: Any, _args: Any, _kw: Any) -> None:
        record.info["pgsandbox_connect_started"] = time.perf_counter()

    def _after_connect(self, _dbapi: Any, record: Any) -> None:
        started = record.info.pop("pgsandbox_connect_started", None)
        self.connects += 1
        elapsed = (time.perf_counter() - started) * 1000 if started else None
        self._log("connect", ms=round(elapsed, 3) if elapsed is not None else None)

    def _on_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if not self._untagged:
            wanted = self.application_name()
            if record.info.get(TAG_KEY) != wanted:
                _set_application_name(dbapi_connection, wanted)
                record.info[TAG_KEY] = wanted
        owned = self._internal > 0
        self._checkouts[id(record)] = _Held(
            self.test,
            [] if owned else capture_stack(),
            time.perf_counter(),
            "connection",
            weakref.ref(proxy),
            owned=owned,
        )
        self.peak_checked_out = max(self.peak_checked_out, len(self._checkouts))
        if self.debug:
            # The pool's state is only reachable through the record's private attribute.
            pool = getattr(record, "_pool", None)
            self._log("checkout", pool=_pool_state(pool), checked_out=len(self._checkouts))

    def _on_checkin(self, _dbapi: Any, record: Any) -> None:
        held = self._checkouts.pop(id(record), None)
        if held is not None:
            self._log(
                "checkin",
                held_ms=round((time.perf_counter() - held.started) * 1000, 3),
                held_by=held.test,
            )

    # ------------------------------------------------------------------ sessions
    def session_class(self, base: type[Session] = Session) -> type[Session]:
        """A subclass of ``base`` whose transactions this tracker follows.

        One per base class and process: the project's own session class (SQLModel's, or
        one named by ``pgsandbox_session_class``) keeps its methods.
        """
        tracked = self._session_classes.get(base)
        if tracked is None:
            tracker = self

            def after_begin(session: Session, _transaction: Any, _connection: Any) -> None:
                tracker._transactions[id(session)] = _Held(
                    tracker.test, capture_stack(), time.perf_counter(), "session"
                )
                tracker._log("session_begin")

            def after_end(session: Session, transaction: Any) -> None:
                if transaction.parent is None or transaction.nested:
                    held = tracker._transactions.pop(id(session), None)
                    if held is not None:
                        tracker._log(
                            "session_end",
                            held_ms=round((time.perf_counter() - held.started) * 1000, 3),
                        )

            tracked = type(
                "TrackedSession",
                (base,),
                {"__doc__": f"A {base.__name__} whose transactions pgsandbox tracks."},
            )
            event.listen(tracked, "after_begin", after_begin)
            event.listen(tracked, "after_transaction_end", after_end)
            self._session_classes[base] = tracked
        return tracked

    # ------------------------------------------------------------------ leaks
    def open_transactions(self, test: str) -> list[str]:
        """Describe the session transactions ``test`` began and did not end."""
        leaks = [held for held in self._transactions.values() if held.test == test]
        for key in [k for k, v in self._transactions.items() if v.test == test]:
            del self._transactions[key]
        return [_describe("a session transaction is still open", held) for held in leaks]

    def outstanding(self, test: str) -> list[str]:
        """Describe the connections ``test`` checked out and did not return; reclaim them."""
        found = []
        for key, held in list(self._checkouts.items()):
            if held.test != test or held.owned:
                continue
            found.append(_describe("a connection is still checked out", held))
            del self._checkouts[key]
            proxy = held.proxy() if held.proxy is not None else None
            if proxy is not None:
                try:
                    proxy.invalidate()
                except Exception as exc:  # reclaiming is best effort; the failure is logged
                    self._log("reclaim_failed", error=repr(exc))
        if found:
            self._log("failure", problems=found)
        return found

    def _log(self, name: str, **fields: Any) -> None:
        if self.debug:
            self._logger.debug(name, extra={"event": name, "test": self.test, **fields})


def quote_literal(value: str) -> str:
    """``value`` as a SQL string literal (for statements sent without parameters)."""
    return "'" + value.replace("'", "''") + "'"


def _set_application_name(dbapi_connection: Any, name: str) -> None:
    """Tag a connection being checked out with the test's application_name.

    Through SQLAlchemy's asyncpg adapter this is one simple-protocol round trip, outside
    any transaction; its cursor would instead send BEGIN, prepare and run the statement,
    then COMMIT (four round trips, per test, since the name changes with every test).
    """
    statement = f"SET application_name TO {quote_literal(name)}"
    run_async = getattr(dbapi_connection, "run_async", None)
    if run_async is not None:
        run_async(lambda driver_connection: driver_connection.execute(statement))
        return
    cursor = dbapi_connection.cursor()
    cursor.execute(statement)
    cursor.close()
    dbapi_connection.commit()


def _pool_state(pool: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"class": type(pool).__name__}
    for attr in ("size", "checkedout", "overflow", "checkedin"):
        method = getattr(pool, attr, None)
        if callable(method):
            state[attr] = method()
    return state


def _describe(problem: str, held: _Held) -> str:
    where = "\n    ".join(held.stack) or "(no frame of your code on the stack)"
    return f"{problem} (taken in {held.test}), taken at:\n    {where}"


def process_info() -> dict[str, Any]:
    """The fields every debug record of this process carries."""
    return {"pid": os.getpid()}


def summarize_debug_logs(folder: Path, run_id: str) -> list[str]:
    """Per-worker summary lines of this run's debug logs in ``folder``."""
    lines: list[str] = []
    for path in sorted(folder.glob("pgsandbox-*.jsonl")):
        records = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if record.get("run") == run_id:
                records.append(record)
        if not records:
            continue
        worker = records[0].get("worker", path.stem)
        connects = [r for r in records if r.get("event") == "connect"]
        peak = max(
            (int(r.get("checked_out", 0)) for r in records if r.get("event") == "checkout"),
            default=0,
        )
        slowest = sorted(
            (r for r in connects if r.get("ms") is not None), key=lambda r: -float(r["ms"])
        )[:3]
        held: dict[str, float] = {}
        for record in records:
            if record.get("event") == "checkin" and record.get("held_by"):
                held[record["held_by"]] = held.get(record["held_by"], 0.0) + float(
                    record.get("held_ms", 0.0)
                )
        longest = sorted(held.items(), key=lambda kv: -kv[1])[:3]
        lines.append(
            f"{worker}: {len(connects)} connection(s) opened, peak {peak} checked out at once, "
            f"{len(records)} records in {path.name}"
        )
        if slowest:
            lines.append(
                "  slowest connects: "
                + ", ".join(
                    f"{float(r['ms']):.1f} ms ({r.get('test') or 'outside tests'})" for r in slowest
                )
            )
        if longest:
            lines.append(
                "  held longest: " + ", ".join(f"{test} {ms:.0f} ms" for test, ms in longest)
            )
    return lines
