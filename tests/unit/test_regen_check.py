"""``nox -s regen-fixtures``: the check's remaining failure modes, and what the manifest records.

Complements ``test_importers_fixtures.py``. No LibreOffice and no subprocess: the check
only hashes files, and the manifest's commands and tool names are compared with what a
regeneration would write (``tests/integration/test_regen_fixtures.py`` runs one). Every
test that breaks something works on a copy of the fixtures in a temporary folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from glossator.importers._manifest import (
    MANIFEST,
    check_fixtures,
    load_manifest,
    manifest_text,
    plan_jobs,
    report_problems,
)
from glossator.importers._regen import _command, _Toolbox, main

ROOT = Path(__file__).resolve().parents[2]
LONG_RTF = "fixtures/generated/rtf/long_judgment.rtf.gz"
LONG_HTML = "fixtures/generated/rtf/long_judgment.html.gz"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's fixtures folder, as if tmp_path were the repository."""
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures")
    return tmp_path


def _check_fails(repo: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``--check``; expect status 1 and the regeneration hint; return what it printed."""
    assert main(["--check", "--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "To fix: run `nox -s regen-fixtures`" in out
    return out


class TestMalformedManifest:
    @pytest.mark.parametrize(
        "content",
        [
            b"{ this is not JSON",
            b"\xff\xfe not UTF-8",
            b"[]",
            b"{}",
            b'{"outputs": []}',
            b'{"outputs": {"fixtures/generated/rtf/cjk.html": "oops"}}',
            b'{"outputs": {"fixtures/generated/rtf/cjk.html": {"source": "x"}}}',
            b'{"outputs": {"fixtures/generated/rtf/cjk.html": {"source": "x", "extra": 1}}}',
        ],
        ids=[
            "not-json",
            "not-utf8",
            "a-list",
            "no-outputs",
            "outputs-not-a-mapping",
            "entry-not-a-mapping",
            "entry-missing-fields",
            "entry-unknown-field",
        ],
    )
    def test_check_names_the_manifest_instead_of_crashing(
        self, repo: Path, content: bytes, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A manifest regen-fixtures did not write (bad merge, hand edit) is one clear problem."""
        (repo / MANIFEST).write_bytes(content)
        out = _check_fails(repo, capsys)
        assert "fixtures are stale (1 problem(s))" in out
        assert f"{MANIFEST} is malformed" in out
        assert "Traceback" not in out

    def test_load_manifest_raises_value_error_naming_the_file(self, repo: Path) -> None:
        """Callers get a ValueError whose message names the manifest and the fix."""
        (repo / MANIFEST).write_text('{"outputs": 3}')
        with pytest.raises(ValueError, match=r"fixtures/manifest\.json is malformed .*regen-fix"):
            load_manifest(repo)

    def test_no_manifest_loads_as_empty(self, tmp_path: Path) -> None:
        """Before the first regeneration there is no manifest, and no entry."""
        assert load_manifest(tmp_path) == {}


class TestStaleEntries:
    def test_manifest_naming_another_source(
        self, repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An entry whose recorded source is not the one the rules give is reported."""
        manifest = json.loads((repo / MANIFEST).read_text())
        manifest["outputs"]["fixtures/generated/rtf/cjk.html"]["source"] = (
            "fixtures/sources/rtf/rtl.rtf"
        )
        (repo / MANIFEST).write_text(json.dumps(manifest))
        out = _check_fails(repo, capsys)
        assert (
            "fixtures/generated/rtf/cjk.html: the manifest says it is made from "
            "fixtures/sources/rtf/rtl.rtf"
        ) in out

    def test_missing_intermediate_file_is_named_as_source_and_output(
        self, repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The script's RTF is the output of one step and the source of the next."""
        (repo / LONG_RTF).unlink()
        out = _check_fails(repo, capsys)
        assert f"{LONG_RTF}: missing output (source fixtures/sources/make_long_judgment.py)" in out
        assert f"{LONG_RTF}: missing source of {LONG_HTML}" in out
        assert "fixtures are stale (2 problem(s))" in out

    def test_every_problem_is_listed_once(self) -> None:
        """The report counts its problems and lists each on its own line."""
        report = report_problems(["a: one", "b: two", "c: three"])
        lines = report.splitlines()
        assert lines[0] == "fixtures are stale (3 problem(s)):"
        assert lines[1:4] == ["  - a: one", "  - b: two", "  - c: three"]
        assert lines[4].startswith("To fix: run `nox -s regen-fixtures`")

    def test_a_fresh_copy_passes(self, repo: Path) -> None:
        """The copy itself is current, so every failure above comes from the breakage."""
        assert check_fixtures(repo) == []


class TestWhatTheManifestRecords:
    def test_committed_manifest_is_what_regeneration_writes(self) -> None:
        """Re-serialising the committed manifest gives its exact bytes (sorted, final newline)."""
        text = (ROOT / MANIFEST).read_text(encoding="utf-8")
        assert manifest_text(load_manifest(ROOT)) == text
        assert text.endswith("}\n")

    def test_commands_match_the_regeneration_rules(self) -> None:
        """Each output's recorded command is the one regeneration records for its job."""
        entries = load_manifest(ROOT)
        jobs = plan_jobs(ROOT)
        assert {job.output for job in jobs} == set(entries)
        for job in jobs:
            assert entries[job.output].command == _command(job), job.output

    def test_commands_say_how_each_kind_is_made(self) -> None:
        """Scripts are gzipped, gzipped RTF is gunzipped first, RTF goes through soffice."""
        commands = {job.output.rsplit("/", 1)[1]: _command(job) for job in plan_jobs(ROOT)}
        assert commands["long_judgment.rtf.gz"] == (
            "python fixtures/sources/make_long_judgment.py | gzip (mtime 0)"
        )
        assert commands["long_judgment.html.gz"].startswith("gunzip, soffice --headless")
        assert commands["long_judgment.html.gz"].endswith("volatile meta stripped, gzip (mtime 0)")
        assert commands["cjk.html"].startswith("soffice --headless")
        assert commands["cjk.html"].endswith("volatile meta stripped")
        assert commands["claude_unicode.html.gz"].startswith(
            "glossator.importers.conversations.render_export_html"
        )

    def test_tool_names_match_the_regeneration_rules(self) -> None:
        """The tools recorded per output are those regeneration looks up for its kind."""
        toolbox = _Toolbox("LibreOffice 0.0 (test)")
        entries = load_manifest(ROOT)
        for job in plan_jobs(ROOT):
            tools = toolbox.for_job(job)
            assert set(tools) == set(entries[job.output].tools), job.output
            if job.kind == "rtf":
                assert tools["libreoffice"] == "LibreOffice 0.0 (test)"
            elif job.kind == "script":
                assert tools["python"] == toolbox.python
                assert toolbox.python.count(".") == 1
            else:
                assert tools["nh3"]
                assert tools["markdown-it-py"]
            assert ("zlib" in tools) == job.output.endswith(".gz")
