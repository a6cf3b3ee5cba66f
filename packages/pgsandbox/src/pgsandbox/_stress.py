"""``python -m pgsandbox stress``: run a suite at several worker counts and watch connections.

For each worker count the suite runs in a subprocess under a fixed run id, while a
sampler polls ``pg_stat_activity`` for that run's sessions (its databases and its tagged
application names). The table shows wall time, speed-up against the first count, peak
connections and failures; the command fails on any failed run or when peak connections
pass a bound computed from the worker count and pgsandbox's pool sizes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from pgsandbox._admin import AdminConnection, connect
from pgsandbox._faults import CONTROLLER_CONNECTIONS, per_worker_connections
from pgsandbox._naming import new_run_id
from pgsandbox._server import URL_VARIABLE, ServerInfo, resolve_server, url_from_environment

__all__ = ["StressResult", "connection_bound", "failing_tests", "run_stress"]

#: Per worker, by what holds them (see :func:`pgsandbox._faults.per_worker_connections`):
#: the busiest async engine at pool + overflow, the other database's idle pool, the idle
#: sync connections, and four maintenance connections. The bound before 0.3 (pool +
#: overflow + 3) left out the clone pool's connections and the idle pools, so a healthy
#: ``-n 1`` run could peak one above it.
PER_WORKER_BOUND = sum(per_worker_connections().values())
#: The controller's maintenance connection and a canary check.
CONTROLLER_BOUND = CONTROLLER_CONNECTIONS
_SAMPLE_EVERY_S = 0.05
_FAILURE_LINE = re.compile(r"^(FAILED|ERROR) (\S+)(?: - (.*))?$")


def connection_bound(workers: int) -> int:
    """The most connections a run with ``workers`` workers may hold at once."""
    return CONTROLLER_BOUND + max(workers, 1) * PER_WORKER_BOUND


@dataclass(frozen=True, slots=True)
class StressResult:
    """One run of the suite."""

    workers: int
    wall_s: float
    peak_connections: int
    bound: int
    returncode: int
    summary: str


class _Sampler(threading.Thread):
    def __init__(self, admin: AdminConnection, run_id: str) -> None:
        super().__init__(daemon=True)
        self.admin, self.run_id = admin, run_id
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        prefix_db, prefix_app = f"pgsb_{self.run_id}_", f"pgsandbox/{self.run_id}/"
        while not self._stop_event.is_set():
            row = self.admin.conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                "(starts_with(datname, %s) OR starts_with(application_name, %s))",
                (prefix_db, prefix_app),
            ).fetchone()
            self.peak = max(self.peak, int(row[0]) if row else 0)
            self._stop_event.wait(_SAMPLE_EVERY_S)

    def stop(self) -> int:
        self._stop_event.set()
        self.join(timeout=5)
        return self.peak


def run_stress(
    worker_counts: list[int], pytest_args: list[str], url: str | None, *, load: int = 0
) -> int:
    """Run the suite at each worker count, print the table; return the exit code.

    With ``load``, that many CPU-burning processes run alongside every run (started
    before the first, always stopped).
    """
    from pgsandbox._flake import Burners  # _flake imports this module

    server = resolve_server(url, url_from_environment(), cli_option="--url")
    print(
        f"pgsandbox stress: server {server.describe()}"
        + (f", with {load} CPU burner(s)" if load else "")
    )
    with Burners(load):
        results = _stress_runs(worker_counts, pytest_args, url, server)
    return _verdict(results)


def _stress_runs(
    worker_counts: list[int], pytest_args: list[str], url: str | None, server: ServerInfo
) -> list[StressResult]:
    results: list[StressResult] = []
    for workers in worker_counts:
        run_id = new_run_id()
        admin = AdminConnection(
            connect(server.url, source=server.source, application_name="pgsandbox/stress")
        )
        sampler = _Sampler(admin, run_id)
        sampler.start()
        command = [sys.executable, "-m", "pytest", "-q", "-n", str(workers), *pytest_args]
        print(f"pgsandbox stress: -n {workers}: {' '.join(command[3:])}", flush=True)
        started = time.perf_counter()
        # -rfE: the short summary names every failed test with its first error line.
        addopts = f"{os.environ.get('PYTEST_ADDOPTS', '')} -rfE".strip()
        env = {**os.environ, "PGSANDBOX_RUN_ID": run_id, "PYTEST_ADDOPTS": addopts}
        if url:
            # The runs must use the server the sampler watches, not the one the environment names.
            env[URL_VARIABLE] = url
        returncode, stdout, stderr = run_pytest(command, env)
        done = subprocess.CompletedProcess(command, returncode, stdout, stderr)
        wall = time.perf_counter() - started
        peak = sampler.stop()
        admin.close()
        summary = _summary_line(done.stdout)
        results.append(
            StressResult(workers, wall, peak, connection_bound(workers), done.returncode, summary)
        )
        print(
            f"pgsandbox stress: -n {workers}: {summary} in {wall:.1f}s, peak {peak} connections",
            flush=True,
        )
        if done.returncode != 0:
            print(done.stdout[-6000:], done.stderr[-3000:], sep="\n")
            for nodeid, first_line in failing_tests(done.stdout):
                print(f"pgsandbox stress: -n {workers}: failed {nodeid} - {first_line}")
    return results


def _verdict(results: list[StressResult]) -> int:
    print(
        f"pgsandbox stress: bound = {CONTROLLER_BOUND} (controller) + workers x "
        f"{PER_WORKER_BOUND} ("
        + ", ".join(f"{n} {what}" for what, n in per_worker_connections().items())
        + ")"
    )
    print(_table(results))
    problems = [
        f"-n {r.workers}: pytest exited {r.returncode} ({r.summary})"
        for r in results
        if r.returncode != 0
    ] + [
        f"-n {r.workers}: peak {r.peak_connections} connections is above the bound {r.bound}"
        for r in results
        if r.peak_connections > r.bound
    ]
    for problem in problems:
        print(f"pgsandbox stress: FAILED: {problem}")
    if not problems:
        print("pgsandbox stress: PASSED: no failures, connections within bounds")
    return 1 if problems else 0


def stop_on_signals() -> None:
    """Make SIGTERM and SIGHUP (a CI job cancelled, a terminal closed) stop the harness
    as Ctrl-C does: its burners stop and its pytest's group gets SIGINT, then SIGKILL.

    SIGINT itself raises ``KeyboardInterrupt`` even in a harness started in the
    background, where the shell starts it with SIGINT ignored; a handled signal is reset
    to its default in the pytest it starts, so that pytest stops on SIGINT too (an
    ignored one would stay ignored there).
    """

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)


def run_pytest(command: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run one pytest of the harness in a process group of its own; (code, stdout, stderr).

    Interrupted (Ctrl-C), the whole group gets SIGINT, so pytest cleans up as after a
    Ctrl-C of its own (pgsandbox drops the run's databases), and after 60 s SIGKILL: xdist
    workers and the subprocesses tests started never outlive the harness.
    """
    # Without a terminal pytest cuts each short-summary line to 80 columns, and leaves the
    # error out when the node id alone fills them: the tables would say only "FAILED".
    wide = {**(os.environ if env is None else env), "COLUMNS": "1000"}
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=wide,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        for signum, wait_s in ((signal.SIGINT, 60.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)
            try:
                proc.communicate(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        raise
    return proc.returncode, stdout, stderr


def failing_tests(stdout: str) -> list[tuple[str, str]]:
    """``(node id, first error line)`` of each failed or errored test in ``-rfE`` output."""
    found = []
    for line in stdout.splitlines():
        match = _FAILURE_LINE.match(line.strip())
        if match:
            found.append((match.group(2), (match.group(3) or match.group(1)).strip()))
    return found


def _summary_line(stdout: str) -> str:
    for line in reversed(stdout.splitlines()):
        if re.search(r"\d+ (passed|failed|error)", line):
            return line.strip("= ").strip()
    return "no summary line"


def _table(results: list[StressResult]) -> str:
    base = results[0].wall_s if results else 1.0
    header = (
        f"{'workers':>7} {'wall s':>8} {'speed-up':>9} {'peak conns':>11} {'bound':>6} "
        f"{'failures':>9}"
    )
    lines = [header]
    for r in results:
        failures = sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)", r.summary))
        lines.append(
            f"{r.workers:>7} {r.wall_s:>8.1f} {base / r.wall_s:>8.2f}x {r.peak_connections:>11} "
            f"{r.bound:>6} {failures:>9}"
        )
    return "\n".join(lines)
