"""Run one generated suite under one strategy and worker count; collect what it measured."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._servers import PssSampler

if TYPE_CHECKING:
    from benchmarks._servers import BenchServer
    from benchmarks.strategies import Strategy

__all__ = ["REPO_ROOT", "RunResult", "run_suite", "warm_bytecode"]

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class RunResult:
    """What one pytest run of a benchmark suite measured.

    Attributes:
        wall_s: from starting pytest to its exit.
        setup_s: from starting pytest to the first test body (earliest worker).
        test_s: per test, setup + call + teardown as pytest timed them.
        reference_s: the same unit of work alone on an open connection, same run.
        worker_rss_mb: peak RSS of each process that ran tests.
        server_pss_mb: peak memory of the ephemeral server during the run.
        clone_waits_s: how long each pgsandbox ``database`` test waited for its clone.
        tests_span_s: from the first test body to the end of the last test.
        load_before / load_after: the machine's 1-minute load average around the run.
    """

    strategy: str
    server: str
    workers: int
    tests: int
    wall_s: float
    setup_s: float | None
    returncode: int
    test_s: list[float] = field(default_factory=list)
    reference_s: list[float] = field(default_factory=list)
    worker_rss_mb: list[float] = field(default_factory=list)
    server_pss_mb: float | None = None
    clone_waits_s: list[float] = field(default_factory=list)
    tests_span_s: float | None = None
    load_before: float | None = None
    load_after: float | None = None
    output_tail: str = ""

    @property
    def ok(self) -> bool:
        """Whether every test passed."""
        return self.returncode == 0 and len(self.test_s) == self.tests

    @property
    def per_test_ms(self) -> float:
        """Median test duration."""
        return statistics.median(self.test_s) * 1000 if self.test_s else float("nan")

    @property
    def work_ms(self) -> float:
        """Median work-only time."""
        return statistics.median(self.reference_s) * 1000 if self.reference_s else float("nan")

    @property
    def overhead_ms(self) -> float:
        """Median per-test overhead: test duration minus the work alone."""
        return self.per_test_ms - self.work_ms


_WARM_MODULES = (
    "pytest",
    "xdist.plugin",
    "pytest_asyncio",
    "alembic.command",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "sqlalchemy.dialects.postgresql.psycopg",
    "pgsandbox.plugin",
    "pgsandbox._async_fixtures",
    "benchmarks._probe",
    "benchmarks._db",
)


def warm_bytecode() -> None:
    """Import what the suites import once, so no timed run pays for compiling it.

    A fresh environment (a new nox venv) has no ``__pycache__`` yet; without this the
    first timed run, the template-build one, would include seconds of compilation.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    modules = [*_WARM_MODULES]
    with contextlib.suppress(ImportError):
        import pytest_postgresql  # noqa: F401 - only asking whether it is installed

        modules.append("pytest_postgresql.plugin")
    subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", "; ".join(f"import {m}" for m in modules)],
        env=env,
        check=True,
    )


def run_suite(
    suite: Path,
    strategy: Strategy,
    server: BenchServer,
    *,
    workers: int,
    tests: int,
    run_id: str,
    serial: int,
    alembic_ini: Path,
    reference_database: str,
    work_dir: Path,
) -> RunResult:
    """Run the suite in a pytest subprocess and read the probe's records."""
    out_dir = work_dir / "probe" / f"{serial:04d}"
    shutil.rmtree(out_dir, ignore_errors=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "BENCH_SERVER_URL": server.url.render_as_string(hide_password=False),
        "BENCH_RUN_ID": run_id,
        "BENCH_REFERENCE_DB": reference_database,
        "BENCH_OUT": str(out_dir),
        "PGSANDBOX_RUN_ID": f"{run_id}{serial:04d}",
    }
    env.pop("PGSANDBOX_URL", None)
    # Users' machines keep bytecode caches; without them every pytest start recompiles
    # SQLAlchemy and friends, seconds that belong to no strategy.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(suite),
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "-p",
        "benchmarks._probe",
        "-n",
        str(workers),
        *strategy.pytest_args(server.url, run_id, alembic_ini),
    ]
    load_before = os.getloadavg()[0]
    launched = time.time()
    started = time.perf_counter()
    with PssSampler(server.pid_file) as sampler:
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            command, cwd=suite, env=env, capture_output=True, text=True, check=False
        )
    wall = time.perf_counter() - started
    result = RunResult(
        strategy=strategy.key,
        server=server.name,
        workers=workers,
        tests=tests,
        wall_s=wall,
        setup_s=None,
        returncode=done.returncode,
        server_pss_mb=sampler.peak_mb,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        output_tail="\n".join((done.stdout + done.stderr).strip().splitlines()[-25:]),
    )
    first_starts, last_ends = [], []
    for record_file in sorted(out_dir.glob("*.json")) if out_dir.is_dir() else []:
        record = json.loads(record_file.read_text())
        result.test_s.extend(record["tests"].values())
        result.reference_s.extend(record["reference_s"])
        result.worker_rss_mb.append(round(record["max_rss_kb"] / 1024, 1))
        result.clone_waits_s.extend(record.get("clone_waits_s") or [])
        if record["first_call_start"] is not None:
            first_starts.append(record["first_call_start"])
        if record["last_end"] is not None:
            last_ends.append(record["last_end"])
    if first_starts:
        result.setup_s = min(first_starts) - launched
    if first_starts and last_ends:
        result.tests_span_s = max(last_ends) - min(first_starts)
    return result
