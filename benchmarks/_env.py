"""What a generated benchmark suite is told by the runner, through environment variables.

The runner (``benchmarks.run``) starts each suite as a pytest subprocess; its conftest and
the probe plugin read this once, when their first fixture or hook needs it (never at
import time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy.engine import URL, make_url

__all__ = ["ASYNC_DRIVER", "SYNC_DRIVER", "BenchEnv", "bench_env"]

ASYNC_DRIVER = "postgresql+asyncpg"
SYNC_DRIVER = "postgresql+psycopg"


@dataclass(frozen=True, slots=True)
class BenchEnv:
    """The server, run id, reference database and output folder of one benchmark run."""

    server_url: URL  # maintenance database, driver-neutral
    run_id: str
    reference_database: str
    out_dir: Path
    reference_every: int

    @classmethod
    def from_environ(cls) -> BenchEnv:
        """Read ``BENCH_SERVER_URL``, ``BENCH_RUN_ID``, ``BENCH_REFERENCE_DB``, ``BENCH_OUT``."""
        try:
            return cls(
                server_url=make_url(os.environ["BENCH_SERVER_URL"]),
                run_id=os.environ["BENCH_RUN_ID"],
                reference_database=os.environ["BENCH_REFERENCE_DB"],
                out_dir=Path(os.environ["BENCH_OUT"]),
                reference_every=int(os.environ.get("BENCH_REFERENCE_EVERY", "10")),
            )
        except KeyError as exc:
            msg = f"benchmark suites are started by `python -m benchmarks.run`; {exc} is unset"
            raise RuntimeError(msg) from None

    def url(self, database: str, driver: str = ASYNC_DRIVER) -> URL:
        """URL of one database on the benchmark's server."""
        return self.server_url.set(drivername=driver, database=database)

    @property
    def worker_id(self) -> str:
        """``gw0``, ``gw1``, ... under xdist, else ``main``."""
        return os.environ.get("PYTEST_XDIST_WORKER", "main")


@cache
def bench_env() -> BenchEnv:
    """The process's :class:`BenchEnv`, read on first use."""
    return BenchEnv.from_environ()
