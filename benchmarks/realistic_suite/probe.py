"""pytest plugin of the realistic runs (``-p benchmarks.realistic_suite.probe``).

In each process that runs tests it records every test's outcome, its marked isolation
mode and the durations of its setup, call and teardown, when the first test body started
and the last test ended, and the process's peak RSS; at the end it writes them to
``$GLOSSBENCH_OUT/<pid>.json``.
Nothing else: it adds no work to the tests.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

import pytest

__all__: list[str] = []


class RealisticProbe:
    """One process's test outcomes and phase durations."""

    def __init__(self, out_dir: Path) -> None:
        """Record into ``out_dir``."""
        self.out_dir = out_dir
        self.phases: dict[str, dict[str, float]] = {}
        self.outcomes: dict[str, str] = {}
        self.isolation: dict[str, str] = {}
        self.first_call_start: float | None = None
        self.last_end: float | None = None

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Note the test's pgsandbox isolation mode as marked (unmarked: ``transaction``)."""
        marker = item.get_closest_marker("pgsandbox")
        marked = marker.kwargs.get("isolation") if marker is not None else None
        self.isolation[item.nodeid] = str(marked or "transaction")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep each phase's duration; a test failed if any phase failed."""
        self.phases.setdefault(report.nodeid, {})[report.when] = report.duration
        if report.when == "call" and (
            self.first_call_start is None or report.start < self.first_call_start
        ):
            self.first_call_start = report.start
        self.last_end = max(self.last_end or report.stop, report.stop)
        previous = self.outcomes.get(report.nodeid)
        if report.failed:
            self.outcomes[report.nodeid] = "failed" if report.when == "call" else "error"
        elif report.skipped:
            self.outcomes.setdefault(report.nodeid, "skipped")
        elif report.when == "call" and previous is None:
            self.outcomes[report.nodeid] = "passed"

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        """Write what this process saw."""
        record: dict[str, Any] = {
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "phases": self.phases,
            "outcomes": self.outcomes,
            "isolation": self.isolation,
            "first_call_start": self.first_call_start,
            "last_end": self.last_end,
            "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"{os.getpid()}.json").write_text(json.dumps(record))


def pytest_configure(config: pytest.Config) -> None:
    """Register the probe in processes that run tests (not in an xdist controller)."""
    out = os.environ.get("GLOSSBENCH_OUT")
    controller = bool(getattr(config.option, "numprocesses", 0)) and not hasattr(
        config, "workerinput"
    )
    if out and not controller:
        config.pluginmanager.register(RealisticProbe(Path(out)), "glossbench-probe")
