"""The controller's side of a run: server, template, and one database per worker.

Plain Python with no pytest import: the plugin calls it from the controller's hooks (or
from the single process without xdist), and ``python -m pgsandbox prep`` calls it to
prepare a server and template ahead of a run.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy.engine import make_url

from pgsandbox._admin import AdminConnection, OwnedDatabase, connect
from pgsandbox._canary import CanaryResult, check_canary, write_canary
from pgsandbox._errors import ConfigurationError, PgsandboxError, ServerUnavailable
from pgsandbox._faults import (
    LIMIT,
    ConnectionBudget,
    limit_message,
    per_worker_connections,
    remember_budget,
    trouble_detail,
    trouble_of,
)
from pgsandbox._naming import (
    advisory_key,
    new_run_id,
    shared_database_name,
    worker_database_name,
)
from pgsandbox._server import ServerInfo, resolve_server
from pgsandbox._template import TemplateInfo, ensure_template

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import URL

    from pgsandbox._settings import SandboxSettings

__all__ = ["Assignment", "RunController", "dead_run_databases", "reap_leftovers"]

_LISTED = 10  # leftover names listed in the header; the rest are counted


@dataclass(frozen=True, slots=True)
class Assignment:
    """What one worker process needs to know; travels in xdist's ``workerinput``."""

    run_id: str
    worker_id: str
    server_url: str
    server_source: str
    template: str
    worker_database: str
    shared_database: str
    max_connections: str = "0"
    workers: str = "1"

    def to_dict(self) -> dict[str, str]:
        """Serialise for ``workerinput`` (plain strings only cross execnet)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assignment:
        """Read back what :meth:`to_dict` wrote."""
        return cls(**{key: str(data[key]) for key in cls.__dataclass_fields__ if key in data})

    @property
    def url(self) -> URL:
        """The server URL (maintenance database)."""
        return make_url(self.server_url)


@dataclass
class RunController:
    """Prepares and cleans up every database of one run.

    Call :meth:`start` once, :meth:`prepare_worker` per worker, :meth:`release_worker`
    when a worker ends and :meth:`finish` at the end. :meth:`finish` may be called from
    any exit path (pytest_unconfigure after a Ctrl-C, say) and more than once; it never
    raises for a server that went away or is full: it records the fault in
    :attr:`trouble` and the databases it could not drop in :attr:`undropped`.
    """

    settings: SandboxSettings
    say: Callable[[str], None] = print
    run_id: str = field(default_factory=lambda: run_id_from_env() or new_run_id())
    server: ServerInfo | None = None
    template: TemplateInfo | None = None
    canaries: list[CanaryResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    _admin: AdminConnection | None = None
    _workers: dict[str, str] = field(default_factory=dict)
    worker_ids: list[str] = field(default_factory=list)
    leftover_sessions: list[tuple[Any, ...]] = field(default_factory=list)
    _shared: str | None = None
    #: How many xdist workers the run starts (for the connection budget in messages).
    expected_workers: int = 1
    #: Every database this process created, in order: what cleanup must drop.
    created: list[str] = field(default_factory=list)
    #: What the cleanup dropped (all of this run's databases, workers' clones included).
    dropped: list[str] = field(default_factory=list)
    #: Databases of this run the cleanup could not drop.
    undropped: list[str] = field(default_factory=list)
    #: The first server fault seen: (LOST or LIMIT, the error's last line).
    trouble: tuple[str, str] | None = None
    #: Databases of dead runs found (or, with --pgsandbox-reap, dropped) at start:
    #: (name, age in seconds or None).
    reaped: list[tuple[str, float | None]] = field(default_factory=list)
    budget: ConnectionBudget | None = None
    finished: bool = False

    @property
    def admin(self) -> AdminConnection:
        """The controller's maintenance connection (open between start and finish)."""
        if self._admin is None:
            msg = "RunController.start() was not called"
            raise RuntimeError(msg)
        return self._admin

    def start(self) -> None:
        """Resolve the server, build or reuse the template, create the shared database."""
        self.server = resolve_server(self.settings.cli_url, self.settings.env_url)
        self.say(f"pgsandbox: run {self.run_id}, server {self.server.describe()}")
        self._admin = self._connect()
        self.admin.require_createdb(self.server.source)
        # Held for the whole run: a reap treats runs whose lock is free as dead.
        self.admin.lock(advisory_key(f"run:{self.run_id}"))
        self.budget = ConnectionBudget(
            max_connections=self.admin.max_connections(),
            per_worker=sum(per_worker_connections().values()),
            workers=self.expected_workers,
        )
        remember_budget(self.budget)
        self._reap_dead_runs()
        self.template = ensure_template(
            self.admin,
            self.server.url,
            self.settings.schema,
            run_id=self.run_id,
            rebuild=self.settings.rebuild,
        )
        self.say(
            f"pgsandbox: template {self.template.name} {self.template.action} in "
            f"{self.template.seconds:.2f}s from {self.settings.schema.describe()} "
            f"({self.template.inputs} input files hashed)"
        )
        self._shared = shared_database_name(self.run_id)
        self.timings["clone_shared"] = self._clone(self._shared, "shared")

    def prepare_worker(self, worker_id: str) -> Assignment:
        """Clone the template into a database for one worker and return its assignment."""
        assert self.server is not None
        assert self.template is not None
        assert self._shared is not None
        assert self.budget is not None
        name = worker_database_name(self.run_id, worker_id)
        self.timings[f"clone_{worker_id}"] = self._clone(name, "worker", worker=worker_id)
        self._workers[worker_id] = name
        self.worker_ids.append(worker_id)
        return Assignment(
            run_id=self.run_id,
            worker_id=worker_id,
            server_url=self.server.url.render_as_string(hide_password=False),
            server_source=self.server.source,
            template=self.template.name,
            worker_database=name,
            shared_database=self._shared,
            max_connections=str(self.budget.max_connections),
            workers=str(self.budget.workers),
        )

    def release_worker(self, worker_id: str) -> CanaryResult | None:
        """Check a finished worker's canary and drop its database (unless keeping).

        Never raises for a lost or full server (see :attr:`trouble`).
        """
        name = self._workers.pop(worker_id, None)
        if name is None:
            return None
        return self._check_and_drop(name)

    def finish(self, *, check: bool = True) -> list[CanaryResult]:
        """Release every remaining database, close the connection; return all canaries.

        Safe on every exit path and idempotent. Without ``check`` (an interrupted run)
        the canaries are not read: the databases are only dropped.
        """
        if self.finished:
            return self.canaries
        self.finished = True
        if self._admin is None and not self.created:
            return self.canaries
        try:
            if check:
                for worker_id in list(self._workers):
                    self.release_worker(worker_id)
                if self._shared is not None:
                    self._check_and_drop(self._shared)
                self._shared = None
            self._guarded(self._record_sessions)
            if self.settings.keep:
                self._guarded(self._mark_kept)
            else:
                self._drop_run_databases()
        finally:
            if self._admin is not None:
                with contextlib.suppress(Exception):
                    self._admin.close()
                self._admin = None
        return self.canaries

    def kept_databases(self) -> list[str]:
        """Databases left in place by ``--pgsandbox-keep``."""
        return [c.database for c in self.canaries] if self.settings.keep else []

    def cleanup_lines(self) -> list[str]:
        """What the cleanup dropped or could not drop, with the command that drops it."""
        lines = []
        if self.dropped:
            lines.append(
                f"pgsandbox: dropped the run's {len(self.dropped)} database(s): "
                + ", ".join(self.dropped)
            )
        undropped = self.undropped_line()
        if undropped is not None:
            lines.append(undropped)
        return lines

    def undropped_line(self) -> str | None:
        """The databases of this run the cleanup could not drop, and how to drop them."""
        if not self.undropped:
            return None
        return (
            f"pgsandbox: could not drop {len(self.undropped)} database(s) of run "
            f"{self.run_id}: {', '.join(self.undropped)}. Drop them with `python -m "
            "pgsandbox reap` (or --pgsandbox-reap) once the server answers; the next run "
            "also drops them on its own."
        )

    def trouble_line(self, failed_tests: int = 0) -> str | None:
        """One line naming the server fault the run met, and its fix."""
        if self.trouble is None:
            return None
        kind, detail = self.trouble
        where = self.server.url.render_as_string(hide_password=True) if self.server else "?"
        tests = f"; {failed_tests} test(s) failed because of it" if failed_tests else ""
        if kind == LIMIT:
            return limit_message(f"at {where}", detail, self._in_use(), tests)
        return (
            f"pgsandbox: the PostgreSQL server at {where} went away during the run ({detail})"
            f"{tests}. Fix: find out what stopped or restarted it (its log); a private "
            "cluster is started again by the next run. The run's databases are dropped by "
            "`python -m pgsandbox reap` or by the next run."
        )

    # ------------------------------------------------------------------ internals
    def _connect(self) -> AdminConnection:
        assert self.server is not None
        return AdminConnection(
            connect(
                self.server.url,
                source=self.server.source,
                application_name=f"pgsandbox/{self.run_id}/controller",
            )
        )

    def _reap_dead_runs(self) -> None:
        """Say which databases dead runs left (or drop them, with ``--pgsandbox-reap``).

        Listed, not dropped, by default: a database a ``--pgsandbox-keep`` run kept, or
        one a user is inspecting after a crash, is still wanted until someone says so.
        """
        now = time.time()
        if self.settings.reap:
            found = reap_leftovers(self.admin, current_run=self.run_id)
            verb = "reaped"
        else:
            found = dead_run_databases(self.admin, current_run=self.run_id)
            verb = "found"
        self.reaped = [
            (db.name, now - float(db.meta["created"]) if "created" in db.meta else None)
            for db in found
        ]
        if not found and not self.settings.reap:
            return
        listed = ", ".join(
            name
            + (" (kept)" if db.meta.get("kept") else "")
            + (f" ({age / 60:.0f} min old)" if age is not None else "")
            for (name, age), db in list(zip(self.reaped, found, strict=True))[:_LISTED]
        )
        more = f" and {len(found) - _LISTED} more" if len(found) > _LISTED else ""
        line = f"pgsandbox: {verb} {len(found)} leftover database(s) of dead runs" + (
            f": {listed}{more}" if listed else ""
        )
        if not self.settings.reap:
            line += ". Drop them with --pgsandbox-reap or `python -m pgsandbox reap`."
        self.say(line)

    def _clone(self, name: str, kind: str, **extra: str) -> float:
        assert self.server is not None
        assert self.template is not None
        meta = {
            "kind": kind,
            "run": self.run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "created": round(time.time()),
            **extra,
        }
        self.created.append(name)  # before CREATE: an interrupt may land in the middle
        seconds = self.admin.create(name, meta=meta, template=self.template.name)
        write_canary(self.server.url, name, self.run_id)
        return seconds

    def _guarded(self, operation: Callable[[], object]) -> bool:
        """Run a cleanup step; on a lost or full server record why and return False.

        A maintenance connection that broke (an interrupt in the middle of a statement,
        a restarted server) is replaced once.
        """
        for attempt in (1, 2):
            try:
                if self._admin is None or self._admin.conn.broken or self._admin.conn.closed:
                    self._admin = self._connect()
                operation()
            except (psycopg.Error, PgsandboxError) as exc:
                self.note(f"{type(exc).__name__}: {exc}")
                if self._admin is not None:
                    with contextlib.suppress(Exception):
                        self._admin.close()
                self._admin = None
                if attempt == 2 or isinstance(exc, ServerUnavailable):
                    return False
            else:
                return True
        return False

    def note(self, text: str) -> str | None:
        """Record the first server fault an error's text shows; return its kind, if any."""
        kind = trouble_of(text)
        if self.trouble is None and kind is not None:
            self.trouble = (kind, trouble_detail(kind, text))
        return kind

    def _record_sessions(self) -> None:
        self.leftover_sessions = list(self.admin.iter_sessions(f"pgsandbox/{self.run_id}/"))

    def _mark_kept(self) -> None:
        for db in self.admin.owned_databases():
            if db.run_id == self.run_id and db.kind != "template":
                self.admin.mark(db.name, {**db.meta, "kept": True})

    def _drop_run_databases(self) -> None:
        """Drop every database of this run: the ones it created and its workers' clones."""
        names = list(dict.fromkeys(self.created))

        def find_clones() -> None:
            for db in self.admin.owned_databases():
                if db.run_id == self.run_id and db.kind != "template" and db.name not in names:
                    names.append(db.name)

        self._guarded(find_clones)
        for name in names:
            self._drop(name)

    def _drop(self, name: str) -> None:
        """Drop one database of the run, recording whether it went."""
        gone: list[bool] = []
        if not self._guarded(lambda: gone.append(self.admin.drop(name))):
            if name not in self.undropped:
                self.undropped.append(name)
            return
        if name in self.undropped:
            self.undropped.remove(name)
        if gone[0]:
            self.dropped.append(name)

    def _check_and_drop(self, name: str) -> CanaryResult:
        assert self.server is not None
        # Once the server is known full, the next canaries do not wait for a slot again.
        full = self.trouble is not None and self.trouble[0] == LIMIT
        result = check_canary(
            self.server.url,
            name,
            self.run_id,
            remove=not self.settings.keep,
            **({"limit_wait_s": 0.0} if full else {}),
        )
        if not result.checked:
            self.note(result.detail)
        self.canaries.append(result)
        if not self.settings.keep:
            self._drop(name)
        return result

    def _in_use(self) -> int | None:
        in_use: list[int] = []
        self._guarded(lambda: in_use.append(self.admin.connection_count()))
        return in_use[0] if in_use else None


