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
    "process_exists",
    "run_processes",
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
    """A process found running: its id and command line."""

    pid: int
    command: str

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
            found.append(LeakedProcess(int(entry.name), command.strip()))
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


def process_exists(pid: int) -> bool:
    """Whether ``pid`` exists at all, as a running process or a zombie not yet reaped."""
    return Path(f"/proc/{pid}").exists()


def kill_processes(processes: list[LeakedProcess]) -> None:
    """SIGKILL each process, and its process group when it leads one."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                os.kill(process.pid, signal.SIGKILL)
