"""Where each test ran: the controller's record of workers, outcomes and durations.

Workers tag the reports of database tests (``user_properties``), which xdist carries to
the controller; the controller folds the setup, call and teardown reports of each test
into one :class:`TestRecord`. The end-of-run line "tests per worker", the JSON report and
``--pgsandbox-verify`` are all made from these records.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DB_PROPERTY", "LOOP_ERROR_PATTERN", "DistributionRecorder", "TestRecord"]

DB_PROPERTY = "pgsandbox.isolation"

#: The messages of the classic event-loop failures of async database tests.
LOOP_ERROR_PATTERN = re.compile(
    r"attached to a different loop|Event loop is closed|another operation is in progress"
    r"|cannot be called from a running event loop"
)


@dataclass
class TestRecord:
    """One test as the controller saw it."""

    __test__ = False

    nodeid: str
    worker: str
    outcome: str = "passed"
    duration: float = 0.0  # sum of the phases' reported durations
    busy: float = 0.0  # sum of the phases' wall-clock spans (stop - start)
    start: float = 0.0
    stop: float = 0.0
    isolation: str | None = None
    skip_reason: str = ""
    loop_errors: list[str] = field(default_factory=list)
    longrepr: str = ""

    @property
    def uses_database(self) -> bool:
        """Whether the test requested a pgsandbox fixture and ran (skipped ones did not)."""
        return self.isolation is not None and self.outcome != "skipped"

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON report stores it."""
        data = asdict(self)
        data["uses_database"] = self.uses_database
        data["duration"] = round(self.duration, 6)
        data["busy"] = round(self.busy, 6)
        return data


@dataclass
class DistributionRecorder:
    """Collects a :class:`TestRecord` per test from the phases' reports."""

    records: dict[str, TestRecord] = field(default_factory=dict)
    workers: set[str] = field(default_factory=set)

    def add(self, report: Any, worker: str) -> None:
        """Fold one phase report (setup, call or teardown) into its test's record."""
        self.workers.add(worker)
        start = float(getattr(report, "start", 0.0) or 0.0)
        stop = float(getattr(report, "stop", 0.0) or 0.0)
        record = self.records.get(report.nodeid)
        if record is None:
            record = TestRecord(report.nodeid, worker, start=start)
            self.records[report.nodeid] = record
        record.duration += float(report.duration)
        if stop >= start > 0:
            record.busy += stop - start
        record.stop = max(record.stop, stop)
        for key, value in getattr(report, "user_properties", ()):
            if key == DB_PROPERTY:
                record.isolation = str(value)
        text = _report_text(report)
        record.loop_errors.extend(
            sorted({match.group(0) for match in LOOP_ERROR_PATTERN.finditer(text)})
        )
        if report.failed:
            record.outcome = "error" if report.when != "call" else "failed"
            record.longrepr = str(report.longrepr)[-4000:]
        elif report.skipped and record.outcome == "passed":
            record.outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
            record.skip_reason = _skip_reason(report)

    def per_worker(self) -> dict[str, dict[str, float]]:
        """Tests, database tests and busy seconds per worker, sorted by worker."""
        table: dict[str, dict[str, float]] = {
            worker: {"tests": 0, "db_tests": 0, "busy_s": 0.0, "db_busy_s": 0.0, "duration_s": 0.0}
            for worker in self.workers
        }
        for record in self.records.values():
            row = table.setdefault(
                record.worker,
                {"tests": 0, "db_tests": 0, "busy_s": 0.0, "db_busy_s": 0.0, "duration_s": 0.0},
            )
            row["tests"] += 1
            row["db_tests"] += int(record.uses_database)
            row["busy_s"] += record.busy
            row["db_busy_s"] += record.busy if record.uses_database else 0.0
            row["duration_s"] += record.duration
        return dict(sorted(table.items(), key=lambda kv: worker_order(kv[0])))

    def summary_line(self) -> str:
        """``tests per worker: gw0 12 (12 db, 3.1s), gw1 11 (...)``."""
        parts = [
            f"{worker} {int(row['tests'])} ({int(row['db_tests'])} db, {row['busy_s']:.1f}s)"
            for worker, row in self.per_worker().items()
        ]
        return "tests per worker: " + (", ".join(parts) if parts else "none ran")


def worker_order(worker: str) -> tuple[int, str]:
    """Sort ``gw2`` before ``gw10``."""
    digits = "".join(ch for ch in worker if ch.isdigit())
    return (int(digits) if digits else -1, worker)


def _report_text(report: Any) -> str:
    parts = [str(report.longrepr)] if report.longrepr else []
    parts.extend(content for _, content in getattr(report, "sections", ()))
    return "\n".join(parts)


def _skip_reason(report: Any) -> str:
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail) or "xfail"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr or "")
    reason = reason.removeprefix("Skipped: ").strip()
    return "" if reason in {"", "unconditional skip", "Skipped"} else reason
