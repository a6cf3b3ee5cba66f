"""RTF conversion with real processes: LibreOffice itself, and stand-ins that misbehave.

No database here: this module replaces the folder's autouse sandbox fixture with a no-op,
so it requests none of pgsandbox's fixtures.

Tests that need LibreOffice skip when ``soffice`` is missing; under ``CI=true``
they fail instead (CI installs LibreOffice; see docs/importers.md). The
stand-in tests (timeouts, crashes, cancellation) need only ``/bin/sh``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from glossator.importers import (
    ConversionTimedOut,
    ImportFailed,
    RtfOptions,
    TruncatedRtf,
    convert_rtf_to_html,
    import_rtf,
)
from glossator.importers.rtf import INSTALL_HINT
from tests._timing import scaled
from tests._tools import require_tool

if TYPE_CHECKING:
    from collections.abc import Callable

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RTF_SOURCES = FIXTURES / "sources" / "rtf"


@pytest.fixture(autouse=True)
def _glossator_uses_sandbox() -> None:
    """Override the folder's database fixture: these tests use no database."""


@pytest.fixture
def soffice() -> str:
    """LibreOffice's soffice, or a skip (a failure under CI=true)."""
    return require_tool("soffice", install_hint=INSTALL_HINT)


def _identity(pid: str) -> str:
    """Shell words that print a process's pid and start time (``/proc/<pid>/stat`` field 22).

    Pids are reused (32768 of them here, and a loaded test run starts thousands of
    processes): a pid alone can name another process by the time it is checked.
    """
    return f'echo "{pid} $(cut -d" " -f22 /proc/{pid}/stat)"'


def _fake_soffice(tmp_path: Path, body: str) -> str:
    """A shell script standing in for soffice; it records its own and its child's identity."""
    script = tmp_path / "fake-soffice"
    # Each file appears whole (written aside, then renamed): a test that waits for the
    # file to exist never reads it half written.
    script.write_text(
        f"#!/bin/sh\n{_identity('$$')} > '{tmp_path}/parent.tmp' && "
        f"mv '{tmp_path}/parent.tmp' '{tmp_path}/parent.pid'\n{body}\n"
    )
    script.chmod(0o755)
    return str(script)


#: A fake's body: start a child that outlives it, record the child's identity, wait.
_RECORD_CHILD = (
    f"sleep 60 &\n{_identity('$!')} > '{{tmp}}/child.tmp' && "
    "mv '{tmp}/child.tmp' '{tmp}/child.pid'\nwait"
)


