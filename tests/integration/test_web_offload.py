"""The worker pool that keeps CPU-heavy work off the web app's event loop (issue 17).

Real worker processes (``spawn``), no database. Every test closes its pool, which stops
the processes it started, also when an assertion fails.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

import pytest

from glossator.importers import DocumentTooLarge
from glossator.web._offload import WorkerCrashed, WorkerError, WorkerPool, WorkTimedOut
from tests.integration import _offload_work as work

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    """A pool of two workers, closed after the test."""
    opened = WorkerPool(2)
    try:
        yield opened
    finally:
        opened.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child that was not reaped yet is a zombie: dead for our purposes.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


class TestWorkerPool:
    async def test_work_runs_in_another_process_which_is_reused(self, pool: WorkerPool) -> None:
        """The result comes back; the second call uses the same worker process."""
        first_pid, square = await pool.run(work.pid_and_square, 12, time_limit=30, what="x")
        second_pid, _ = await pool.run(work.pid_and_square, 1, time_limit=30, what="x")
        assert square == 144
        assert first_pid != os.getpid()
        assert second_pid == first_pid
        assert pool.worker_pids() == [first_pid]

    async def test_the_event_loop_stays_free_while_a_worker_computes(
        self, pool: WorkerPool
    ) -> None:
        """While a call runs for a second, the loop runs other tasks on time."""
        call = asyncio.create_task(pool.run(work.sleep_then_pid, 1.0, time_limit=30, what="x"))
        ticks = 0
        while not call.done():
            await asyncio.sleep(0.01)
            ticks += 1
        await call
        assert ticks >= 20  # a blocked loop would have ticked once or twice

    async def test_a_call_past_its_time_limit_is_stopped_and_its_worker_killed(
        self, pool: WorkerPool
    ) -> None:
        """WorkTimedOut (a 422) names the work and the limit; the process is gone."""
        pid, _ = await pool.run(work.pid_and_square, 2, time_limit=30, what="warm-up")
        started = time.monotonic()
        with pytest.raises(WorkTimedOut, match=r"importing 'a\.html' took longer than 0\.5 s"):
            await pool.run(work.sleep_then_pid, 60.0, time_limit=0.5, what="importing 'a.html'")
        assert time.monotonic() - started < 20
        assert not _alive(pid)
        assert pool.worker_pids() == []
        new_pid, square = await pool.run(work.pid_and_square, 3, time_limit=30, what="x")
        assert (new_pid != pid, square) == (True, 9)

    async def test_a_crashed_worker_is_a_clear_error_and_is_replaced(
        self, pool: WorkerPool
    ) -> None:
        """A worker that dies mid-call: WorkerCrashed; the next call gets a new worker."""
        with pytest.raises(WorkerCrashed, match="the worker process stopped"):
            await pool.run(work.die, time_limit=30, what="importing")
        _, square = await pool.run(work.pid_and_square, 4, time_limit=30, what="x")
        assert square == 16

    async def test_glossator_errors_come_back_as_they_are(self, pool: WorkerPool) -> None:
        """An importer error crosses the process boundary with its attributes."""
        with pytest.raises(DocumentTooLarge) as raised:
            await pool.run(work.too_large, time_limit=30, what="x")
        assert (raised.value.size, raised.value.limit) == (10, 5)

    async def test_other_errors_are_bugs_with_the_workers_traceback(self, pool: WorkerPool) -> None:
        """A KeyError in the worker is a WorkerError (a 500), naming the original error."""
        with pytest.raises(WorkerError, match="KeyError: 'missing'"):
            await pool.run(work.buggy, time_limit=30, what="x")

    async def test_calls_beyond_the_pool_size_wait_for_a_worker(self, pool: WorkerPool) -> None:
        """Three calls on two workers: never more than two processes."""
        results = await asyncio.gather(
            *(pool.run(work.sleep_then_pid, 0.3, time_limit=30, what="x") for _ in range(3))
        )
        assert len(set(results)) <= 2
        assert len(pool.worker_pids()) <= 2

    async def test_close_stops_every_worker(self) -> None:
        """After close, no worker process of the pool is left."""
        pool = WorkerPool(2)
        try:
            pids = await asyncio.gather(
                *(pool.run(work.sleep_then_pid, 0.2, time_limit=30, what="x") for _ in range(2))
            )
        finally:
            pool.close()
        assert not any(_alive(pid) for pid in pids)
