"""Export queue benchmark: throughput with 1 and 2 workers, and enqueue-to-claim latency.

Usage::

    python benchmarks/queue_bench.py --url postgresql+asyncpg://user@host:port/glossator_bench

The database is migrated to head first (``glossator db upgrade``), then filled with a
benchmark user, workspace and document; its ``export_jobs`` are deleted before each
measurement, so use a database of its own. Workers are real ``glossator worker``
subprocesses compiling real PDFs with latexmk, so throughput is end to end.

Prints lines like these (one run on a busy 2-core development machine)::

    throughput  1 worker(s): 6 jobs in 4.0 s = 1.50 jobs/s
    throughput  2 worker(s): 6 jobs in 2.4 s = 2.53 jobs/s
    latency    NOTIFY + poll 2 s: median 25 ms, max 1401 ms (12 jobs)
    latency    poll only     2 s: median 1049 ms, max 3521 ms (12 jobs)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from glossator import db, services
from glossator.db.models import SourceKind
from glossator.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
TEXT = "The quick brown fox jumps over the lazy dog. " * 40


def _say(line: str) -> None:
    """Print a result line at once (the run takes a while)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="database URL (postgresql+asyncpg://...)")
    parser.add_argument("--jobs", type=int, default=20, help="jobs per throughput run")
    parser.add_argument("--latency-jobs", type=int, default=10, help="jobs per latency run")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="workers' poll interval")
    return parser.parse_args(argv)


def _start_workers(url: str, count: int, *flags: str) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "GLOSSATOR_DATABASE_URL": url}
    return [
        subprocess.Popen(  # noqa: S603 - the project's own worker, fixed arguments
            [sys.executable, "-m", "glossator", "worker", *flags],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


async def _setup() -> tuple[int, int]:
    user = await services.find_or_create_user("bench@example.org", "Bench Mark")
    workspaces = await services.list_workspaces_for_user(user.id)
    workspace = workspaces[0] if workspaces else await services.create_workspace(user.id, "Bench")
    documents = await services.list_documents(workspace.id)
    if documents:
        return user.id, documents[0].id
    document = await services.add_document(
        workspace.id, "Bench", SourceKind.HTML, f"<p>{TEXT}</p>", TEXT
    )
    for start in range(0, 400, 45):
        await services.add_highlight(document.id, user.id, start, start + 19, "t", comment="c")
    return user.id, document.id


async def _clear_jobs() -> None:
    async with db.session() as db_session:
        await db_session.execute(text("DELETE FROM export_jobs"))
        await db_session.commit()


async def _wait_all_finished(job_ids: list[int], within: float = 600.0) -> None:
    deadline = time.monotonic() + within
    pending = set(job_ids)
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"jobs {sorted(pending)} unfinished after {within:g} s")
        pending = {job for job in pending if not (await services.get_export(job)).finished}
        await asyncio.sleep(0.05)


async def _wait_workers_listening(expected: int, within: float = 60.0) -> None:
    """Wait until ``expected`` worker LISTEN connections (or ready pollers) exist."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with db.session() as db_session:
            listening = await db_session.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")
            )
        if (listening or 0) >= expected:
            return
        await asyncio.sleep(0.1)
    raise SystemExit("workers did not start listening in time")


async def _wait_workers_connected(expected: int, within: float = 60.0) -> None:
    """Wait until ``expected`` workers hold a database connection (they claim at start)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with db.session() as db_session:
            connected = await db_session.scalar(
                text(
                    "SELECT count(DISTINCT pid) FROM pg_stat_activity"
                    " WHERE application_name = 'glossator'"
                )
            )
        if (connected or 0) >= expected:
            return
        await asyncio.sleep(0.1)
    raise SystemExit("workers did not connect in time")


async def _throughput(args: argparse.Namespace, user_id: int, document_id: int, n: int) -> float:
    await _clear_jobs()
    workers = _start_workers(args.url, n, "--poll-interval", str(args.poll_interval))
    try:
        await _wait_workers_listening(n)
        started = time.monotonic()
        job_ids = [await services.request_export(document_id, user_id) for _ in range(args.jobs)]
        await _wait_all_finished(job_ids)
        elapsed = time.monotonic() - started
    finally:
        _stop_workers(workers)
    rate = int(args.jobs) / elapsed
    _say(f"throughput {n:2d} worker(s): {args.jobs} jobs in {elapsed:.1f} s = {rate:.2f} jobs/s")
    return rate


async def _latency(
    args: argparse.Namespace, user_id: int, document_id: int, *, listen: bool
) -> None:
    await _clear_jobs()
    flags = ["--poll-interval", str(args.poll_interval)] + ([] if listen else ["--no-listen"])
    workers = _start_workers(args.url, 1, *flags)
    latencies = []
    try:
        await _wait_workers_connected(1)
        for _ in range(args.latency_jobs):
            # Enqueue at a random point of the poll cycle.
            await asyncio.sleep(random.uniform(0, args.poll_interval))  # noqa: S311 - not crypto
            job_id = await services.request_export(document_id, user_id)
            await _wait_all_finished([job_id])
            async with db.session() as db_session:
                seconds = await db_session.scalar(
                    text(
                        "SELECT extract(epoch FROM started_at - created_at) FROM export_jobs"
                        " WHERE id = :id"
                    ),
                    {"id": job_id},
                )
            latencies.append(float(seconds) * 1000)
    finally:
        _stop_workers(workers)
    label = "NOTIFY + poll" if listen else "poll only    "
    median = statistics.median(latencies)
    _say(
        f"latency    {label} {args.poll_interval:g} s: median {median:.0f} ms,"
        f" max {max(latencies):.0f} ms ({len(latencies)} jobs)"
    )


async def _run(args: argparse.Namespace) -> None:
    user_id, document_id = await _setup()
    for workers in (1, 2):
        await _throughput(args, user_id, document_id, workers)
    await _latency(args, user_id, document_id, listen=True)
    await _latency(args, user_id, document_id, listen=False)
    await _clear_jobs()
    await db.dispose_engines()


def main(argv: list[str] | None = None) -> int:
    """Migrate the benchmark database, then print throughput and latency figures."""
    args = _parse_args(argv)
    subprocess.run(
        [sys.executable, "-m", "glossator", "db", "upgrade"],
        env={**os.environ, "GLOSSATOR_DATABASE_URL": args.url},
        check=True,
    )
    # Our own connections are named apart from the workers' ("glossator").
    db.configure(Settings(database_url=args.url, application_name="glossator-bench"))
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
