"""The PostgreSQL servers a benchmark run measures on.

The bench's own server is the configured one (``PGSANDBOX_URL``), else pgsandbox's
ephemeral cluster (tmpfs, test-tuned settings). Where a disk-backed server is reachable
as well (by default the system server on 127.0.0.1:5432), the strategies that the issue
compares across servers run there too. The benchmark only creates and drops its own
``glossbench_*`` databases (and pgsandbox its ``pgsb_*`` ones) on either.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy.engine import URL, make_url

from pgsandbox._cluster import TEST_SETTINGS, Cluster
from pgsandbox._server import resolve_server

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["BenchServer", "PssSampler", "disk_server", "primary_server", "settings_of"]

DEFAULT_DISK_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True, slots=True)
class BenchServer:
    """A server the benchmark runs on.

    Attributes:
        name: ``ephemeral``, ``configured`` or ``disk``.
        url: URL of its maintenance database.
        description: one line for the report.
        pid_file: ``postmaster.pid`` of a server we may measure the memory of.
    """

    name: str
    url: URL
    description: str
    pid_file: Path | None = None


def primary_server() -> BenchServer:
    """``PGSANDBOX_URL`` if set, else pgsandbox's ephemeral cluster (started if need be)."""
    env_url = os.environ.get("PGSANDBOX_URL")
    if env_url:
        info = resolve_server(None, env_url)
        return BenchServer("configured", info.url, info.describe())
    info = resolve_server(None, None)
    cluster = Cluster.default()
    return BenchServer(
        "ephemeral",
        info.url,
        f"pgsandbox ephemeral cluster in {cluster.root} (tmpfs, test settings)",
        cluster.data_dir / "postmaster.pid",
    )


def disk_server(raw_url: str, primary: BenchServer) -> BenchServer | None:
    """The disk-backed server at ``raw_url``, if it answers and is not the primary one."""
    url = make_url(raw_url).set(drivername="postgresql")
    if (url.host, url.port) == (primary.url.host, primary.url.port):
        return None
    try:
        with _connect(url, connect_timeout=2) as conn:
            row = conn.execute("SHOW data_directory").fetchone()
    except psycopg.Error:
        return None
    where = str(row[0]) if row else "?"
    return BenchServer("disk", url, f"server at {url.host}:{url.port} (data in {where})")


def _connect(url: URL, **extra: Any) -> psycopg.Connection[Any]:
    params = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database or "postgres",
        **extra,
    }
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})


_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "shared_buffers",
    "max_connections",
    "jit",
)


def settings_of(server: BenchServer) -> dict[str, str]:
    """The server's version and the settings that matter for test databases."""
    found: dict[str, str] = {}
    with _connect(server.url) as conn:
        for name in _SETTINGS:
            row = conn.execute(f"SHOW {name}".encode()).fetchone()
            found[name] = str(row[0]) if row else "?"
    found["tuned_for_tests"] = str(
        all(found.get(k) == v for k, v in TEST_SETTINGS.items() if k in found)
    )
    return found


def _children(pid: int) -> Iterator[int]:
    yield pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                yield int(entry.name)


def _pss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


@dataclass
class PssSampler:
    """Samples the server's memory (PSS of the postmaster and its children) in a thread.

    PSS charges shared memory (``shared_buffers``) to processes in proportion, so the sum
    is the server's real footprint rather than RSS counted once per backend.
    """

    pid_file: Path | None
    interval_s: float = 0.25
    peak_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PssSampler:
        """Start sampling (a no-op without a pid file)."""
        if self.pid_file is not None and self.pid_file.exists():
            pid = int(self.pid_file.read_text().split()[0])
            self._thread = threading.Thread(target=self._run, args=(pid,), daemon=True)
            self._thread.start()
        return self

    def _run(self, pid: int) -> None:
        while not self._stop.is_set():
            total = sum(_pss_kb(p) for p in _children(pid))
            self.peak_kb = max(self.peak_kb, total)
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc: object) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak_mb(self) -> float | None:
        """The highest total seen, in MB (None when nothing was sampled)."""
        return round(self.peak_kb / 1024, 1) if self.peak_kb else None
