"""Start a converter as the leader of a process group of its own, and kill the whole group.

LibreOffice (``oosplash``, then ``soffice.bin``) and latexmk (then pdflatex) start
programs of their own. Each is started in a new session, so its process group holds
everything it starts, and a timeout or a cancellation kills the group, never a lone parent.

:func:`start_group` also closes the window :func:`asyncio.create_subprocess_exec` leaves:
cancelled after the fork but before it returns (a client went away, a job was cancelled,
all within the few event-loop turns the start takes), asyncio kills only the process it
started; whatever that process had started meanwhile lives on, orphaned, for as long as
it likes. Seen as an RTF converter's child still running 30 s after the cancellation, on
a loaded machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any, Final

__all__ = ["REAP_TIMEOUT", "kill_group", "start_group"]

#: How long :func:`kill_group` goes on reaping the killed group's orphans.
REAP_TIMEOUT: Final = 5.0


async def start_group(program: str, *args: str, **options: Any) -> asyncio.subprocess.Process:
    """:func:`asyncio.create_subprocess_exec` in a new session, safe to cancel.

    The start runs shielded from the caller's cancellation. Cancelled meanwhile, the
    caller still gets its ``CancelledError``, but only once the start has completed and
    the new group has been killed and reaped.
    """
    starting = asyncio.ensure_future(
        asyncio.create_subprocess_exec(program, *args, start_new_session=True, **options)
    )
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        # Should the wait below be cut short too, the kill still happens when the start ends.
        starting.add_done_callback(_kill_when_started)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await kill_group(await asyncio.shield(starting))
        raise


def _kill_when_started(starting: asyncio.Future[asyncio.subprocess.Process]) -> None:
    if starting.cancelled() or starting.exception() is not None:
        return  # nothing started (the exception is retrieved, so asyncio logs nothing)
    process = starting.result()
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


async def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process's group, then reap the process and what it started.

    The group id is the leader's pid (a new session), which cannot have been reused while
    the leader is unreaped. Killing the group races: when the leader dies before its
    children, they are orphaned, and their parent becomes the nearest subreaper, or
    PID 1, which in a container often reaps nothing (they stay ``<defunct>``). A process
    that made itself a subreaper (``glossator.export.compile.become_subreaper``) reaps
    them here; in any other, there is nothing of the group left to wait for.
    """
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await asyncio.shield(process.wait())
    deadline = time.monotonic() + REAP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-process.pid, os.WNOHANG)  # noqa: ASYNC222 - WNOHANG never blocks
        except ChildProcessError:
            return  # no child of ours left in the group
        if pid == 0:
            await asyncio.sleep(0.01)  # still dying
