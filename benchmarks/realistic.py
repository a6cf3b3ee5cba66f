"""``python -m benchmarks.realistic``: glossator's service tests, pgsandbox against NullPool.

Usage::

    python -m benchmarks.realistic [--tests 1000] [--workers 0,2,4] [--repeat 1]
                                   [--out .reports/realistic.json]

Writes a suite of ``--tests`` tests (default 1,000) made of glossator's service-level
scenarios (``benchmarks/realistic_suite``): users, courses, enrollments, invitations,
workspaces, documents and highlights, created, queried and checked through
``glossator.services``. About 10% are marked ``@pytest.mark.pgsandbox(isolation="database")``
(concurrent sessions racing on one workspace, course or address) and about 2% ``shared``
(unique data in a run-wide database); the rest run in pgsandbox's default ``transaction``
isolation. The same test modules run two ways, each a conftest:

* ``pgsandbox``: pgsandbox's session factory handed to glossator, as glossator's own
  ``tests/integration/conftest.py`` does;
* ``nullpool``: the way before pgsandbox: one database created and migrated once by the
  controller, tests committing real data kept apart by unique data, and a new
  ``NullPool`` engine per test, disposed after it (``-p no:pgsandbox``).

Each way runs at each worker count (``--repeat`` rounds, interleaved) as a pytest
subprocess; every cell records its wall time, how many tests passed and failed (a cell
with a failure is reported as failed, never just timed), the machine's load average before
and after, and per-phase medians from a probe plugin. The lead's ``benchmarks.run`` calls
:func:`run_realistic`; this module's ``main`` prints the same as a table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL, make_url

from benchmarks._db import BENCH_PREFIX, admin_connection, drop_run_databases
from benchmarks.realistic_suite._counts import COUNTS_FILE
from pgsandbox._admin import AdminConnection, connect
from pgsandbox._template import _drop_templates_not_in_use

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "SCENARIOS",
    "WAYS",
    "Scenario",
    "distribute",
    "main",
    "render_realistic",
    "run_realistic",
    "write_realistic_suite",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
GLOSSATOR_ALEMBIC_INI = REPO_ROOT / "src" / "glossator" / "db" / "alembic.ini"
#: The two ways of giving the suite its database, in the order they are run and shown.
WAYS = ("pgsandbox", "nullpool")
WAY_LABELS = {
    "pgsandbox": "pgsandbox (transaction / database / shared)",
    "nullpool": "NullPool per test (one migrated database)",
}
DATABASE_SHARE = 0.10
SHARED_SHARE = 0.02
#: A cell that takes longer than this is stopped and reported as failed.
CELL_TIMEOUT_S = 1800


@dataclass(frozen=True, slots=True)
class Scenario:
    """One parametrised test function of the suite.

    Attributes:
        key: its name in ``counts.json`` (``cases(__file__, key)`` in its module).
        module: the ``scenarios_<module>.py`` file it is in (written as ``test_<module>.py``).
        isolation: how it is marked for pgsandbox.
    """

    key: str
    module: str
    isolation: str = "transaction"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("users_normalised", "users"),
    Scenario("users_found_again", "users"),
    Scenario("users_invalid", "users"),
    Scenario("users_concurrent_sign_up", "users", "database"),
    Scenario("courses_create", "courses"),
    Scenario("courses_duplicate", "courses"),
    Scenario("courses_enrollments", "courses"),
    Scenario("courses_change_role", "courses"),
    Scenario("courses_archive", "courses"),
    Scenario("courses_invitation_accepted", "courses"),
    Scenario("courses_invitation_declined", "courses"),
    Scenario("courses_concurrent_enroll", "courses", "database"),
    Scenario("workspaces_personal", "workspaces"),
    Scenario("workspaces_tutor_sees", "workspaces"),
    Scenario("workspaces_classmate", "workspaces"),
    Scenario("workspaces_outsider", "workspaces"),
    Scenario("workspaces_delete", "workspaces"),
    Scenario("workspaces_concurrent", "workspaces", "database"),
    Scenario("documents_appended", "documents"),
    Scenario("documents_reorder", "documents"),
    Scenario("documents_bad_order", "documents"),
    Scenario("documents_delete", "documents"),
    Scenario("documents_concurrent_append", "documents", "database"),
    Scenario("highlights_stored", "highlights"),
    Scenario("highlights_overlapping", "highlights"),
    Scenario("highlights_ordered", "highlights"),
    Scenario("highlights_bad_range", "highlights"),
    Scenario("highlights_stranger", "highlights"),
    Scenario("highlights_delete", "highlights"),
    Scenario("highlights_concurrent", "highlights", "database"),
    Scenario("shared_course_life", "shared", "shared"),
)

_INI = """\
[pytest]
# Generated by benchmarks/realistic.py ({way}); glossator's own pytest settings.
asyncio_mode = auto
asyncio_default_fixture_loop_scope = {loop_scope}
asyncio_default_test_loop_scope = {loop_scope}
filterwarnings = error
"""
_PGSANDBOX_INI = "pgsandbox_alembic_ini = {alembic_ini}\n"
_CASES = re.compile(r"""cases\(__file__, "([a-z_]+)"\)""")


def _say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------- the suite
def _spread(total: int, keys: Sequence[str]) -> dict[str, int]:
    base, extra = divmod(total, len(keys))
    return {key: base + (1 if index < extra else 0) for index, key in enumerate(keys)}


def distribute(tests: int) -> dict[str, int]:
    """How many cases each scenario gets: ``tests`` in all, ~10% database, ~2% shared."""
    if tests < 1:
        msg = f"the suite needs at least one test, not {tests}"
        raise ValueError(msg)
    database = round(tests * DATABASE_SHARE)
    shared = round(tests * SHARED_SHARE)
    counts: dict[str, int] = {}
    for isolation, total in (
        ("database", database),
        ("shared", shared),
        ("transaction", tests - database - shared),
    ):
        counts |= _spread(total, [s.key for s in SCENARIOS if s.isolation == isolation])
    return counts


def _scenario_sources() -> dict[str, str]:
    package = resources.files("benchmarks.realistic_suite")
    modules = sorted({s.module for s in SCENARIOS})
    sources = {m: (package / f"scenarios_{m}.py").read_text() for m in modules}
    # The table above and the modules must agree, or cases would silently be lost.
    found = {key for text in sources.values() for key in _CASES.findall(text)}
    expected = {s.key for s in SCENARIOS}
    if found != expected:
        msg = f"SCENARIOS and the scenario modules disagree: {sorted(found ^ expected)}"
        raise RuntimeError(msg)
    for scenario in SCENARIOS:
        if f'"{scenario.key}"' not in sources[scenario.module]:
            msg = f"scenario {scenario.key!r} is not in scenarios_{scenario.module}.py"
            raise RuntimeError(msg)
    return sources


def write_realistic_suite(
    folder: Path, way: str, tests: int = 1000, *, loop_scope: str = "function"
) -> Path:
    """Write the suite for one way of giving it a database into ``folder`` (emptied first).

    Args:
        folder: where the suite goes.
        way: ``pgsandbox`` or ``nullpool``: which conftest it gets.
        tests: how many tests in all.
        loop_scope: pytest-asyncio's loop scope of tests and fixtures (glossator's own
            suite uses ``function``).

    Returns:
        The folder.
    """
    if way not in WAYS:
        msg = f"unknown way {way!r}; choose from {WAYS}"
        raise ValueError(msg)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    package = resources.files("benchmarks.realistic_suite")
    ini = _INI.format(way=way, loop_scope=loop_scope)
    if way == "pgsandbox":
        ini += _PGSANDBOX_INI.format(alembic_ini=GLOSSATOR_ALEMBIC_INI)
    (folder / "pytest.ini").write_text(ini)
    (folder / "conftest.py").write_text((package / f"conftest_{way}.py").read_text())
    for module, source in _scenario_sources().items():
        (folder / f"test_{module}.py").write_text(source)
    (folder / COUNTS_FILE).write_text(json.dumps(distribute(tests), indent=1) + "\n")
    return folder


# ---------------------------------------------------------------------- one cell
def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _median_ms(values: Iterable[float]) -> float | None:
    listed = list(values)
    return round(statistics.median(listed) * 1000, 2) if listed else None


_SUMMARY = re.compile(r"=+ (.+ in [\d.]+s.*) =+$|^(\d+ (?:passed|failed|error).* in [\d.]+s.*)$")


def _summary_line(output: str) -> str:
    for line in reversed(output.strip().splitlines()):
        if match := _SUMMARY.search(line.strip()):
            return match[1] or match[2]
    return ""


def _read_probe(out_dir: Path) -> dict[str, Any]:
    phases: dict[str, dict[str, float]] = {}
    outcomes: dict[str, str] = {}
    isolation: dict[str, str] = {}
    starts, ends, rss = [], [], []
    for record_file in sorted(out_dir.glob("*.json")) if out_dir.is_dir() else []:
        record = json.loads(record_file.read_text())
        phases |= record["phases"]
        outcomes |= record["outcomes"]
        isolation |= record["isolation"]
        rss.append(round(record["max_rss_kb"] / 1024, 1))
        if record["first_call_start"] is not None:
            starts.append(record["first_call_start"])
        if record["last_end"] is not None:
            ends.append(record["last_end"])
    totals = {node: sum(p.values()) for node, p in phases.items()}
    by_isolation: dict[str, Any] = {}
    for kind in sorted(set(isolation.values())):
        nodes = [node for node, k in isolation.items() if k == kind and node in totals]
        by_isolation[kind] = {
            "tests": len(nodes),
            "median_ms": _median_ms(totals[n] for n in nodes),
            "sum_s": round(sum(totals[n] for n in nodes), 2),
        }
    return {
        "passed": sum(1 for o in outcomes.values() if o == "passed"),
        "failed": sum(1 for o in outcomes.values() if o == "failed"),
        "errors": sum(1 for o in outcomes.values() if o == "error"),
        "skipped": sum(1 for o in outcomes.values() if o == "skipped"),
        "per_test_ms": _median_ms(totals.values()),
        "phase_median_ms": {
            phase: _median_ms(p.get(phase, 0.0) for p in phases.values())
            for phase in ("setup", "call", "teardown")
        },
        "test_time_sum_s": round(sum(totals.values()), 2),
        "by_isolation": by_isolation,
        "first_call_start": min(starts) if starts else None,
        "last_end": max(ends) if ends else None,
        "peak_rss_mb_per_worker": max(rss) if rss else None,
    }


def _run_cell(
    suite: Path,
    way: str,
    workers: int,
    *,
    server_url: URL,
    tests: int,
    run_id: str,
    serial: int,
    work_dir: Path,
) -> dict[str, Any]:
    """Run one way at one worker count as a pytest subprocess; what it measured."""
    out_dir = work_dir / "probe" / f"{serial:04d}"
    shutil.rmtree(out_dir, ignore_errors=True)
    rendered = server_url.render_as_string(hide_password=False)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "GLOSSBENCH_OUT": str(out_dir),
        "GLOSSBENCH_SERVER_URL": rendered,
        "GLOSSBENCH_DATABASE": f"{BENCH_PREFIX}{run_id}_np{serial:04d}",
        "PGSANDBOX_RUN_ID": f"{run_id}{serial:04d}",
    }
    env.pop("PGSANDBOX_URL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' machines keep bytecode caches
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
        "no:pytest_postgresql",
        "-p",
        "benchmarks.realistic_suite.probe",
        "-n",
        str(workers),
    ]
    if way == "pgsandbox":
        command.append(f"--pgsandbox-url={rendered}")
    else:
        command += ["-p", "no:pgsandbox"]
    load_before = _load()
    launched = time.time()
    started = time.perf_counter()
    try:
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            command,
            cwd=suite,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=CELL_TIMEOUT_S,
        )
        returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        returncode = -1
        partial = [
            p.decode() if isinstance(p, bytes) else p for p in (expired.stdout, expired.stderr)
        ]
        output = f"stopped after {CELL_TIMEOUT_S} s\n" + "".join(p or "" for p in partial)
    wall = time.perf_counter() - started
    load_after = _load()
    probe = _read_probe(out_dir)
    first, last = probe.pop("first_call_start"), probe.pop("last_end")
    cell: dict[str, Any] = {
        "way": way,
        "workers": workers,
        "tests": tests,
        "wall_s": round(wall, 3),
        "returncode": returncode,
        **probe,
        "ok": returncode == 0 and probe["passed"] == tests,
        "setup_s": None if first is None else round(first - launched, 3),
        "tests_span_s": None if first is None or last is None else round(last - first, 3),
        "load_before": load_before,
        "load_after": load_after,
        "summary": _summary_line(output),
    }
    if not cell["ok"]:
        cell["output_tail"] = "\n".join(output.strip().splitlines()[-40:])
    return cell


# ---------------------------------------------------------------------- the matrix
def _warm(suite: Path) -> None:
    """Import what the suites import once, so no timed run pays for compiling it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    modules = (
        "pytest",
        "xdist.plugin",
        "pytest_asyncio",
        "alembic.command",
        "sqlalchemy.dialects.postgresql.asyncpg",
        "pgsandbox.plugin",
        "glossator.services",
        "benchmarks.realistic_suite.fixtures",
        "benchmarks.realistic_suite.probe",
    )
    subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", "; ".join(f"import {m}" for m in modules)],
        cwd=suite,
        env=env,
        check=True,
    )


