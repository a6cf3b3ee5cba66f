"""``nox -s regen-fixtures`` for real: LibreOffice regenerates a small fixture layout.

No database here: this module replaces the folder's autouse sandbox fixture with a no-op.
Each test builds, in a temporary folder, the layout the regeneration expects (never the
repository's own ``fixtures/``) with one small source per kind: an RTF file, a
``make_*.py`` script whose RTF output is converted in turn, a conversation export.

The tests need LibreOffice: they skip without ``soffice``, and under ``CI=true``
they fail instead (CI installs LibreOffice; see docs/importers.md).
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from glossator.importers import html_to_plain_text, normalize_html, parse_export
from glossator.importers._manifest import MANIFEST, check_fixtures, load_manifest
from glossator.importers._regen import _gzip, main
from glossator.importers.conversations import render_export_html
from glossator.importers.rtf import INSTALL_HINT
from tests._tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
TINY_RTF = (
    rb"{\rtf1\ansi\deff0{\fonttbl{\f0\froman Times New Roman;}}"
    rb"\f0\fs24 Hello {\b bold} world.\par Second paragraph.\par}"
)
SCRIPT_RTF = rb"{\rtf1\ansi\deff0{\fonttbl{\f0\fmodern Courier New;}}\f0 Made by a script.\par}"
CONVERSATION = ROOT / "fixtures" / "sources" / "conversations" / "openai_messages_single.json"

TINY_HTML = "fixtures/generated/rtf/tiny.html"
SCRIPT_RTF_GZ = "fixtures/generated/rtf/made.rtf.gz"
SCRIPT_HTML_GZ = "fixtures/generated/rtf/made.html.gz"
CHAT_HTML_GZ = "fixtures/generated/conversations/chat.html.gz"


@pytest.fixture(autouse=True)
def _glossator_uses_sandbox() -> None:
    """Override the folder's database fixture: regeneration uses no database."""


@pytest.fixture
def soffice() -> str:
    """LibreOffice's soffice, or a skip (a failure under CI=true)."""
    return require_tool("soffice", install_hint=INSTALL_HINT)


def _layout(root: Path, *, with_script: bool) -> None:
    """Sources of a fixture layout under ``root``; nothing generated yet."""
    sources = root / "fixtures" / "sources"
    (sources / "rtf").mkdir(parents=True)
    (sources / "conversations").mkdir()
    (sources / "rtf" / "tiny.rtf").write_bytes(TINY_RTF)
    shutil.copy(CONVERSATION, sources / "conversations" / "chat.json")
    if with_script:
        script = f"import sys\n\nsys.stdout.buffer.write({SCRIPT_RTF!r})\n"
        (sources / "make_made.py").write_text(script)


def _html_text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")


# Regeneration finds soffice on PATH itself, as `nox -s regen-fixtures` does.
@pytest.mark.usefixtures("soffice")
class TestRegenerate:
    def test_first_run_makes_every_output_and_a_manifest_the_check_accepts(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """All outputs are made, an orphan is removed, a malformed manifest is rewritten."""
        _layout(tmp_path, with_script=True)
        orphan = tmp_path / "fixtures" / "generated" / "rtf" / "forgotten.html"
        orphan.parent.mkdir(parents=True)
        orphan.write_text("<p>no source makes me</p>")
        (tmp_path / MANIFEST).write_text("<<<<<<< HEAD\n")  # a merge gone wrong
        assert f"{MANIFEST} is malformed" in check_fixtures(tmp_path)[0]

        assert main(["--root", str(tmp_path)]) == 0

        out = capsys.readouterr().out
        assert "regen-fixtures: 4 outputs with LibreOffice" in out
        assert out.count("written  ") == 4
        assert "removed fixtures/generated/rtf/forgotten.html (no source makes it)" in out
        assert "4 manifest entries changed" in out
        assert not orphan.exists()
        assert check_fixtures(tmp_path) == []

        # RTF through LibreOffice, without the metadata that changes from run to run.
        tiny = _html_text(tmp_path / TINY_HTML)
        assert 'name="generator"' not in tiny
        assert 'name="created"' not in tiny
        plain = normalize_html(tiny).plain_text
        assert "Hello bold world." in plain
        assert "Second paragraph." in plain
        # The script's stdout, gzipped with no timestamp, then converted in turn.
        made_rtf = (tmp_path / SCRIPT_RTF_GZ).read_bytes()
        assert made_rtf[4:8] == b"\0\0\0\0"
        assert gzip.decompress(made_rtf) == SCRIPT_RTF
        assert "Made by a script." in html_to_plain_text(_html_text(tmp_path / SCRIPT_HTML_GZ))
        # The conversation: exactly what the in-process renderer gives, gzipped.
        rendered = render_export_html(parse_export(CONVERSATION.read_bytes()))
        assert (tmp_path / CHAT_HTML_GZ).read_bytes() == _gzip(rendered.encode("utf-8"))

        entries = load_manifest(tmp_path)
        assert set(entries) == {TINY_HTML, SCRIPT_RTF_GZ, SCRIPT_HTML_GZ, CHAT_HTML_GZ}
        assert entries[SCRIPT_HTML_GZ].source == SCRIPT_RTF_GZ
        assert entries[TINY_HTML].tools["libreoffice"].startswith("LibreOffice ")
        assert set(entries[SCRIPT_RTF_GZ].tools) == {"python", "zlib"}
        assert set(entries[CHAT_HTML_GZ].tools) == {"markdown-it-py", "nh3", "zlib"}

    def test_a_second_run_is_byte_identical_and_writes_nothing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Same sources, same bytes: outputs and manifest are left untouched, 0 entries change."""
        _layout(tmp_path, with_script=False)
        assert main(["--root", str(tmp_path)]) == 0
        capsys.readouterr()
        files = [tmp_path / MANIFEST, tmp_path / TINY_HTML, tmp_path / CHAT_HTML_GZ]
        before = {path: path.read_bytes() for path in files}
        for path in files:  # an old timestamp: a rewrite of the same bytes would change it
            os.utime(path, ns=(1_000_000_000, 1_000_000_000))

        assert main(["--root", str(tmp_path)]) == 0

        out = capsys.readouterr().out
        assert out.count("unchanged") == 2
        assert "written  " not in out
        assert "0 manifest entries changed" in out
        for path in files:
            assert path.read_bytes() == before[path], path
            assert path.stat().st_mtime_ns == 1_000_000_000, path
        assert main(["--check", "--root", str(tmp_path)]) == 0

    def test_a_failing_generator_script_stops_regeneration(self, tmp_path: Path) -> None:
        """A ``make_*.py`` that exits non-zero is named with its status; no manifest is written."""
        (tmp_path / "fixtures" / "sources").mkdir(parents=True)
        script = "import sys\n\nsys.stdout.write('partial')\nsys.exit(3)\n"
        (tmp_path / "fixtures" / "sources" / "make_broken.py").write_text(script)
        with pytest.raises(RuntimeError, match=r"make_broken\.py failed with status 3"):
            main(["--root", str(tmp_path)])
        assert not (tmp_path / MANIFEST).exists()
        assert not (tmp_path / "fixtures" / "generated" / "rtf" / "broken.rtf.gz").exists()
