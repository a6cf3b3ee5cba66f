"""Compile LaTeX to PDF with latexmk, safely, without blocking the event loop.

:func:`compile_latex` runs ``latexmk -pdf`` (pdflatex) in a private temporary directory:

* ``-no-shell-escape`` and ``shell_escape=f``: ``\\write18`` can never run a program;
* ``openin_any=p`` / ``openout_any=p`` (kpathsea's *paranoid* mode): TeX may read and
  write only below the working directory and its own trees, not ``/etc/passwd``;
* ``-norc``: no ``latexmkrc`` of the machine or the user can change the command line;
* ``-interaction=nonstopmode -halt-on-error``: an error ends the run instead of waiting
  for a user at the terminal;
* a timeout after which the whole process group (latexmk and the pdflatex it started)
  is killed; cancelling the coroutine kills it too.

A failed compilation raises :class:`LatexError` with the relevant lines of the LaTeX log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Final

__all__ = [
    "LatexError",
    "LatexNotInstalled",
    "LatexTimeout",
    "compile_latex",
    "latex_log_excerpt",
]

#: Most log lines quoted in an error, and most characters.
_EXCERPT_LINES: Final = 12
_EXCERPT_CHARS: Final = 2000
# "! LaTeX Error: ..." (TeX's own style) or "./doc.tex:12: Undefined ..." (-file-line-error).
_ERROR_LINE: Final = re.compile(r"^(!|\S+:\d+: )")
_JOB_NAME: Final = "export"


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
    workdir = Path(tempfile.mkdtemp(prefix="glossator-export-", dir=work_root))
    try:
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
    }
    process = await asyncio.create_subprocess_exec(
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
        # Its own process group, so a timeout can kill pdflatex along with latexmk.
        start_new_session=True,
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), time_limit)
    except TimeoutError:
        await _kill_group(process)
        raise LatexTimeout(
            f"latexmk took longer than {time_limit:g} s and was killed",
            latex_log_excerpt(await _read_log(workdir)),
        ) from None
    except BaseException:
        # Cancelled (the job was cancelled, or the worker is shutting down): leave nothing.
        await _kill_group(process)
        raise
    output = stdout.decode("utf-8", errors="replace")
    if process.returncode != 0:
        log = await _read_log(workdir)
        raise LatexError(
            f"latexmk failed (exit status {process.returncode})",
            latex_log_excerpt(log) or _tail(output),
        )
    return output


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await process.wait()


async def _read_log(workdir: Path) -> str:
    log_file = workdir / f"{_JOB_NAME}.log"
    try:
        data = await asyncio.to_thread(log_file.read_bytes)
    except FileNotFoundError:
        return ""
    return data.decode("utf-8", errors="replace")


def _tail(output: str, lines: int = _EXCERPT_LINES) -> str:
    return "\n".join(output.strip().splitlines()[-lines:])[:_EXCERPT_CHARS]