def _median(values: Iterable[float | None]) -> float | None:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return round(statistics.median(clean), 3) if clean else None


def _summarise(cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "wall_s": _median(c["wall_s"] for c in cells),
        "wall_s_runs": [c["wall_s"] for c in cells],
        "all_passed": all(c["ok"] for c in cells),
        "passed": [c["passed"] for c in cells],
        "failed": [c["failed"] + c["errors"] for c in cells],
        "per_test_ms": _median(c["per_test_ms"] for c in cells),
        "setup_s": _median(c["setup_s"] for c in cells),
        "tests_span_s": _median(c["tests_span_s"] for c in cells),
        "load_before": [c["load_before"] for c in cells],
        "load_after": [c["load_after"] for c in cells],
        "runs": cells,
    }


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or bottom is None or bottom <= 0:
        return None
    return round(top / bottom, 2)


def _targets(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The acceptance targets of issue 19 for the realistic suite."""

    def wall(way: str, workers: int) -> float | None:
        cell = summary.get(way, {}).get(str(workers))
        return cell["wall_s"] if cell and cell["all_passed"] else None

    found: list[dict[str, Any]] = []

    def check(name: str, value: float | None, goal: str, holds: bool | None) -> None:
        found.append({"target": name, "goal": goal, "value": value, "holds": holds})

    n2 = wall("pgsandbox", 2)
    check("pgsandbox -n 2 wall (s)", n2, "< 60", None if n2 is None else n2 < 60)
    speedup = _ratio(wall("pgsandbox", 0), n2)
    check(
        "pgsandbox -n 2 faster than -n 0 (-n 0 / -n 2)",
        speedup,
        "> 1",
        None if speedup is None else speedup > 1,
    )
    over = _ratio(wall("nullpool", 2), n2)
    check(
        "NullPool per test / pgsandbox at -n 2 (wall)",
        over,
        ">= 3",
        None if over is None else over >= 3,
    )
    return found


def _cleanup(server_url: URL, run_id: str) -> list[str]:
    """Drop this run's ``glossbench_<run>_*`` databases and templates its runs built."""
    with admin_connection(server_url) as conn:
        dropped = drop_run_databases(conn, run_id)
    admin = AdminConnection(connect(server_url, source="bench", application_name="bench"))
    try:
        built = [
            db.name
            for db in admin.owned_databases()
            if db.kind == "template" and str(db.meta.get("built_by", "")).startswith(run_id)
        ]
        dropped += _drop_templates_not_in_use(admin, built)
    finally:
        admin.close()
    return dropped


def run_realistic(
    server_url: URL | str,
    *,
    tests: int = 1000,
    workers: Sequence[int] = (0, 2, 4),
    repeat: int = 1,
    work_dir: Path,
    loop_scope: str = "function",
    run_id: str | None = None,
) -> dict[str, Any]:
    """Run the realistic suite both ways at each worker count; return a JSON-able report.

    Args:
        server_url: the server's maintenance database (``primary_server().url``).
        tests: tests per suite.
        workers: xdist worker counts (0 is ``-n 0``, no workers).
        repeat: rounds; each round runs every cell once (interleaved), medians reported.
        work_dir: where the suites and probe records go.
        loop_scope: pytest-asyncio loop scope (glossator's own suite: ``function``).
        run_id: names this run's databases (``glossbench_<run_id>_*``); random by default.

    Returns:
        ``cells`` (per way, per worker count: median wall time, passed and failed counts
        of every run, load averages before and after, per-phase medians, each run's
        record), ``ratios``, ``targets``, ``template_run`` and machine facts.
    """
    url = make_url(server_url) if isinstance(server_url, str) else server_url
    run_id = run_id or secrets.token_hex(3)
    started = time.perf_counter()
    suites = {
        way: write_realistic_suite(work_dir / f"realistic-{way}", way, tests, loop_scope=loop_scope)
        for way in WAYS
    }
    report: dict[str, Any] = {
        "run_id": run_id,
        "tests": tests,
        "repeat": repeat,
        "workers": list(workers),
        "loop_scope": loop_scope,
        "scenario_counts": distribute(tests),
        "machine": {"cores": os.cpu_count(), "load_average_at_start": _load()},
    }
    serial = 0
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    try:
        _warm(suites["pgsandbox"])
        # A few tests first, so that pgsandbox's template for glossator's migrations
        # exists (built here, or a cache hit) and no timed cell includes its build.
        few = write_realistic_suite(work_dir / "realistic-template", "pgsandbox", len(SCENARIOS))
        serial += 1
        first = _run_cell(
            few,
            "pgsandbox",
            0,
            server_url=url,
            tests=len(SCENARIOS),
            run_id=run_id,
            serial=serial,
            work_dir=work_dir,
        )
        report["template_run"] = {k: first[k] for k in ("wall_s", "setup_s", "ok", "summary")}
        _say(f"  template run: {first['wall_s']:.2f} s, setup {first['setup_s']} s")
        for round_number in range(repeat):
            for way in WAYS:
                for count in workers:
                    serial += 1
                    cell = _run_cell(
                        suites[way],
                        way,
                        count,
                        server_url=url,
                        tests=tests,
                        run_id=run_id,
                        serial=serial,
                        work_dir=work_dir,
                    )
                    runs.setdefault((way, count), []).append(cell)
                    status = "ok" if cell["ok"] else f"FAILED (exit {cell['returncode']})"
                    _say(
                        f"  [{round_number + 1}/{repeat}] {way:<9} -n {count}: "
                        f"{cell['wall_s']:7.2f} s  {cell['passed']}/{tests} passed  "
                        f"load {cell['load_before'][0]:.1f} -> {cell['load_after'][0]:.1f}  "
                        f"{status}"
                    )
                    if not cell["ok"]:
                        _say(cell.get("output_tail", ""))
    finally:
        report["dropped"] = _cleanup(url, run_id)
    summary = {
        way: {str(n): _summarise(runs[(way, n)]) for n in workers if (way, n) in runs}
        for way in WAYS
    }
    report["cells"] = summary
    report["ratios"] = {
        f"nullpool_over_pgsandbox_n{n}": _ratio(
            summary["nullpool"].get(str(n), {}).get("wall_s"),
            summary["pgsandbox"].get(str(n), {}).get("wall_s"),
        )
        for n in workers
    }
    report["targets"] = _targets(summary)
    report["machine"]["load_average_at_end"] = _load()
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


# ---------------------------------------------------------------------- output
def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_realistic(report: dict[str, Any]) -> list[str]:
    """The report as Markdown lines: one row per way and worker count, ratios, targets."""
    counts = report["scenario_counts"]
    database, shared = (
        sum(v for k, v in counts.items() if _isolation(k) == kind)
        for kind in ("database", "shared")
    )
    header = (
        f"Realistic suite `{report['run_id']}`: {report['tests']} glossator service tests "
        f"({database} database, {shared} shared), {report['loop_scope']}-scoped loops, "
        f"median of {report['repeat']} run(s), {report['machine']['cores']} cores."
    )
    lines = [
        header,
        "",
        (
            "| way | -n | wall s | passed | failed | setup s | per test ms "
            "| setup / call / teardown ms | load before | load after |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for way, by_workers in report["cells"].items():
        for workers, cell in by_workers.items():
            last = cell["runs"][-1]
            phases = last["phase_median_ms"]
            lines.append(
                f"| {WAY_LABELS[way]} | {workers} | {_fmt(cell['wall_s'])}"
                f"{'' if cell['all_passed'] else ' **FAILED**'} "
                f"| {'/'.join(str(p) for p in cell['passed'])} "
                f"| {'/'.join(str(f) for f in cell['failed'])} "
                f"| {_fmt(cell['setup_s'])} | {_fmt(cell['per_test_ms'])} "
                f"| {_fmt(phases['setup'])} / {_fmt(phases['call'])} / {_fmt(phases['teardown'])} "
                f"| {' '.join(_fmt(v, 1) for v in last['load_before'])} "
                f"| {' '.join(_fmt(v, 1) for v in last['load_after'])} |"
            )
    lines.append("")
    lines.append("Per isolation mode (last run of each cell): tests, median ms, sum of test time s")
    for way, by_workers in report["cells"].items():
        for workers, cell in by_workers.items():
            parts = [
                f"{kind} {v['tests']} x {_fmt(v['median_ms'])} ms = {_fmt(v['sum_s'])} s"
                for kind, v in cell["runs"][-1]["by_isolation"].items()
            ]
            lines.append(f"  {way:<9} -n {workers}: {'; '.join(parts)}")
    lines.append("")
    for key, value in report["ratios"].items():
        lines.append(f"  {key:<32} {_fmt(value)}")
    lines.append("")
    for target in report["targets"]:
        state = {True: " holds", False: "MISSED", None: "  n/a "}[target["holds"]]
        lines.append(
            f"  [{state}] {target['target']}: {_fmt(target['value'])} (goal {target['goal']})"
        )
    template = report.get("template_run", {})
    machine = report["machine"]
    at_start = " ".join(_fmt(v) for v in machine["load_average_at_start"])
    at_end = " ".join(_fmt(v) for v in machine.get("load_average_at_end", []))
    lines += [
        "",
        (
            f"template run (pgsandbox, {len(SCENARIOS)} tests, -n 0): "
            f"{_fmt(template.get('wall_s'))} s, setup {_fmt(template.get('setup_s'))} s"
        ),
        f"load average at start {at_start}, at end {at_end}",
    ]
    return lines


def _isolation(key: str) -> str:
    return next((s.isolation for s in SCENARIOS if s.key == key), "?")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.realistic", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--tests", type=int, default=1000, help="tests per suite (1000)")
    parser.add_argument("--workers", default="0,2,4", help="xdist worker counts (0,2,4)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; median (1)")
    parser.add_argument(
        "--loop-scope",
        default="function",
        choices=("function", "module", "session"),
        help="pytest-asyncio loop scope of the suite (function, as glossator's own)",
    )
    parser.add_argument("--out", default=".reports/realistic.json", help="JSON report path")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the realistic suite on the bench's server; print the table; write the JSON."""
    from benchmarks._servers import primary_server

    args = _parse_args(argv)
    server = primary_server()
    _say(f"realistic suite: {args.tests} tests on {server.description}")
    report = run_realistic(
        server.url,
        tests=args.tests,
        workers=[int(w) for w in args.workers.split(",")],
        repeat=args.repeat,
        work_dir=REPO_ROOT / ".reports" / "bench-work",
        loop_scope=args.loop_scope,
    )
    report["server"] = server.description
    out = Path(args.out) if Path(args.out).is_absolute() else REPO_ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    _say()
    for line in render_realistic(report):
        _say(line)
    _say(f"\nwrote {out} ({report['seconds']:.0f} s)")
    failed = [
        f"{way} -n {n}"
        for way, by_workers in report["cells"].items()
        for n, cell in by_workers.items()
        if not cell["all_passed"]
    ]
    if failed:
        _say(f"some cells failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
