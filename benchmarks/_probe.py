"""pytest plugin loaded into every benchmark suite (``-p benchmarks._probe``).

In each process that runs tests it records, per test, the setup, call and teardown
durations, and when the first test's body started. Every ``reference_every``-th test it
also performs the very same unit of work on a connection it keeps open (inside a
transaction it rolls back, so nothing changes): the "work only" time that per-test
overhead is measured against, taken in the same run under the same load. At the end it
writes what it saw, with the process's peak RSS, to ``$BENCH_OUT/<pid>.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import time
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker, create_async_engine

from benchmarks._env import bench_env
from benchmarks.benchapp.service import place_order

if TYPE_CHECKING:
    from collections.abc import Generator

    from sqlalchemy.ext.asyncio import AsyncEngine

__all__: list[str] = []

#: Reference samples taken before these are discarded (connect, statement cache warm-up).
_WARMUP_SAMPLES = 2
_MIN_SAMPLES = 5


class _Reference:
    """The unit of work on one already-open connection, in an event loop of its own.

    It runs between tests, when pytest-asyncio's loops are idle, so its loop never nests
    inside theirs.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine: AsyncEngine | None = None
        self.connection: AsyncConnection | None = None
        self.samples: list[float] = []
        self.taken = 0

    async def _sample(self) -> float:
        if self.connection is None:
            env = bench_env()
            self.engine = create_async_engine(env.url(env.reference_database), pool_size=1)
            self.connection = await self.engine.connect()
        outer = await self.connection.begin()
        try:
            # Sessions bound to a connection inside a transaction do not commit it.
            maker = async_sessionmaker(bind=self.connection, expire_on_commit=False)
            started = time.perf_counter()
            await place_order(maker, 1)
            return time.perf_counter() - started
        finally:
            await outer.rollback()

    def take(self) -> None:
        seconds = self.loop.run_until_complete(self._sample())
        self.taken += 1
        if self.taken > _WARMUP_SAMPLES:
            self.samples.append(seconds)

    def close(self) -> None:
        async def _close() -> None:
            if self.connection is not None:
                await self.connection.close()
            if self.engine is not None:
                await self.engine.dispose()

        self.loop.run_until_complete(_close())
        self.loop.close()


class BenchProbe:
    """Records one process's test timings and reference samples."""

    def __init__(self) -> None:
        """Start with nothing recorded."""
        self.tests: dict[str, dict[str, float]] = {}
        self.first_call_start: float | None = None
        self.last_end: float | None = None
        self.reference = _Reference()
        self.count = 0

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Keep the duration of each phase of each test."""
        report = yield
        self.tests.setdefault(item.nodeid, {})[call.when] = call.duration
        if call.when == "call" and (
            self.first_call_start is None or call.start < self.first_call_start
        ):
            self.first_call_start = call.start
        self.last_end = call.stop
        return report

    def pytest_runtest_logfinish(self) -> None:
        """Every so many tests, time the work alone on the open connection."""
        self.count += 1
        if self.count % bench_env().reference_every == 1 or bench_env().reference_every == 1:
            self.reference.take()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Top up the reference samples, then write this process's record."""
        if not self.tests:
            return
        while len(self.reference.samples) < _MIN_SAMPLES:
            self.reference.take()
        self.reference.close()
        env = bench_env()
        record: dict[str, Any] = {
            "worker": env.worker_id,
            "pid": os.getpid(),
            "tests": {
                nodeid: phases.get("setup", 0.0)
                + phases.get("call", 0.0)
                + phases.get("teardown", 0.0)
                for nodeid, phases in self.tests.items()
            },
            "phases_median_s": {
                phase: statistics.median(p.get(phase, 0.0) for p in self.tests.values())
                for phase in ("setup", "call", "teardown")
            },
            "failed": session.testsfailed,
            "first_call_start": self.first_call_start,
            "last_end": self.last_end,
            "reference_s": self.reference.samples,
            "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "clone_waits_s": _clone_waits(session.config),
        }
        env.out_dir.mkdir(parents=True, exist_ok=True)
        (env.out_dir / f"{os.getpid()}.json").write_text(json.dumps(record))


def _clone_waits(config: pytest.Config) -> list[float]:
    """How long pgsandbox's ``database`` tests waited for a clone, where it ran."""
    try:
        from pgsandbox._state import STATE
    except ImportError:
        return []
    state = STATE.find(config) if config.pluginmanager.hasplugin("pgsandbox") else None
    if state is None or state.worker is None:
        return []
    return state.worker.clone_waits


def pytest_configure(config: pytest.Config) -> None:
    """Register the probe in processes that run tests (not in an xdist controller)."""
    controller = bool(getattr(config.option, "numprocesses", 0)) and not hasattr(
        config, "workerinput"
    )
    if controller:
        return
    config.pluginmanager.register(BenchProbe(), "bench-probe")
