"""Compiling the rendered LaTeX with latexmk: what the PDF says, errors, time limits.

These run the real latexmk and pdftotext (skipped without them locally, failing under
``CI=true``); they need no database.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from typing import TYPE_CHECKING

import pytest

from glossator.export.compile import (
    WORKDIR_MARKER,
    WORKDIR_PREFIX,
    LatexError,
    LatexNotInstalled,
    LatexTimeout,
    _write_owner,
    compile_latex,
    sweep_leftovers,
)
from glossator.export.latex import (
    SUPPORTED_CHARACTERS,
    ExportDocument,
    ExportHighlight,
    render_latex,
)
from tests._leaks import compilation_processes
from tests._timing import scaled
from tests.integration.export_fixtures import REPO_ROOT, pdf_text
from tests.integration.export_renderers import SLOW, render

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.usefixtures("latex_tools")

HOSTILE_COMMENT = (
    r"\input{/etc/passwd} then \write18{rm -rf /} -- 100% of $x_1^2$ & {braces} #hash "
    r"~tilde ^caret `grave' ''double'' <angle> |bar| \\ \end{document}"
)


class TestCompiledText:
    async def test_passages_and_hostile_comment_print_verbatim(self) -> None:
        """pdftotext shows the text and a comment full of LaTeX specials exactly as typed."""
        text = "The quick brown fox jumps over the lazy dog."
        document = ExportDocument(
            "Specials: 50% & $5 {ok}",
            text,
            [ExportHighlight(1, 4, 19, "claim", HOSTILE_COMMENT, "Stu Dent")],
        )
        extracted = await pdf_text(await compile_latex(render_latex(document)))
        assert "Specials: 50% & $5 {ok}" in extracted
        assert "quick brown fox" in extracted
        assert f"claim (Stu Dent): {HOSTILE_COMMENT}" in extracted

    async def test_injected_input_does_not_read_the_file(self) -> None:
        """A comment naming /etc/passwd prints the name, never the file's content."""
        document = ExportDocument("t", r"\input{/etc/passwd}", [])
        extracted = await pdf_text(await compile_latex(render_latex(document)))
        assert r"\input{/etc/passwd}" in extracted
        assert "root:" not in extracted

    async def test_every_supported_character_compiles(self) -> None:
        """Each character of SUPPORTED_CHARACTERS compiles; unsupported ones show markers."""
        text = " ".join(sorted(SUPPORTED_CHARACTERS - {" "})) + " Ω 🎉 中"
        pdf = await compile_latex(render_latex(ExportDocument("Unicode", text)))
        extracted = await pdf_text(pdf)
        assert "[U+03A9] [U+1F389] [U+4E2D]" in extracted
        assert "naïve" in await pdf_text(
            await compile_latex(render_latex(ExportDocument("t", "naïve café Zoë")))
        )


class TestCompileFailures:
    async def test_latex_error_reports_log_lines(self) -> None:
        """An undefined command fails with the log line that names it."""
        source = render(ExportDocument("[broken] doc", "text"))
        with pytest.raises(LatexError) as raised:
            await compile_latex(source)
        assert "Undefined control sequence" in raised.value.log_excerpt
        assert "glossatorTestUndefinedCommand" in str(raised.value)

    async def test_time_limit_kills_the_process_group(self, tmp_path: Path) -> None:
        """Past the time limit latexmk and pdflatex are killed and the folder is removed."""
        source = render(ExportDocument(f"{SLOW} doc", "text"))
        async with asyncio.timeout(20):
            with pytest.raises(LatexTimeout):
                await compile_latex(source, time_limit=0.5, work_root=tmp_path)
        assert _entries(tmp_path) == []
        assert _processes_in(tmp_path) == []

    async def test_cancelling_kills_the_compilation(self, tmp_path: Path) -> None:
        """Cancelling the coroutine (job cancelled, shutdown) kills latexmk too."""
        source = render(ExportDocument(f"{SLOW} doc", "text"))
        task = asyncio.create_task(compile_latex(source, work_root=tmp_path))
        await _until(lambda: bool(_processes_in(tmp_path)))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _processes_in(tmp_path) == []
        assert _entries(tmp_path) == []

    async def test_missing_latexmk_is_a_clear_error(self) -> None:
        """Without latexmk the error names the packages to install."""
        with pytest.raises(LatexNotInstalled, match="apt-get install latexmk"):
            await compile_latex("x", latexmk="latexmk-that-does-not-exist")


