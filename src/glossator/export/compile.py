"""Compile LaTeX to PDF with latexmk, safely, without blocking the event loop.

:func:`compile_latex` runs ``latexmk -pdf`` (pdflatex) in a private temporary directory:

* ``-no-shell-escape`` and ``shell_escape=f``: ``\\write18`` can never run a program;
* ``openin_any=p`` / ``openout_any=p`` (kpathsea's *paranoid* mode): TeX may read and
  write only below the working directory and its own trees, not ``/etc/passwd``;
* ``-norc``: no ``latexmkrc`` of the machine or the user can change the command line;
* ``-interaction=nonstopmode -halt-on-error``: an error ends the run instead of waiting
  for a user at the terminal;
* a timeout after which the whole process group (latexmk and the pdflatex it started)
  is killed and reaped; cancelling the coroutine does the same.

A failed compilation raises :class:`LatexError` with the relevant lines of the LaTeX log.

A worker killed with SIGKILL can clean up nothing: its latexmk runs on, orphaned, and its
folder stays. Each folder therefore names its owner (``owner.json``: the worker's pid and
the kernel's start time of that process, so a reused pid is not mistaken for it), and every
process of a compilation carries the folder's path in its environment
(:data:`WORKDIR_MARKER`). :func:`sweep_leftovers`, which ``glossator worker`` runs when it
starts, kills the processes and removes the folders of owners that are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from glossator._process_group import kill_group, start_group

__all__ = [
    "WORKDIR_MARKER",
    "WORKDIR_PREFIX",
    "LatexError",
    "LatexNotInstalled",
    "LatexTimeout",
    "become_subreaper",
    "compile_latex",
    "latex_log_excerpt",
    "sweep_leftovers",
]

#: Most log lines quoted in an error, and most characters.
_EXCERPT_LINES: Final = 12
_EXCERPT_CHARS: Final = 2000
# "! LaTeX Error: ..." (TeX's own style) or "./doc.tex:12: Undefined ..." (-file-line-error).
_ERROR_LINE: Final = re.compile(r"^(!|\S+:\d+: )")
_JOB_NAME: Final = "export"
#: Name prefix of the private folders compilations run in (in the temporary folder).
WORKDIR_PREFIX: Final = "glossator-export-"
#: Environment variable every process of a compilation has: the path of its folder.
WORKDIR_MARKER: Final = "GLOSSATOR_EXPORT_WORKDIR"
_OWNER_FILE: Final = "owner.json"
#: A folder without an owner file is a leftover only when older than this (seconds): a
#: live worker writes the file right after creating the folder.
_UNOWNED_AGE: Final = 600.0
_PR_SET_CHILD_SUBREAPER: Final = 36


class LatexError(Exception):
    """LaTeX did not produce a PDF.

    Attributes:
        log_excerpt: The relevant lines of the LaTeX log (or latexmk's output).
    """

    def __init__(self, message: str, log_excerpt: str = "") -> None:
        """Record the message and the log lines that explain it."""
        super().__init__(f"{message}\n{log_excerpt}".rstrip())
        self.log_excerpt = log_excerpt


class LatexTimeout(LatexError):
    """latexmk ran longer than allowed and was killed with its process group."""


class LatexNotInstalled(LatexError):
    """latexmk is not on PATH (Debian: ``apt-get install latexmk``)."""


def latex_log_excerpt(log: str) -> str:
    """The lines of a LaTeX log that explain an error: each error line and the next two.

    Args:
        log: The text of a ``.log`` file.

    Returns:
        At most a dozen lines (and 2,000 characters); empty when the log has no error.
    """
    lines = log.splitlines()
    picked: list[str] = []
    for index, line in enumerate(lines):
        if _ERROR_LINE.match(line):
            picked.extend(lines[index : index + 3])
        if len(picked) >= _EXCERPT_LINES:
            break
    return "\n".join(picked[:_EXCERPT_LINES])[:_EXCERPT_CHARS]


async def compile_latex(
    source: str,
    *,
    time_limit: float = 60.0,
    latexmk: str = "latexmk",
    work_root: Path | None = None,
) -> bytes:
    """Compile a LaTeX document to PDF with latexmk and pdflatex.

    Args:
        source: The complete LaTeX document.
        time_limit: Seconds before latexmk and everything it started are killed.
        latexmk: The latexmk program (a name on PATH or a path).
        work_root: Where to create the private working directory (default: the system's
            temporary folder). It is removed afterwards, whatever happens.

    Returns:
        The PDF's bytes.

    Raises:
        LatexNotInstalled: latexmk cannot be found.
        LatexTimeout: The compilation took longer than ``time_limit``.
        LatexError: LaTeX reported an error; ``log_excerpt`` has the log lines.
    """
    program = shutil.which(latexmk)
    if program is None:
        raise LatexNotInstalled(
            f"{latexmk!r} not found on PATH; install it "
            "(Debian: apt-get install latexmk texlive-latex-base texlive-latex-recommended lmodern)"
        )
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=work_root))
    try:
        await asyncio.to_thread(_write_owner, workdir)
        tex_file = workdir / f"{_JOB_NAME}.tex"
        await asyncio.to_thread(tex_file.write_text, source, encoding="utf-8")
        output = await _run_latexmk(program, workdir, time_limit)
        pdf_file = workdir / f"{_JOB_NAME}.pdf"
        if not pdf_file.is_file():
            log = await _read_log(workdir)
            raise LatexError("LaTeX produced no PDF", latex_log_excerpt(log) or _tail(output))
        return await asyncio.to_thread(pdf_file.read_bytes)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _run_latexmk(program: str, workdir: Path, time_limit: float) -> str:
    """Run latexmk in ``workdir``; return its output, or raise when it fails."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "TEXMFOUTPUT": str(workdir),
        "openin_any": "p",
        "openout_any": "p",
        "shell_escape": "f",
        WORKDIR_MARKER: str(workdir),
    }
    # Its own process group, so a timeout can kill pdflatex along with latexmk.
    process = await start_group(
        program,
        "-norc",
        "-pdf",
        "-no-shell-escape",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        f"{_JOB_NAME}.tex",
        cwd=workdir,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), time_limit)
    except TimeoutError:
        await kill_group(process)
        raise LatexTimeout(
            f"latexmk took longer than {time_limit:g} s and was killed",
            latex_log_excerpt(await _read_log(workdir)),
        ) from None
    except BaseException:
        # Cancelled (the job was cancelled, or the worker is shutting down): leave nothing.
        await kill_group(process)
        raise
    output = stdout.decode("utf-8", errors="replace")
    if process.returncode != 0:
        log = await _read_log(workdir)
        raise LatexError(
            f"latexmk failed (exit status {process.returncode})",
            latex_log_excerpt(log) or _tail(output),
        )
    return output


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (Linux), so it can reap them.

    Returns:
        Whether it worked (``False`` on other systems).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        status: int = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return status == 0


