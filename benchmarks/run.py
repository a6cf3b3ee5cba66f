"""``python -m benchmarks.run``: every strategy, side by side, in one run (``nox -s bench``).

Usage::

    python -m benchmarks.run [--tests 300] [--repeat 3] [--workers 0,2,4]
                             [--strategies transaction,database,...] [--no-disk]
                             [--no-queue] [--integration-suite]

Runs the generated suite under each strategy and worker count ``--repeat`` times
(interleaved, so drift of a noisy machine spreads over all of them) on the bench's server,
and a subset on a disk-backed server too where one answers; measures clones, template
build against cache hit, and the export queue; prints the table and writes
``.reports/bench.json`` and ``.reports/bench.svg`` (``--docs`` also refreshes
docs/benchmarks.md and its chart). See docs/benchmarks.md for the method.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from benchmarks._db import (
    admin_connection,
    create_database,
    drop_database,
    drop_run_databases,
    migrate,
)
from benchmarks._env import SYNC_DRIVER
from benchmarks._micro import clone_times, fresh_schema, template_times
from benchmarks._runner import REPO_ROOT, RunResult, run_suite, warm_bytecode
from benchmarks._servers import DEFAULT_DISK_URL, disk_server, primary_server, settings_of
from benchmarks.benchapp import ALEMBIC_INI
from benchmarks.realistic import render_realistic, run_realistic
from benchmarks.report import render_table, update_docs, write_svg
from benchmarks.strategies import STRATEGIES, Strategy, by_key
from benchmarks.suite import write_suite
from pgsandbox._admin import AdminConnection, connect

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks._servers import BenchServer

__all__ = ["main"]

GLOSSATOR_ALEMBIC_INI = REPO_ROOT / "src" / "glossator" / "db" / "alembic.ini"
#: Strategies also run on the disk-backed server: the isolation-cost comparison.
DISK_STRATEGIES = ("transaction", "database", "per_test_db")


def _say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--tests", type=int, default=300, help="tests per suite (300)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; median (3)")
    parser.add_argument("--workers", default="0,2,4", help="xdist worker counts (0,2,4)")
    parser.add_argument(
        "--strategies",
        default=",".join(s.key for s in STRATEGIES),
        help="comma-separated strategy keys (all)",
    )
    parser.add_argument("--disk-url", default=DEFAULT_DISK_URL, help="disk-backed server")
    parser.add_argument("--no-disk", action="store_true", help="skip the disk-backed server")
    parser.add_argument("--disk-repeat", type=int, default=3, help="runs per disk cell (3)")
    parser.add_argument("--disk-workers", default="0,2", help="worker counts on disk (0,2)")
    parser.add_argument("--no-queue", action="store_true", help="skip the export queue figures")
    parser.add_argument(
        "--integration-suite",
        action="store_true",
        help="also time glossator's integration suite at -n 0 and -n auto (minutes)",
    )
    parser.add_argument(
        "--realistic-tests",
        type=int,
        default=1000,
        help="tests of the realistic glossator suite (1000; 0 skips it)",
    )
    parser.add_argument(
        "--realistic-workers", default="0,2,4", help="its xdist worker counts (0,2,4)"
    )
    parser.add_argument(
        "--realistic-loop-scope",
        default="session",
        help="its pytest-asyncio loop scope (session, as docs/pgsandbox.md recommends)",
    )
    parser.add_argument("--out", default=".reports/bench.json", help="JSON report path")
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="refresh docs/benchmarks.md and its chart (nox -s bench does; --no-docs not)",
    )
    return parser.parse_args(argv)


# ---------------------------------------------------------------------- the strategy matrix
def _matrix(
    server: BenchServer,
    strategies: list[Strategy],
    workers: list[int],
    *,
    tests: int,
    repeat: int,
    run_id: str,
    work_dir: Path,
    serial: list[int],
) -> dict[str, Any]:
    """Run every strategy at every worker count ``repeat`` times; summarise each cell."""
    reference = f"glossbench_{run_id}_{server.name}_ref"
    with admin_connection(server.url) as conn:
        create_database(conn, reference)
    migrate(server.url.set(drivername=SYNC_DRIVER, database=reference))
    # A copy of the schema no run has built yet: the first pgsandbox run builds its
    # template (timed as "setup, template build"), every later one hits the cache.
    alembic_ini = fresh_schema(ALEMBIC_INI, work_dir / f"schema-{server.name}")
    suites = {s.key: write_suite(work_dir / f"suite-{s.key}", s, tests) for s in strategies}
    build_setup: float | None = None
    if any(s.uses_pgsandbox for s in strategies):
        first = next(s for s in strategies if s.uses_pgsandbox)
        few = write_suite(work_dir / "suite-build", first, 5)
        serial[0] += 1
        built = run_suite(
            few,
            first,
            server,
            workers=0,
            tests=5,
            run_id=run_id,
            serial=serial[0],
            alembic_ini=alembic_ini,
            reference_database=reference,
            work_dir=work_dir,
        )
        build_setup = built.setup_s
        _say(f"  [{server.name}] template build run: setup {build_setup or float('nan'):.2f} s")
    runs: dict[tuple[str, int], list[RunResult]] = {}
    for round_number in range(repeat):
        # Each round starts one strategy further on, so no strategy holds the same place in
        # every round. In run b6293d, with a fixed order, `transaction` (first in every
        # round) came out slower than the 85/15 mix that runs the same tests and more
        # (3.81 s against 3.10 s at -n 0, its work-alone time 3.70 ms against 3.32).
        shift = round_number % len(strategies)
        for strategy in [*strategies[shift:], *strategies[:shift]]:
            for count in workers:
                serial[0] += 1
                result = run_suite(
                    suites[strategy.key],
                    strategy,
                    server,
                    workers=count,
                    tests=tests,
                    run_id=run_id,
                    serial=serial[0],
                    alembic_ini=alembic_ini,
                    reference_database=reference,
                    work_dir=work_dir,
                )
                runs.setdefault((strategy.key, count), []).append(result)
                status = "ok" if result.ok else f"FAILED (exit {result.returncode})"
                _say(
                    f"  [{server.name} {round_number + 1}/{repeat}] {strategy.key:<18} "
                    f"-n {count}: {result.wall_s:6.2f} s, overhead "
                    f"{result.overhead_ms:7.2f} ms/test {status}"
                )
                if not result.ok:
                    _say(result.output_tail)
    return {
        strategy.key: _summarise(strategy, runs, workers, build_setup, tests)
        for strategy in strategies
    }


def _median(values: list[float]) -> float | None:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else None


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _summarise(
    strategy: Strategy,
    runs: dict[tuple[str, int], list[RunResult]],
    workers: list[int],
    build_setup: float | None,
    tests: int,
) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for count in workers:
        results = runs[(strategy.key, count)]
        waits = [w for r in results for w in r.clone_waits_s]
        cell: dict[str, Any] = {
            "wall_s": _r(_median([r.wall_s for r in results])),
            "wall_s_runs": [round(r.wall_s, 3) for r in results],
            "per_test_overhead_ms": _r(_median([r.overhead_ms for r in results])),
            "per_test_ms": _r(_median([r.per_test_ms for r in results])),
            "work_only_ms": _r(_median([r.work_ms for r in results])),
            "setup_s": _r(_median([r.setup_s for r in results if r.setup_s is not None])),
            "tests_span_s": _r(
                _median([r.tests_span_s for r in results if r.tests_span_s is not None])
            ),
            "tests": tests,
            "all_passed": all(r.ok for r in results),
            "peak_rss_mb_per_worker": _r(
                _median([max(r.worker_rss_mb) for r in results if r.worker_rss_mb]), 1
            ),
            "server_peak_pss_mb": _r(
                _median([r.server_pss_mb for r in results if r.server_pss_mb is not None]), 1
            ),
            # The machine's 1-minute load average around each run: a noisy cell shows.
            "load_before": [_r(r.load_before, 2) for r in results],
            "load_after": [_r(r.load_after, 2) for r in results],
        }
        if waits:
            ordered = sorted(waits)
            cell["clone_wait_ms"] = {
                "median": round(statistics.median(ordered) * 1000, 3),
                "p90": round(ordered[int(len(ordered) * 0.9)] * 1000, 3),
                "max": round(ordered[-1] * 1000, 3),
                "samples": len(ordered),
            }
        cells[str(count)] = cell
    summary: dict[str, Any] = {"label": strategy.label, "workers": cells}
    if strategy.uses_pgsandbox:
        summary["setup_template_build_s"] = _r(build_setup)
        summary["setup_cache_hit_s"] = cells[str(workers[0])]["setup_s"]
    summary["break_even_tests_n2_vs_n0"] = _break_even(cells, tests)
    return summary


def _break_even(cells: dict[str, Any], tests: int) -> float | str | None:
    """Suite size from which ``-n 2`` beats ``-n 0``: wall = fixed + tests x per-test.

    Each run splits into a fixed part (wall time outside the span of test bodies: start-up,
    workers, template, teardown) and a per-test part (that span over the number of
    tests); the two straight lines cross at the break-even size.
    """
    one, two = cells.get("0"), cells.get("2")
    if not one or not two or one["tests_span_s"] is None or two["tests_span_s"] is None:
        return None
    span_0, span_2 = float(one["tests_span_s"]), float(two["tests_span_s"])
    per_test_0, per_test_2 = span_0 / tests, span_2 / tests
    fixed_0, fixed_2 = float(one["wall_s"]) - span_0, float(two["wall_s"]) - span_2
    if per_test_2 >= per_test_0:
        return "never"
    return round(max(0.0, (fixed_2 - fixed_0) / (per_test_0 - per_test_2)))


# ---------------------------------------------------------------------- ratios and targets
def _cell(results: dict[str, Any], key: str, workers: str, field: str) -> float | None:
    value = results.get(key, {}).get("workers", {}).get(workers, {}).get(field)
    return float(value) if isinstance(value, int | float) else None


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or bottom is None or bottom <= 0:
        return None
    return round(top / bottom, 2)


def _ratios(results: dict[str, Any]) -> dict[str, float | None]:
    over = "per_test_overhead_ms"
    ratios: dict[str, float | None] = {
        "nullpool_over_transaction": _ratio(
            _cell(results, "nullpool", "0", over), _cell(results, "transaction", "0", over)
        ),
        "per_test_db_over_transaction": _ratio(
            _cell(results, "per_test_db", "0", over), _cell(results, "transaction", "0", over)
        ),
    }
    for workers in ("0", "2", "4"):
        ratios[f"wall_per_test_db_over_transaction_n{workers}"] = _ratio(
            _cell(results, "per_test_db", workers, "wall_s"),
            _cell(results, "transaction", workers, "wall_s"),
        )
        ratios[f"wall_per_test_db_over_database_n{workers}"] = _ratio(
            _cell(results, "per_test_db", workers, "wall_s"),
            _cell(results, "database", workers, "wall_s"),
        )
        ratios[f"wall_nullpool_over_transaction_n{workers}"] = _ratio(
            _cell(results, "nullpool", workers, "wall_s"),
            _cell(results, "transaction", workers, "wall_s"),
        )
        for mode in ("transaction", "mix"):
            ratios[f"wall_per_worker_delete_over_{mode}_n{workers}"] = _ratio(
                _cell(results, "per_worker_delete", workers, "wall_s"),
                _cell(results, mode, workers, "wall_s"),
            )
    ratios["transaction_overhead_over_floor"] = _ratio(
        _cell(results, "transaction", "0", over), _cell(results, "pooled", "0", over)
    )
    return {k: v for k, v in ratios.items() if v is not None}


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    results = report["strategies"]
    ratios = report["ratios"]
    found: list[dict[str, Any]] = []

    def check(name: str, value: float | None, goal: str, holds: bool | None) -> None:
        found.append({"target": name, "goal": goal, "value": value, "holds": holds})

    tx = _cell(results, "transaction", "0", "per_test_overhead_ms")
    check("transaction per-test overhead (ms, -n 0)", tx, "<= 2", None if tx is None else tx <= 2)
    for key, goal in (("nullpool_over_transaction", 4), ("per_test_db_over_transaction", 15)):
        value = ratios.get(key)
        check(key, value, f">= {goal}", None if value is None else value >= goal)
    floor = _cell(results, "pooled", "0", "per_test_overhead_ms")
    check(
        "transaction overhead over the no-isolation floor's (-n 0)",
        _ratio(tx, floor),
        "<= 1.5",
        None if tx is None or floor is None else tx <= 1.5 * floor,
    )
    for workers, limit in (("0", 15.0), ("2", 25.0)):
        db_over = _cell(results, "database", workers, "per_test_overhead_ms")
        check(
            f"database mode overhead (ms/test, -n {workers})",
            db_over,
            f"<= {limit:g}",
            None if db_over is None else db_over <= limit,
        )
    for workers in ("0", "2", "4"):
        db, pp = (_cell(results, k, workers, "wall_s") for k in ("database", "per_test_db"))
        times = 3.0 if workers != "4" else 1.0
        check(
            f"database mode wall vs pytest-postgresql's at -n {workers} (times faster)",
            _ratio(pp, db),
            f">= {times:g}",
            None if db is None or pp is None else pp >= times * db,
        )
    for workers in ("0", "2", "4"):
        tx_wall, peer = (
            _cell(results, k, workers, "wall_s") for k in ("transaction", "per_worker_delete")
        )
        check(
            f"transaction wall < create_all per worker + DELETE at -n {workers}",
            _ratio(peer, tx_wall),
            "> 1",
            None if tx_wall is None or peer is None else tx_wall < peer,
        )
    mix, peer = (_cell(results, k, "2", "wall_s") for k in ("mix", "per_worker_delete"))
    check(
        "85% transaction + 15% database no slower than create_all per worker + DELETE (-n 2)",
        _ratio(peer, mix),
        ">= 1",
        None if mix is None or peer is None else mix <= peer,
    )
    waits = [
        cell["clone_wait_ms"]["median"]
        for cell in results.get("database", {}).get("workers", {}).values()
        if "clone_wait_ms" in cell
    ]
    worst = max(waits) if waits else None
    check(
        "database mode clone wait, median (ms)",
        worst,
        "<= 10",
        None if worst is None else worst <= 10,
    )
    speedup = report.get("template", {}).get("hit_speedup_over_upgrade")
    check(
        "template cache hit vs alembic upgrade head (glossator)",
        speedup,
        ">= 20",
        None if speedup is None else speedup >= 20,
    )
    for workers in ("0", "2", "4"):
        tx_rss = _cell(results, "transaction", workers, "peak_rss_mb_per_worker")
        bare = _cell(results, "pooled", workers, "peak_rss_mb_per_worker")
        extra = None if tx_rss is None or bare is None else round(tx_rss - bare, 1)
        check(
            f"pgsandbox extra RSS per worker over one pooled engine (MB, -n {workers})",
            extra,
            "<= 30",
            None if extra is None else extra <= 30,
        )
    primary = report.get("server")
    for server, by_server in sorted(report.get("ratios_by_server", {}).items()):
        if server == primary:
            continue  # checked above, per worker count
        for key, value in sorted(by_server.items()):
            if key.startswith("wall_per_test_db_over_database_n"):
                workers = key.removeprefix("wall_per_test_db_over_database_n")
                check(
                    f"{server}: database mode wall vs pytest-postgresql's at -n {workers} "
                    "(times faster)",
                    value,
                    ">= 1.5",
                    value >= 1.5,
                )
    suite = report.get("integration_suite")
    if suite:
        passed = suite.get("n0_exit") == 0 and suite.get("auto_exit") == 0
        check(
            "glossator integration suite: -n auto beats -n 0 (both runs passing)",
            _ratio(suite.get("n0_s"), suite.get("auto_s")),
            "> 1",
            passed and suite["auto_s"] < suite["n0_s"],
        )
    return found


# ---------------------------------------------------------------------- queue and suite
_QUEUE_LINES = {
    "throughput": re.compile(
        r"throughput\s+(\d+) worker\(s\): (\d+) jobs in ([\d.]+) s = ([\d.]+)"
    ),
    "latency": re.compile(
        r"latency\s+(NOTIFY \+ poll|poll only)\s+([\d.]+) s: median (\d+) ms, max (\d+) ms"
    ),
}


def _queue_figures(server: BenchServer, run_id: str) -> dict[str, Any]:
    """Run benchmarks/queue_bench.py on a database of its own and parse its figures."""
    name = f"glossbench_{run_id}_queue"
    with admin_connection(server.url) as conn:
        create_database(conn, name)
    url = server.url.set(drivername="postgresql+asyncpg", database=name)
    started = time.perf_counter()
    try:
        done = subprocess.run(  # noqa: S603 - this interpreter, the project's own script
            [
                sys.executable,
                str(REPO_ROOT / "benchmarks" / "queue_bench.py"),
                "--url",
                url.render_as_string(hide_password=False),
                "--jobs",
                "6",
                "--latency-jobs",
                "5",
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    finally:
        with admin_connection(server.url) as conn:
            drop_database(conn, name)
    figures: dict[str, Any] = {"seconds": round(time.perf_counter() - started, 1)}
    for line in done.stdout.splitlines():
        _say(f"  {line}")
        if match := _QUEUE_LINES["throughput"].search(line):
            figures[f"throughput_{match[1]}_workers_jobs_per_s"] = float(match[4])
        elif match := _QUEUE_LINES["latency"].search(line):
            key = "latency_notify" if match[1].startswith("NOTIFY") else "latency_poll_only"
            figures[f"{key}_median_ms"] = int(match[3])
            figures[f"{key}_max_ms"] = int(match[4])
    if done.returncode != 0:
        figures["error"] = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return figures


def _integration_suite() -> dict[str, Any]:
    """Wall time of glossator's own integration suite at -n 0 and -n auto."""
    times: dict[str, Any] = {}
    for label, workers in (("n0_s", "0"), ("auto_s", "auto")):
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", "pytest", "tests/integration", "-q", "-n", workers],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        times[label] = round(time.perf_counter() - started, 2)
        times[f"{label[:-2]}_exit"] = done.returncode
        summary = (done.stdout.strip().splitlines() or [""])[-1]
        times[f"{label[:-2]}_summary"] = summary
        _say(f"    -n {workers}: {times[label]:.1f} s, {summary}")
        if done.returncode != 0:
            _say("\n".join((done.stdout + done.stderr).strip().splitlines()[-30:]))
    return times


