"""Compiling the rendered LaTeX with latexmk: what the PDF says, errors, time limits.

These run the real latexmk and pdftotext (skipped without them locally, failing under
``CI=true``); they need no database.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import pytest

from glossator.export.compile import LatexError, LatexNotInstalled, LatexTimeout, compile_latex
from glossator.export.latex import (
    SUPPORTED_CHARACTERS,
    ExportDocument,
    ExportHighlight,
    render_latex,
)
from tests.integration.export_fixtures import pdf_text
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
