"""``python -m pgsandbox flake``: run test suites N times in random order, optionally under load.

A flaky database test fails for one order of tests, or only when the machine is busy.
Each run uses a fresh pytest-randomly seed (``--randomly-seed``) at ``-n 4``; with
``--load K``, K CPU-burning processes run alongside (started before the first run and
always stopped, whatever happens). The table lists every test that failed, in which runs
(by seed), with its first error line; rerun one with ``-p randomly --randomly-seed=SEED``.

Nothing here is specific to pgsandbox: it runs pytest in subprocesses and reads its
``-rfE`` short summary.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field

from pgsandbox._stress import _summary_line, failing_tests, run_pytest

__all__ = ["Burners", "FlakeRun", "flake_table", "run_flake"]

_BURN = "while True: pass"


@dataclass(frozen=True, slots=True)
class FlakeRun:
    """One run of the suites."""

    number: int
    seed: int
    returncode: int
    summary: str
    wall_s: float
    load: tuple[float, float, float]
    failures: list[tuple[str, str]] = field(default_factory=list)


class Burners:
    """Start ``count`` CPU-burning processes; stop them on exit, whatever happened."""

    def __init__(self, count: int) -> None:
        """Prepare ``count`` burners (started by ``with``)."""
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Burners:
        for _ in range(self.count):
            self.procs.append(subprocess.Popen([sys.executable, "-c", _BURN]))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def run_flake(
    runs: int, paths: list[str], *, load: int = 0, workers: int = 4, seeds: list[int] | None = None
) -> int:
    """Run the suites ``runs`` times in random order; print the failures table.

    Returns:
        0 when every run passed, 1 otherwise.
    """
    chosen = seeds or [secrets.randbelow(2**31 - 1) + 1 for _ in range(runs)]
    results: list[FlakeRun] = []
    print(
        f"pgsandbox flake: {runs} run(s) of {' '.join(paths)} at -n {workers}"
        + (f", with {load} CPU burner(s)" if load else ""),
        flush=True,
    )
    try:
        with Burners(load):
            for number, seed in enumerate(chosen[:runs], start=1):
                command = [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-n",
                    str(workers),
                    "-p",
                    "randomly",
                    f"--randomly-seed={seed}",
                    "-rfE",
                    *paths,
                ]
                started = time.perf_counter()
                returncode, stdout, stderr = run_pytest(command)
                done = subprocess.CompletedProcess(command, returncode, stdout, stderr)
                run = FlakeRun(
                    number=number,
                    seed=seed,
                    returncode=done.returncode,
                    summary=_summary_line(done.stdout),
                    wall_s=time.perf_counter() - started,
                    load=os.getloadavg(),
                    failures=failing_tests(done.stdout),
                )
                results.append(run)
                print(
                    f"pgsandbox flake: run {number}/{runs} seed {seed}: {run.summary} in "
                    f"{run.wall_s:.0f}s, load average {run.load[0]:.1f}",
                    flush=True,
                )
                # Named now, not only in the table at the end, which may be an hour away.
                for nodeid, first_line in run.failures:
                    print(f"    {nodeid}: {_shortened(first_line)}", flush=True)
                if done.returncode not in (0, 1):  # 1 is failed tests; others are breakage
                    print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
    finally:
        # Also when stopped (Ctrl-C, SIGTERM): the runs that finished are worth their table.
        print(flake_table(results), flush=True)
    return 0 if all(r.returncode == 0 for r in results) else 1


def flake_table(results: list[FlakeRun]) -> str:
    """The failures by test (with the seeds of the runs they failed in) and the load."""
    by_test: dict[str, tuple[list[int], str]] = {}
    for run in results:
        for nodeid, first_line in run.failures:
            seeds, first = by_test.setdefault(nodeid, ([], first_line))
            seeds.append(run.seed)
    lines = [f"{'failed':>6}  {'test':<60}  seeds / first error line"]
    for nodeid, (seeds, first) in sorted(by_test.items(), key=lambda item: -len(item[1][0])):
        lines.append(
            f"{len(seeds)}/{len(results):<4}  {nodeid:<60}  {', '.join(map(str, seeds))}: "
            f"{_shortened(first)}"
        )
    if not by_test:
        lines.append(f"{'0':>6}  no test failed in {len(results)} run(s)")
    broken = [r for r in results if r.returncode not in (0, 1)]
    for run in broken:
        lines.append(f"  run {run.number} (seed {run.seed}) ended with exit code {run.returncode}")
    if results:
        loads = [r.load[0] for r in results]
        lines.append(
            f"load average (1 min) after each run: {', '.join(f'{x:.1f}' for x in loads)} "
            f"on {os.cpu_count()} CPU(s)"
        )
    return "\n".join(lines)


def _shortened(line: str, width: int = 240) -> str:
    """An error line cut to ``width`` characters, marked where it was cut."""
    return line if len(line) <= width else line[: width - 1] + "…"