# ---------------------------------------------------------------------- main
def _machine(servers: list[BenchServer]) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
        "servers": {
            s.name: {"description": s.description, "settings": settings_of(s)} for s in servers
        },
    }


def _cleanup(server: BenchServer, run_id: str) -> None:
    """Drop this run's databases and the templates its pgsandbox runs built."""
    with admin_connection(server.url) as conn:
        drop_run_databases(conn, run_id)
    admin = AdminConnection(connect(server.url, source="bench", application_name="bench"))
    try:
        for db in admin.owned_databases():
            if db.kind == "template" and str(db.meta.get("built_by", "")).startswith(run_id):
                admin.drop(db.name)
    finally:
        admin.close()


def _measure(
    args: argparse.Namespace, run_id: str, servers: list[BenchServer], report: dict[str, Any]
) -> None:
    """Fill ``report`` with every measurement; always drop what the run created."""
    # One folder per run: a second run at the same time (a quick look while `nox -s bench`
    # runs) must not rewrite the suites of this one. Removed at the end, whatever happens.
    work_dir = REPO_ROOT / ".reports" / "bench-work" / run_id
    strategies = by_key(args.strategies.split(","))
    primary, serial = servers[0], [0]
    try:
        results = _matrix(
            primary,
            strategies,
            [int(w) for w in args.workers.split(",")],
            tests=args.tests,
            repeat=args.repeat,
            run_id=run_id,
            work_dir=work_dir,
            serial=serial,
        )
        report.update(server=primary.name, strategies=results, ratios=_ratios(results))
        report["servers"] = {primary.name: {"strategies": results}}
        report["ratios_by_server"] = {primary.name: report["ratios"]}
        for disk in servers[1:]:
            disk_results = _matrix(
                disk,
                [s for s in strategies if s.key in DISK_STRATEGIES],
                [int(w) for w in args.disk_workers.split(",")],
                tests=args.tests,
                repeat=args.disk_repeat,
                run_id=run_id,
                work_dir=work_dir,
                serial=serial,
            )
            report["servers"][disk.name] = {"strategies": disk_results}
            report["ratios_by_server"][disk.name] = _ratios(disk_results)
        _say("  clones and templates ...")
        report["clones"] = {s.name: clone_times(s, run_id) for s in servers}
        report["template"] = template_times(primary, run_id, GLOSSATOR_ALEMBIC_INI, work_dir)
        speedup = report["template"]["hit_speedup_over_upgrade"]
        report["ratios"]["template_cache_hit_speedup"] = speedup
        if not args.no_queue:
            _say("  export queue (benchmarks/queue_bench.py) ...")
            report["queue"] = _queue_figures(primary, run_id)
        if args.integration_suite:
            _say("  glossator integration suite at -n 0 and -n auto ...")
            report["integration_suite"] = _integration_suite()
        if args.realistic_tests:
            _say(
                f"  realistic glossator suite ({args.realistic_tests} tests, "
                f"{args.realistic_loop_scope}-scoped loops), pgsandbox and NullPool per test ..."
            )
            report["realistic"] = run_realistic(
                primary.url,
                tests=args.realistic_tests,
                workers=[int(w) for w in args.realistic_workers.split(",")],
                work_dir=work_dir / "realistic",
                loop_scope=args.realistic_loop_scope,
                run_id=f"{run_id}r",
            )
    finally:
        for server in servers:
            _cleanup(server, run_id)
        shutil.rmtree(work_dir, ignore_errors=True)


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it, else as given."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _publish(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """Write the JSON report and the chart, print the table, refresh the docs if asked."""
    out = REPO_ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    svg = write_svg(report, out.with_suffix(".svg"))
    _say()
    for line in render_table(report):
        _say(line)
    if report.get("realistic"):
        _say()
        for line in render_realistic(report["realistic"]):
            _say(line)
    written = f"{_shown(out)} and {_shown(svg)}"
    _say(f"\nwrote {written} ({report['seconds']:.0f} s)")
    if args.docs:
        update_docs(report, REPO_ROOT / "docs" / "benchmarks.md", svg)
        _say("refreshed docs/benchmarks.md and docs/benchmarks.svg")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON report and the chart."""
    args = _parse_args(argv)
    run_id = secrets.token_hex(3)
    started = time.perf_counter()
    primary = primary_server()
    disk = None if args.no_disk else disk_server(args.disk_url, primary)
    servers = [primary] if disk is None else [primary, disk]
    report: dict[str, Any] = {
        "run_id": run_id,
        "tests": args.tests,
        "repeat": args.repeat,
        "disk_repeat": args.disk_repeat,
        "machine": _machine(servers),
    }
    _say(f"bench {run_id}: {args.tests} tests per suite, median of {args.repeat} runs")
    for server in servers:
        _say(f"  {server.name}: {server.description}")
    warm_bytecode()
    _measure(args, run_id, servers, report)
    report["targets"] = _targets(report) + [
        {**target, "target": f"realistic suite: {target['target']}"}
        for target in report.get("realistic", {}).get("targets", [])
    ]
    report["seconds"] = round(time.perf_counter() - started, 1)
    _publish(args, report)
    failed = [
        f"{key} -n {n}"
        for key, summary in report["strategies"].items()
        for n, cell in summary["workers"].items()
        if not cell["all_passed"]
    ] + [
        f"realistic {way} -n {n}"
        for way, cells in report.get("realistic", {}).get("cells", {}).items()
        for n, cell in cells.items()
        if not cell["all_passed"]
    ]
    if failed:
        _say(f"some benchmark suites failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