# Runs in its own process, which becomes a subreaper as ``glossator worker`` does: it
# cancels a compilation while pdflatex runs and prints the pids it saw and those that
# still exist afterwards (a zombie still has its /proc entry).
_REAP_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from glossator.export.compile import become_subreaper, compile_latex
from glossator.export.latex import ExportDocument
from tests._leaks import compilation_processes
from tests.integration.export_renderers import SLOW, render

root = Path(sys.argv[1])
assert become_subreaper()

async def main():
    task = asyncio.create_task(
        compile_latex(render(ExportDocument(SLOW + " doc", "text")), work_root=root)
    )
    seen = {}
    async with asyncio.timeout(float(sys.argv[2])):
        while not any("pdflatex" in command for command in seen.values()):
            seen.update((p.pid, p.command) for p in compilation_processes(root))
            await asyncio.sleep(0.01)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    left = [pid for pid in seen if Path(f"/proc/{pid}").exists()]
    print(json.dumps({"seen": seen, "left": left}))

asyncio.run(main())
"""


class TestLeftovers:
    async def test_cancel_kills_and_reaps_the_whole_group(self, tmp_path: Path) -> None:
        """latexmk and pdflatex are killed and reaped: no process, not even a zombie, stays."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _REAP_SCRIPT, str(tmp_path), str(scaled(30)),
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode(errors="replace")
        report = json.loads(stdout)
        commands = " ".join(report["seen"].values())
        assert "latexmk" in commands
        assert "pdflatex" in commands
        assert report["left"] == []
        assert _entries(tmp_path) == []

    async def test_sweep_removes_what_dead_workers_left(self, tmp_path: Path) -> None:
        """Folders of dead owners go, with the compilation still running in them; others stay."""
        dead = tmp_path / f"{WORKDIR_PREFIX}dead"
        dead.mkdir()
        owner = await asyncio.create_subprocess_exec(
            sys.executable, "-c",
            "import sys; from pathlib import Path; "
            "from glossator.export.compile import _write_owner; _write_owner(Path(sys.argv[1]))",
            str(dead),
            cwd=REPO_ROOT,
        )  # fmt: skip
        assert await owner.wait() == 0
        orphan = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import time; time.sleep(120)",
            env={**os.environ, WORKDIR_MARKER: str(dead)},
            start_new_session=True,
        )  # fmt: skip
        alive = tmp_path / f"{WORKDIR_PREFIX}alive"
        fresh = tmp_path / f"{WORKDIR_PREFIX}fresh"
        try:
            await _until(lambda: bool(compilation_processes(tmp_path)))
            alive.mkdir()
            _write_owner(alive)  # this process: alive
            fresh.mkdir()  # no owner yet: a worker just made it
            stale = tmp_path / f"{WORKDIR_PREFIX}stale"
            stale.mkdir()
            os.utime(stale, (time.time() - 3600, time.time() - 3600))  # no owner for an hour

            assert sweep_leftovers(tmp_path) == [dead, stale]

            assert await asyncio.wait_for(orphan.wait(), scaled(10)) == -signal.SIGKILL
            assert _entries(tmp_path) == sorted(path.name for path in (alive, fresh))
        finally:
            # What the sweep rightly kept is this test's to remove (the run's leak check
            # fails on any glossator-* folder left behind), and the orphan its to stop.
            if orphan.returncode is None:
                orphan.kill()
                await orphan.wait()
            for kept in (alive, fresh):
                shutil.rmtree(kept, ignore_errors=True)


def _processes_in(folder: Path) -> list[int]:
    """Pids of processes whose working directory is inside ``folder``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd.startswith(str(folder)):
                found.append(int(entry))
    return found


def _entries(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)
