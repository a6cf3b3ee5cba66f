"""The controller's side of a run: server, template, and one database per worker.

Plain Python with no pytest import: the plugin calls it from the controller's hooks (or
from the single process without xdist), and ``python -m pgsandbox prep`` calls it to
prepare a server and template ahead of a run.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from pgsandbox._admin import AdminConnection, connect
from pgsandbox._canary import CanaryResult, check_canary, write_canary
from pgsandbox._errors import ConfigurationError
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

__all__ = ["Assignment", "RunController", "reap_leftovers"]


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

    def to_dict(self) -> dict[str, str]:
        """Serialise for ``workerinput`` (plain strings only cross execnet)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assignment:
        """Read back what :meth:`to_dict` wrote."""
        return cls(**{key: str(data[key]) for key in cls.__dataclass_fields__})

    @property
    def url(self) -> URL:
        """The server URL (maintenance database)."""
        return make_url(self.server_url)


@dataclass
class RunController:
    """Prepares and cleans up every database of one run.

    Call :meth:`start` once, :meth:`prepare_worker` per worker, :meth:`release_worker`
    when a worker ends and :meth:`finish` at the end.
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
        self._admin = AdminConnection(
            connect(
                self.server.url,
                source=self.server.source,
                application_name=f"pgsandbox/{self.run_id}/controller",
            )
        )
        self.admin.require_createdb(self.server.source)
        # Held for the whole run: --pgsandbox-reap treats runs whose lock is free as dead.
        self.admin.lock(advisory_key(f"run:{self.run_id}"))
        if self.settings.reap:
            dropped = reap_leftovers(self.admin, current_run=self.run_id)
            self.say(
                f"pgsandbox: reaped {len(dropped)} leftover database(s) of crashed runs"
                + (f": {', '.join(dropped)}" if dropped else "")
            )
        self.template = ensure_template(
            self.admin, self.server.url, self.settings.schema, run_id=self.run_id
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
        )

    def release_worker(self, worker_id: str) -> CanaryResult | None:
        """Check a finished worker's canary and drop its database (unless keeping)."""
        name = self._workers.pop(worker_id, None)
        if name is None:
            return None
        return self._check_and_drop(name)

    def finish(self) -> list[CanaryResult]:
        """Release every remaining database, close the connection; return all canaries."""
        if self._admin is None:
            return self.canaries
        try:
            for worker_id in list(self._workers):
                self.release_worker(worker_id)
            self.leftover_sessions = list(self.admin.iter_sessions(f"pgsandbox/{self.run_id}/"))
            if self._shared is not None:
                self._check_and_drop(self._shared)
                self._shared = None
            if not self.settings.keep:
                self._drop_leftover_clones()
        finally:
            self._admin.close()
            self._admin = None
        return self.canaries

    def kept_databases(self) -> list[str]:
        """Databases left in place by ``--pgsandbox-keep``."""
        return [c.database for c in self.canaries] if self.settings.keep else []

    # ------------------------------------------------------------------ internals
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
        seconds = self.admin.create(name, meta=meta, template=self.template.name)
        write_canary(self.server.url, name, self.run_id)
        return seconds

    def _drop_leftover_clones(self) -> None:
        """Drop this run's per-test clones that a crashed worker left (its pool's spares)."""
        for db in self.admin.owned_databases():
            if db.kind == "test" and db.run_id == self.run_id:
                self.admin.drop(db.name)

    def _check_and_drop(self, name: str) -> CanaryResult:
        assert self.server is not None
        result = check_canary(self.server.url, name, self.run_id, remove=not self.settings.keep)
        self.canaries.append(result)
        if not self.settings.keep:
            self.admin.drop(name)
        return result


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


def reap_leftovers(admin: AdminConnection, *, current_run: str | None = None) -> list[str]:
    """Drop the databases of runs that are no longer alive (their run lock is free)."""
    dropped: list[str] = []
    by_run: dict[str, list[str]] = {}
    for db in admin.owned_databases():
        if db.kind != "template" and db.run_id and db.run_id != current_run:
            by_run.setdefault(db.run_id, []).append(db.name)
    for run_id, names in sorted(by_run.items()):
        key = advisory_key(f"run:{run_id}")
        if not admin.try_lock(key):
            continue  # that run is still going
        try:
            for name in names:
                if admin.drop(name):
                    dropped.append(name)
        finally:
            admin.unlock(key)
    return dropped