def run_id_from_env() -> str | None:
    """``PGSANDBOX_RUN_ID``, which lets a harness (``python -m pgsandbox stress``) name a run.

    Raises:
        ConfigurationError: the value is not 4 to 12 lowercase letters and digits.
    """
    value = os.environ.get("PGSANDBOX_RUN_ID", "")
    if not value:
        return None
    if not re.fullmatch(r"[a-z0-9]{4,12}", value):
        msg = f"pgsandbox: PGSANDBOX_RUN_ID={value!r} must be 4-12 lowercase letters or digits."
        raise ConfigurationError(msg)
    return value


def dead_run_databases(
    admin: AdminConnection, *, current_run: str | None = None
) -> list[OwnedDatabase]:
    """The databases of runs that are no longer alive (their run lock is free)."""
    by_run: dict[str, list[OwnedDatabase]] = {}
    for db in admin.owned_databases():
        if db.kind != "template" and db.run_id and db.run_id != current_run:
            by_run.setdefault(db.run_id, []).append(db)
    dead: list[OwnedDatabase] = []
    for run_id, databases in sorted(by_run.items()):
        key = advisory_key(f"run:{run_id}")
        if admin.try_lock(key):
            admin.unlock(key)
            dead.extend(databases)
    return dead


def reap_leftovers(
    admin: AdminConnection, *, current_run: str | None = None
) -> list[OwnedDatabase]:
    """Drop the databases of runs that are no longer alive (their run lock is free).

    A database that resists the drop is skipped; the next reap tries again.
    """
    dropped: list[OwnedDatabase] = []
    by_run: dict[str, list[OwnedDatabase]] = {}
    for db in admin.owned_databases():
        if db.kind != "template" and db.run_id and db.run_id != current_run:
            by_run.setdefault(db.run_id, []).append(db)
    for run_id, databases in sorted(by_run.items()):
        key = advisory_key(f"run:{run_id}")
        if not admin.try_lock(key):
            continue  # that run is still going
        try:
            for db in databases:
                try:
                    if admin.drop(db.name):
                        dropped.append(db)
                except psycopg.errors.ObjectInUse:
                    continue
        finally:
            admin.unlock(key)
    return dropped
