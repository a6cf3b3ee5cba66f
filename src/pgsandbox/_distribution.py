"""Where each test ran: the controller's record of workers, outcomes and durations.

Workers tag the reports of database tests (``user_properties``), which xdist carries to
the controller; the controller collects one record per test from its reports. This is
what the end-of-run line "tests per worker" and the distribution report are made of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DB_PROPERTY", "DistributionRecorder", "TestRecord"]

DB_PROPERTY = "pgsandbox.isolation"


@dataclass
class TestRecord:
    """One test as the controller saw it."""

    __test__ = False

    nodeid: str
    worker: str
    outcome: str = "passed"
    duration: float = 0.0
    start: float = 0.0
    stop: float = 0.0
    isolation: str | None = None
    longrepr: str = ""

    @property
    def uses_database(self) -> bool:
        """Whether the test requested a pgsandbox fixture."""
        return self.isolation is not None


@dataclass
class DistributionRecorder:
    """Collects a :class:`TestRecord` per test from the phases' reports."""

    records: dict[str, TestRecord] = field(default_factory=dict)

    def add(self, report: Any, worker: str) -> None:
        """Fold one phase report (setup, call or teardown) into its test's record."""
        record = self.records.get(report.nodeid)
        if record is None:
            record = TestRecord(report.nodeid, worker, start=float(getattr(report, "start", 0)))
            self.records[report.nodeid] = record
        record.duration += float(report.duration)
        record.stop = float(getattr(report, "stop", record.stop))
        for key, value in getattr(report, "user_properties", ()):
            if key == DB_PROPERTY:
                record.isolation = str(value)
        if report.failed:
            record.outcome = "error" if report.when != "call" else "failed"
            record.longrepr = str(report.longrepr)[-4000:]
        elif report.skipped and record.outcome == "passed":
            record.outcome = "skipped"
            record.longrepr = str(report.longrepr)[-500:]

    def per_worker(self) -> dict[str, dict[str, float]]:
        """Tests, database tests and busy seconds per worker, sorted by worker."""
        table: dict[str, dict[str, float]] = {}
        for record in self.records.values():
            row = table.setdefault(record.worker, {"tests": 0, "db_tests": 0, "busy_s": 0.0})
            row["tests"] += 1
            row["db_tests"] += int(record.uses_database)
            row["busy_s"] += record.duration
        return dict(sorted(table.items(), key=lambda kv: _worker_order(kv[0])))

    def summary_line(self) -> str:
        """``tests per worker: gw0 12 (3.1s), gw1 11 (2.9s)`` with database tests counted."""
        parts = [
            f"{worker} {int(row['tests'])} ({int(row['db_tests'])} db, {row['busy_s']:.1f}s)"
            for worker, row in self.per_worker().items()
        ]
        return "tests per worker: " + (", ".join(parts) if parts else "none ran")


def _worker_order(worker: str) -> tuple[int, str]:
    digits = "".join(ch for ch in worker if ch.isdigit())
    return (int(digits) if digits else -1, worker)