def _process_start_time(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (field 22 of /proc/PID/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _write_owner(workdir: Path) -> None:
    owner = {"pid": os.getpid(), "start": _process_start_time(os.getpid())}
    (workdir / _OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")


def _owner_alive(workdir: Path) -> bool:
    try:
        owner = json.loads((workdir / _OWNER_FILE).read_text(encoding="utf-8"))
        pid, start = int(owner["pid"]), owner["start"]
    except FileNotFoundError:
        # Not written yet (a live worker just made the folder), or a crash in between.
        try:
            return time.time() - workdir.stat().st_mtime < _UNOWNED_AGE
        except FileNotFoundError:
            return True  # removed meanwhile: nothing to do
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if start is None:  # no /proc when the folder was made: the pid is all there is
        return _pid_exists(pid)
    return _process_start_time(pid) == str(start)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _marked_processes(workdir: Path) -> list[int]:
    """Processes whose environment names ``workdir`` (a compilation running in it)."""
    marker = f"{WORKDIR_MARKER}={workdir}".encode()
    found: list[int] = []
    if not Path("/proc").is_dir():
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, a zombie, or not ours
        if marker in environment.split(b"\0"):
            found.append(int(entry.name))
    return found


def sweep_leftovers(work_root: Path | None = None) -> list[Path]:
    """Remove the compilation folders of dead workers, killing what still runs in them.

    A folder whose owner (``owner.json``) is alive is left alone, so workers sharing a
    temporary folder never touch each other's compilations.

    Args:
        work_root: Where the folders are (default: the system's temporary folder).

    Returns:
        The folders removed.
    """
    root = Path(work_root or tempfile.gettempdir())
    removed = []
    for workdir in sorted(root.glob(f"{WORKDIR_PREFIX}*")):
        if not workdir.is_dir() or _owner_alive(workdir):
            continue
        for pid in _marked_processes(workdir):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(workdir)
    return removed


async def _read_log(workdir: Path) -> str:
    log_file = workdir / f"{_JOB_NAME}.log"
    try:
        data = await asyncio.to_thread(log_file.read_bytes)
    except FileNotFoundError:
        return ""
    return data.decode("utf-8", errors="replace")


def _tail(output: str, lines: int = _EXCERPT_LINES) -> str:
    return "\n".join(output.strip().splitlines()[-lines:])[:_EXCERPT_CHARS]
