"""A private, test-tuned PostgreSQL cluster started from the machine's own binaries.

Used when neither ``--pgsandbox-url`` nor ``PGSANDBOX_URL`` names a server. The
cluster lives in a cache folder (on ``/dev/shm`` when the machine has it: clones and drops
are several times faster on tmpfs), listens on a free TCP port on 127.0.0.1 and on a unix
socket in its folder, and keeps running after the test run so the next run reuses it in
milliseconds. ``python -m pgsandbox stop`` (``nox -s db-stop``) stops it.

``initdb`` refuses to run as root, so as root the cluster belongs to, and runs as, the
``postgres`` user (or ``nobody`` where there is no such user).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL

from pgsandbox._errors import ServerUnavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Cluster", "default_cluster_dir", "find_bindir"]

# Durability buys nothing in a throw-away test cluster; these make clones, drops and
# commits several times cheaper (see ARCHITECTURE.md, "Costs measured").
TEST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "listen_addresses": "'127.0.0.1'",
    "log_min_messages": "warning",
    "log_min_duration_statement": "-1",
    "jit": "off",
}
_START_TIMEOUT_S = 30
_NEEDED = ("initdb", "pg_ctl", "postgres")


def find_bindir(environ: dict[str, str] | None = None) -> Path:
    """Locate PostgreSQL's server binaries: ``pg_config``, then PATH, then the Debian layout.

    ``PGSANDBOX_PG_BINDIR`` overrides the search.

    Raises:
        ServerUnavailable: no directory holds ``initdb``, ``pg_ctl`` and ``postgres``.
    """
    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    if env.get("PGSANDBOX_PG_BINDIR"):
        candidates.append(Path(env["PGSANDBOX_PG_BINDIR"]))
    pg_config = shutil.which("pg_config", path=env.get("PATH"))
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=5, check=True
            ).stdout.strip()
            candidates.append(Path(out))
    initdb = shutil.which("initdb", path=env.get("PATH"))
    if initdb:
        candidates.append(Path(initdb).parent)

    def version_of(path: str) -> tuple[int, ...]:
        match = re.search(r"/(\d+(?:\.\d+)?)/bin$", path)
        return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_of, reverse=True)
    candidates.extend(Path(p) for p in debian)
    for candidate in candidates:
        if all((candidate / tool).is_file() for tool in _NEEDED):
            return candidate
    msg = (
        "pgsandbox: no PostgreSQL server binaries (initdb, pg_ctl, postgres) were found via "
        "pg_config, PATH or /usr/lib/postgresql/*/bin, and no server was configured.\n"
        "  Either install the server (Debian/Ubuntu: apt-get install postgresql), or point "
        "pgsandbox at a running server with PGSANDBOX_URL=postgresql://user@host:port/"
        "postgres (or --pgsandbox-url)."
    )
    raise ServerUnavailable(msg)


def default_cluster_dir(major: str, environ: dict[str, str] | None = None) -> Path:
    """Return the folder for the ephemeral cluster of one PostgreSQL major version.

    ``PGSANDBOX_CLUSTER_DIR`` overrides it; otherwise ``/dev/shm`` (RAM) when writable,
    else the system temporary folder. A per-user folder keeps users apart.
    """
    env = os.environ if environ is None else environ
    if env.get("PGSANDBOX_CLUSTER_DIR"):
        return Path(env["PGSANDBOX_CLUSTER_DIR"])
    shm = Path("/dev/shm")  # noqa: S108  # RAM-backed on purpose; a per-uid folder inside
    usable = shm.is_dir() and os.access(shm, os.W_OK)
    base = shm if usable else Path(tempfile.gettempdir())
    return base / f"pgsandbox-{os.getuid()}" / f"pg{major}"


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """What :meth:`Cluster.ensure_running` found or did."""

    url: URL
    action: str  # "reused", "started" or "created"
    seconds: float
    data_dir: Path


class Cluster:
    """The ephemeral cluster under one folder."""

    def __init__(self, bindir: Path, root: Path) -> None:
        """Describe the cluster in ``root`` run with the binaries in ``bindir``."""
        self.bindir = bindir
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root / "run"
        self.log_file = root / "server.log"
        self.state_file = root / "cluster.json"

    @classmethod
    def default(cls) -> Cluster:
        """Return the cluster for the newest PostgreSQL found on this machine."""
        bindir = find_bindir()
        return cls(bindir, default_cluster_dir(_major_version(bindir)))

    # ------------------------------------------------------------------ public
    def ensure_running(self) -> ClusterStatus:
        """Start the cluster (creating it first if needed), or reuse a running one.

        Safe to call from several processes at once: a file lock serialises them.
        """
        started = time.perf_counter()
        self.root.mkdir(parents=True, exist_ok=True)
        with self._file_lock():
            port = self._running_port()
            if port is not None:
                return ClusterStatus(
                    self.url(port), "reused", time.perf_counter() - started, self.data_dir
                )
            action = "started"
            if not (self.data_dir / "PG_VERSION").is_file():
                self._initdb()
                action = "created"
            port = self._start()
            return ClusterStatus(
                self.url(port), action, time.perf_counter() - started, self.data_dir
            )

    def stop(self) -> bool:
        """Stop the cluster if it runs; return whether it was running."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        self._run_as_owner(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            "stop the cluster",
        )
        return True

    def url(self, port: int) -> URL:
        """Return the superuser URL of the cluster's maintenance database."""
        return URL.create(
            "postgresql", username="postgres", host="127.0.0.1", port=port, database="postgres"
        )

    # ------------------------------------------------------------------ steps
    def _running_port(self) -> int | None:
        if not (self.data_dir / "postmaster.pid").exists() or not self.state_file.exists():
            return None
        state: dict[str, Any] = json.loads(self.state_file.read_text())
        port = int(state["port"])
        result = subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            check=False,
            timeout=10,
            user=self._owner() if os.getuid() == 0 else None,
        )
        if result.returncode != 0:
            return None
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 2):
            return port
        return None

    def _initdb(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self._prepare_dirs()
        self._run_as_owner(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            "create the cluster (initdb)",
        )
        conf = self.data_dir / "postgresql.conf"
        lines = [f"{key} = {value}" for key, value in TEST_SETTINGS.items()]
        with conf.open("a") as handle:
            handle.write("\n# pgsandbox: settings for throw-away test databases\n")
            handle.write("\n".join(lines) + "\n")

    def _start(self) -> int:
        self._prepare_dirs()
        port = _free_port()
        options = f"-p {port} -k {self.socket_dir}"
        self._run_as_owner(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "start",
            ],
            "start the cluster",
        )
        self.state_file.write_text(json.dumps({"port": port, "bindir": str(self.bindir)}))
        return port

    # ------------------------------------------------------------------ helpers
    def _owner(self) -> str:
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                return name
        msg = "pgsandbox: running as root, but there is no 'postgres' or 'nobody' user to run"
        raise ServerUnavailable(msg + " PostgreSQL as. Create one, or set PGSANDBOX_URL.")

    def _prepare_dirs(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.getuid() != 0:
            return
        entry = pwd.getpwnam(self._owner())
        for path in (self.root, self.socket_dir, self.log_file, self.data_dir):
            if path == self.log_file:
                path.touch(exist_ok=True)
            if path.exists():
                os.chown(path, entry.pw_uid, entry.pw_gid)
        # The server must be able to reach its folder through every parent.
        for parent in self.root.parents:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                msg = (
                    f"pgsandbox: the cluster folder {self.root} is inside {parent}, which the "
                    f"'{entry.pw_name}' user cannot enter. Set PGSANDBOX_CLUSTER_DIR to a folder "
                    "under /dev/shm or /tmp."
                )
                raise ServerUnavailable(msg)

    def _run_as_owner(self, argv: list[str], what: str) -> None:
        user = self._owner() if os.getuid() == 0 else None
        try:
            subprocess.run(
                argv,
                capture_output=True,
                text=True,
                check=True,
                timeout=_START_TIMEOUT_S + 10,
                user=user,
                cwd=self.root,
            )
        except subprocess.CalledProcessError as exc:
            log_tail = ""
            if self.log_file.exists():
                log_tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
            msg = (
                f"pgsandbox: could not {what}: {' '.join(argv)} exited {exc.returncode}.\n"
                f"{(exc.stderr or exc.stdout or '').strip()}\n{log_tail}\n"
                f"  Delete {self.root} to start from scratch, or set PGSANDBOX_URL to use "
                "a server you run yourself."
            )
            raise ServerUnavailable(msg) from None
        except subprocess.TimeoutExpired:
            msg = f"pgsandbox: timed out trying to {what} (see {self.log_file})."
            raise ServerUnavailable(msg) from None

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        with (self.root / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _major_version(bindir: Path) -> str:
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    match = re.search(r"\)\s*(\d+)", out) or re.search(r"(\d+)", out)
    return match.group(1) if match else "unknown"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