@dataclass(frozen=True)
class _Process:
    """A process as its pid and start time: the pair a reused pid does not match."""

    pid: int
    start: str

    @classmethod
    def read(cls, path: Path) -> _Process:
        pid, start = path.read_text().split()
        return cls(int(pid), start)

    def alive(self) -> bool:
        """Whether it runs (a zombie waiting for its reaper counts as dead, and so does
        another process that got its pid)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return False
        return fields[0] != "Z" and fields[19] == self.start

    def ended(self) -> bool:
        """A condition for :func:`_wait_for`."""
        return not self.alive()


async def _wait_for(condition: Callable[[], bool], what: str, *, within: float = 10.0) -> None:
    """Poll ``condition()`` until true; fail after ``within`` seconds (scaled)."""
    within = scaled(within)
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


def _read_processes(tmp_path: Path) -> list[_Process]:
    return [_Process.read(tmp_path / name) for name in ("parent.pid", "child.pid")]


class TestWithLibreOffice:
    async def test_converts_a_real_rtf(self, soffice: str) -> None:
        """A table RTF becomes sanitised HTML with its cells, and plain text."""
        document = await import_rtf(
            (RTF_SOURCES / "tables.rtf").read_bytes(), RtfOptions(soffice=soffice)
        )
        assert "<table>" in document.html
        assert '<td colspan="2">' in document.html
        assert "Agnes Miller\n3 March 1871\nSaw the cart leave at dawn." in document.plain_text
        assert "<style" not in document.html

    async def test_output_has_no_volatile_metadata(self, soffice: str) -> None:
        """The raw HTML has no generator/created/changed meta, so it is reproducible."""
        html = await convert_rtf_to_html(
            (RTF_SOURCES / "headings.rtf").read_bytes(), RtfOptions(soffice=soffice)
        )
        assert "<title>Reading Primary Sources</title>" in html
        for name in ("generator", "created", "changed"):
            assert f'<meta name="{name}"' not in html

    async def test_ten_concurrent_conversions_all_succeed(self, soffice: str) -> None:
        """Ten conversions at once (private profiles) each return their own document."""
        sources = sorted(RTF_SOURCES.glob("*.rtf"))
        assert len(sources) >= 8
        jobs = [sources[index % len(sources)] for index in range(10)]
        options = RtfOptions(soffice=soffice, timeout=180)
        documents = await asyncio.gather(*(import_rtf(p.read_bytes(), options) for p in jobs))
        expected = {
            "cjk.rtf": "学而时习之",
            "footnotes.rtf": "The seal survives only as a fragment",
            "headings.rtf": "Questions of Provenance",
            "hostile_content.rtf": "dangerous link",
            "nested_lists.rtf": "Check the seal description",
            "rtl.rtf": "בראשית",
            "special_characters.rtf": "Straße",
            "tables.rtf": "Agnes Miller",
        }
        for path, document in zip(jobs, documents, strict=True):
            assert expected[path.name] in document.plain_text, path.name

    async def test_truncated_rtf_never_reaches_libreoffice(self, soffice: str) -> None:
        """A half file is refused up front with a clear error, even with soffice present."""
        data = (RTF_SOURCES / "headings.rtf").read_bytes()
        with pytest.raises(TruncatedRtf):
            await convert_rtf_to_html(data[:300], RtfOptions(soffice=soffice))


class TestMisbehavingConverter:
    async def test_timeout_kills_the_whole_process_group(self, tmp_path: Path) -> None:
        """On timeout the converter and its child are killed, not just the parent."""
        fake = _fake_soffice(tmp_path, _RECORD_CHILD.format(tmp=tmp_path))
        # Long enough for the fake to start its child on a loaded machine, whose pid the
        # test then needs.
        limit = scaled(1.0)
        started = time.monotonic()
        with pytest.raises(ConversionTimedOut, match=re.escape(f"longer than {limit:g} s")):
            await convert_rtf_to_html(rb"{\rtf1 x}", RtfOptions(soffice=fake, timeout=limit))
        assert time.monotonic() - started < limit + scaled(10)
        for process in _read_processes(tmp_path):
            await _wait_for(process.ended, f"process {process.pid} to die")

    async def test_cancellation_kills_the_whole_process_group(self, tmp_path: Path) -> None:
        """Cancelling the task (a client went away) kills the converter's group too."""
        fake = _fake_soffice(tmp_path, _RECORD_CHILD.format(tmp=tmp_path))
        task = asyncio.create_task(
            convert_rtf_to_html(rb"{\rtf1 x}", RtfOptions(soffice=fake, timeout=60))
        )
        await _wait_for((tmp_path / "child.pid").is_file, "the fake to start")
        processes = _read_processes(tmp_path)
        assert all(process.alive() for process in processes)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for process in processes:
            await _wait_for(process.ended, f"process {process.pid} to die")

    async def test_cancellation_while_the_converter_starts_kills_its_group(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Cancelled after the fork but before the start returns (a window of a few event
        loop turns, in which the converter may already have started children), the whole
        group is still killed. asyncio alone kills only the process it started there: a
        flake run on a loaded machine found the fake's child alive 30 s after the cancel.
        """
        starts: list[str] = []
        real_start = asyncio.create_subprocess_exec

        async def recording_start(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
            starts.append("entered")  # the fork happens before the first await in there
            process = await real_start(*args, **kwargs)
            starts.append("returned")
            return process

        monkeypatch.setattr(asyncio, "create_subprocess_exec", recording_start)
        fake = _fake_soffice(tmp_path, _RECORD_CHILD.format(tmp=tmp_path))
        task = asyncio.create_task(
            convert_rtf_to_html(rb"{\rtf1 x}", RtfOptions(soffice=fake, timeout=60))
        )
        deadline = time.monotonic() + scaled(10)
        while not starts:  # one loop turn at a time: the start takes at least two more
            assert time.monotonic() < deadline, "the converter was never started"
            await asyncio.sleep(0)
        assert starts == ["entered"], "the start returned before the test could cancel it"
        # Hold the event loop (so the start cannot complete) until the fake has a child.
        child_file = tmp_path / "child.pid"
        while not child_file.is_file():
            assert time.monotonic() < deadline, "the fake never recorded its child"
            time.sleep(0.005)  # noqa: ASYNC251 - blocks the loop on purpose, see above
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for process in _read_processes(tmp_path):
            await _wait_for(process.ended, f"process {process.pid} to die")

    async def test_a_process_that_left_the_group_does_not_hold_the_import(
        self, tmp_path: Path
    ) -> None:
        """A converter whose child left its process group (so the group's kill misses it)
        and keeps its output open: the import still ends when the converter does, with
        the converter's message, instead of when that child does."""
        escaped = tmp_path / "escaped.pid"
        fake = _fake_soffice(
            tmp_path,
            f"setsid sh -c '{_identity('$$')} > {escaped}; exec sleep 60' &\n"
            f"while [ ! -s '{escaped}' ]; do sleep 0.01; done\n"
            "echo 'Error: gave up' >&2\nexit 3",
        )
        started = time.monotonic()
        try:
            with pytest.raises(ImportFailed, match=r"status 3 .*gave up"):
                await convert_rtf_to_html(rb"{\rtf1 x}", RtfOptions(soffice=fake, timeout=50))
            assert time.monotonic() - started < 30, "the import waited for the escaped child"
        finally:
            if escaped.is_file() and len(escaped.read_text().split()) == 2:
                process = _Process.read(escaped)
                if process.alive():  # not a process that got its pid since
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGKILL)
                await _wait_for(process.ended, f"process {process.pid} to die")

    async def test_crash_is_an_import_failure_with_its_message(self, tmp_path: Path) -> None:
        """A non-zero exit is an ImportFailed quoting what the converter said."""
        fake = _fake_soffice(tmp_path, "echo 'Error: source file could not be loaded' >&2\nexit 3")
        with pytest.raises(ImportFailed, match=r"status 3 .*could not be loaded"):
            await convert_rtf_to_html(rb"{\rtf1 x}", RtfOptions(soffice=fake))

    async def test_no_output_file_is_an_import_failure(self, tmp_path: Path) -> None:
        """LibreOffice sometimes exits 0 without writing anything; that is a failure too."""
        fake = _fake_soffice(tmp_path, "echo 'Error: no export filter' >&2\nexit 0")
        with pytest.raises(ImportFailed, match=r"could not convert .*no export filter"):
            await convert_rtf_to_html(rb"{\rtf1 x}", RtfOptions(soffice=fake))

    async def test_converter_runs_in_utc_with_a_fixed_locale(self, tmp_path: Path) -> None:
        """The converter sees TZ=UTC, LC_ALL=C.UTF-8 and a private HOME and profile."""
        fake = _fake_soffice(
            tmp_path,
            'out=$(echo "$@" | sed "s/.*--outdir \\([^ ]*\\) .*/\\1/")\n'
            'mkdir -p "$out"\n'
            'printf "<p>%s|%s|%s|%s</p>" "$TZ" "$LC_ALL" "$HOME" "$1" > "$out/document.html"',
        )
        html = await convert_rtf_to_html(rb"{\rtf1 x}", RtfOptions(soffice=fake))
        tz, locale, home, profile = html.removeprefix("<p>").removesuffix("</p>").split("|")
        assert (tz, locale) == ("UTC", "C.UTF-8")
        assert home != os.environ.get("HOME")
        assert profile == f"-env:UserInstallation=file://{home}/profile"
