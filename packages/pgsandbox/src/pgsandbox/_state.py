"""What pgsandbox keeps per pytest process, in ``config.stash``."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine

from pgsandbox._diagnostics import ConnectionTracker
from pgsandbox._distribution import DistributionRecorder

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import URL, Engine

    from pgsandbox._controller import RunController
    from pgsandbox._settings import SandboxSettings
    from pgsandbox._worker import WorkerDatabases

__all__ = ["STATE", "ProcessState"]


@dataclass
class ProcessState:
    """pgsandbox's state in one process: the controller, a worker, or both (no xdist)."""

    settings: SandboxSettings
    controller: RunController | None = None
    worker: WorkerDatabases | None = None
    header: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    recorder: DistributionRecorder = field(default_factory=DistributionRecorder)
    report: dict[str, Any] | None = None
    report_page: Path | None = None
    verdict: list[str] | None = None
    #: ``database`` tests by clone reuse, summed over the workers (see ``_recycle``).
    recycle: Counter[str] = field(default_factory=Counter)
    recycle_fallbacks: Counter[str] = field(default_factory=Counter)
    _sync_engines: dict[str, Engine] = field(default_factory=dict)
    _tracker: ConnectionTracker | None = None
    debug_handler: logging.Handler | None = None

    def sync_engine(self, url: URL, options: dict[str, Any]) -> Engine:
        """A pooled sync engine for ``url``, shared by the process's sync tests."""
        key = url.render_as_string(hide_password=False)
        engine = self._sync_engines.get(key)
        if engine is None:
            engine = create_engine(url, pool_size=1, max_overflow=4, **options)
            self.tracker().instrument(engine, f"sync:{url.database}")
            self._sync_engines[key] = engine
        return engine

    def add_recycle(self, summary: dict[str, dict[str, int]] | None) -> None:
        """Add one worker's counts of recycled and fresh ``database`` clones."""
        if summary:
            self.recycle.update(summary.get("counts", {}))
            self.recycle_fallbacks.update(summary.get("fallbacks", {}))

    def recycle_line(self) -> str | None:
        """``database isolation: N test(s), R on a reset clone, F fresh clone(s) ...``."""
        reused, fresh = self.recycle.get("reused", 0), self.recycle.get("fresh", 0)
        if not reused + fresh:
            return None
        line = (
            f"database isolation: {reused + fresh} test(s), {reused} on a reset clone, "
            f"{fresh} fresh clone(s)"
        )
        if self.recycle_fallbacks:
            why = ", ".join(f"{k}: {v}" for k, v in self.recycle_fallbacks.most_common())
            line += f"; not reset because {why}"
        return line

    def tracker(self) -> ConnectionTracker:
        """This process's connection tracker (created with the worker's databases)."""
        if self._tracker is None:
            run_id = self.worker.run_id if self.worker is not None else "-"
            worker_id = self.worker.worker_id if self.worker is not None else "-"
            self._tracker = ConnectionTracker(run_id, worker_id, debug=self.settings.debug)
        return self._tracker

    def close_worker(self) -> None:
        """Dispose the sync engines and close the worker's maintenance connection."""
        for engine in self._sync_engines.values():
            engine.dispose()
        self._sync_engines.clear()
        if self.worker is not None:
            self.worker.close()
        if self.debug_handler is not None:
            for name in list(logging.Logger.manager.loggerDict):
                logging.getLogger(name).removeHandler(self.debug_handler)
            self.debug_handler.close()
            self.debug_handler = None


class _StateAccess:
    key = pytest.StashKey[ProcessState]()

    def get(self, config: pytest.Config) -> ProcessState:
        return config.stash[self.key]

    def find(self, config: pytest.Config) -> ProcessState | None:
        return config.stash.get(self.key, None)

    def set(self, config: pytest.Config, state: ProcessState) -> None:
        config.stash[self.key] = state


STATE = _StateAccess()
