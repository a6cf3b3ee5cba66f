"""What every test run of glossator's suite checks: it leaves no process and no temp folder.

The controller (the only process without xdist, else the one that starts the workers)
gives the run an id in ``GLOSSATOR_TEST_RUN``, which every process the run starts
inherits. When the session ends it waits a moment for exiting processes, then fails the
run if a ``glossator worker``/``glossator serve``, LibreOffice or latexmk of this run
still runs, or a ``glossator-*`` temporary folder is left in the run's pytest temporary
tree; it names each one, then kills and removes them so the next run starts clean.
``tests/_leaks.py`` finds them.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests._leaks import (
    RUN_VARIABLE,
    compilation_processes,
    kill_processes,
    leftover_folders,
    run_processes,
)
from tests._timing import scaled

if TYPE_CHECKING:
    from tests._leaks import LeakedProcess

#: Seconds (scaled) given to processes still exiting when the session ends.
_EXIT_GRACE = 5.0


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """Give the run its id (controller only: xdist workers and subprocesses inherit it)."""
    if _is_controller(config):
        # Always a new id: a nested run must not claim its parent's processes.
        os.environ[RUN_VARIABLE] = uuid.uuid4().hex


def _temp_root(config: pytest.Config) -> Path | None:
    # pytest keeps its TempPathFactory on the config (private, but plugins rely on it, as
    # xdist does to give workers their basetemp); None when no test made a tmp_path.
    factory = getattr(config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)
    return Path(basetemp) if basetemp is not None else None


def _leaks(run_id: str, temp_root: Path | None) -> tuple[list[LeakedProcess], list[Path]]:
    processes = run_processes(run_id)
    folders: list[Path] = []
    if temp_root is not None:
        known = {process.pid for process in processes}
        processes += [p for p in compilation_processes(temp_root) if p.pid not in known]
        folders = leftover_folders(temp_root)
    return processes, folders


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run when it left processes or temporary folders behind (controller only)."""
    config = session.config
    run_id = os.environ.get(RUN_VARIABLE)
    if not _is_controller(config) or not run_id:
        return
    temp_root = _temp_root(config)
    deadline = time.monotonic() + scaled(_EXIT_GRACE)
    processes, folders = _leaks(run_id, temp_root)
    while processes and time.monotonic() < deadline:
        time.sleep(0.1)  # a process stopped at teardown may still be exiting
        processes, folders = _leaks(run_id, temp_root)
    if not processes and not folders:
        return
    lines = ["glossator tests: the run left these behind (now killed/removed):"]
    lines += [f"  process {process}" for process in processes]
    lines += [f"  folder {folder}" for folder in folders]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line)  # noqa: T201 - no terminal reporter (-p no:terminal): still say it
    kill_processes(processes)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
