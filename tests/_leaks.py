"""Find what a test run left behind: processes it started that still run, temp folders.

Every process the suite starts inherits ``GLOSSATOR_TEST_RUN`` (set once per run by the
controller, see ``tests/conftest.py``), so a ``glossator worker`` or ``glossator serve``,
a LibreOffice or a latexmk still running at the end of the run is recognised as this
run's, and never another engineer's on the same machine. latexmk gets a clean
environment from glossator, but every process of a compilation carries its folder's path
(:data:`glossator.export.compile.WORKDIR_MARKER`); a folder inside this run's pytest
temporary tree makes it this run's. Leftover folders are the ``glossator-*`` folders
(compilations, LibreOffice conversions and profiles) inside that tree.

Linux only (``/proc``); elsewhere nothing is found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Final

from glossator.export.compile import WORKDIR_MARKER

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "FOLDER_PREFIX",
    "RUN_VARIABLE",
    "WATCHED_COMMAND",
    "LeakedProcess",
    "compilation_processes",
    "kill_processes",
    "leftover_folders",
    "processes_of_compilation",
    "run_processes",
    "start_time",
]

#: Set by the run's controller; every process started by the run inherits it.
RUN_VARIABLE: Final = "GLOSSATOR_TEST_RUN"
#: Programs that must not outlive the run (the pytest processes themselves are not).
WATCHED_COMMAND: Final = re.compile(
    r"glossator\s+(worker|serve)\b|soffice|oosplash|\blatexmk\b|\bpdflatex\b"
)
#: Temporary folders glossator makes (export compilations, RTF conversions, profiles).
FOLDER_PREFIX: Final = "glossator-"


@dataclasses.dataclass(frozen=True, slots=True)
class LeakedProcess:
    """A process found running: its id, command line and start time (clock ticks since boot).

    The start time tells it from a later process that got the same pid: pids are reused
    (32768 of them here, and a loaded test run starts thousands of processes).
    """

    pid: int
    command: str
    start: str = ""

    def exists(self) -> bool:
        """Whether this process (not another with its pid) is still there, a zombie too."""
        return start_time(self.pid) == self.start

    def __str__(self) -> str:
        """``pid 123: glossator worker ...``."""
        return f"pid {self.pid}: {self.command}"


def _processes(keep: Callable[[list[bytes], str], bool]) -> list[LeakedProcess]:
    """Live processes (not this one) whose environment and command line ``keep`` accepts."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited meanwhile, or someone else's
        # A zombie has neither: it has exited already and only waits to be reaped.
        if command.strip() and keep(environment, command):
            found.append(
                LeakedProcess(int(entry.name), command.strip(), start_time(int(entry.name)))
            )
    return sorted(found, key=lambda process: process.pid)


def run_processes(run_id: str) -> list[LeakedProcess]:
    """Watched programs (:data:`WATCHED_COMMAND`) started by run ``run_id``."""
    marker = f"{RUN_VARIABLE}={run_id}".encode()
    return _processes(
        lambda environment, command: (
            marker in environment and WATCHED_COMMAND.search(command) is not None
        )
    )


def compilation_processes(root: Path) -> list[LeakedProcess]:
    """Processes of export compilations whose folder lies inside ``root``."""
    prefix = f"{WORKDIR_MARKER}={root}/".encode()
    return _processes(
        lambda environment, _command: any(item.startswith(prefix) for item in environment)
    )


def processes_of_compilation(workdir: Path) -> list[LeakedProcess]:
    """Processes of the one export compilation whose folder is ``workdir``."""
    marker = f"{WORKDIR_MARKER}={workdir}".encode()
    return _processes(lambda environment, _command: marker in environment)


def leftover_folders(root: Path) -> list[Path]:
    """``glossator-*`` folders inside ``root`` (not looking inside the ones found)."""
    if not root.is_dir():
        return []
    found: list[Path] = []
    for directory, subdirectories, _files in os.walk(root):
        for name in list(subdirectories):
            if name.startswith(FOLDER_PREFIX):
                found.append(Path(directory) / name)
                subdirectories.remove(name)
    return sorted(found)


def start_time(pid: int) -> str:
    """Process ``pid``'s start time (``/proc/<pid>/stat`` field 22), or '' if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def kill_processes(processes: list[LeakedProcess]) -> None:
    """SIGKILL each process, and its process group when it leads one."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                os.kill(process.pid, signal.SIGKILL)


#: Temporary folders the whole suite may make outside pytest's own tree: glossator's
#: (conversions, compilations with no work root) and pgsandbox's private test clusters.
SUITE_FOLDER_PREFIXES: Final = (FOLDER_PREFIX, "pgsandbox-test-")


def any_run_processes() -> list[LeakedProcess]:
    """Every live process started by any glossator test run (it carries the run id)."""
    marker = f"{RUN_VARIABLE}=".encode()
    return _processes(
        lambda environment, _command: any(item.startswith(marker) for item in environment)
    )


def private_cluster_processes() -> list[LeakedProcess]:
    """PostgreSQL servers of pgsandbox's private test clusters still running."""
    return _processes(
        lambda _environment, command: "postgres" in command and "pgsandbox-test-" in command
    )


def suite_folders(roots: list[Path]) -> list[Path]:
    """Suite folders left at the top of the temporary roots, and glossator's anywhere in
    pytest's own temporary trees (``pytest-of-<user>``, which pytest itself prunes)."""
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            if entry.is_dir() and entry.name.startswith(SUITE_FOLDER_PREFIXES):
                found.append(entry)
            elif entry.is_dir() and entry.name.startswith("pytest-of-"):
                found += leftover_folders(entry)
    return sorted(found)


def main() -> int:
    """``python -m tests._leaks``: after a whole ``nox`` run, nothing of the suite remains.

    Exits 1, naming each one, if a process of any glossator test run, a private test
    cluster's server or a suite temporary folder is left; otherwise says what it checked.
    """
    import tempfile

    roots = sorted({Path(tempfile.gettempdir()), Path("/dev/shm")})  # noqa: S108 - pgsandbox's RAM-disk root
    processes = any_run_processes() + private_cluster_processes()
    folders = suite_folders(roots)
    for process in processes:
        print(f"leftovers: process {process}")  # noqa: T201 - a command-line report
    for folder in folders:
        print(f"leftovers: folder {folder}")  # noqa: T201 - a command-line report
    if processes or folders:
        return 1
    print(  # noqa: T201 - a command-line report
        "leftovers: none: no process of a glossator test run or a private test cluster, no "
        f"{' or '.join(p + '*' for p in SUITE_FOLDER_PREFIXES)} folder in "
        f"{', '.join(map(str, roots))} (or glossator-* inside pytest's temporary trees)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
