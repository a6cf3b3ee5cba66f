"""The fixture pipeline's check (``nox -s regen-fixtures -- --check``), without LibreOffice.

Each test works on a copy of the repository's fixtures in a temporary folder, breaks it
one way, and expects the check to fail naming the file concerned.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from glossator.importers._manifest import MANIFEST, FixtureJob, check_fixtures, plan_jobs
from glossator.importers._regen import _gzip, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's fixtures folder, as if tmp_path were the repository."""
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures")
    return tmp_path


class TestCommittedFixtures:
    def test_committed_fixtures_are_current(self) -> None:
        """The repository's sources, outputs and manifest agree (what CI checks)."""
        assert check_fixtures(ROOT) == []

    def test_check_command_passes(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`--check` exits 0 and says how many fixtures it verified."""
        assert main(["--check", "--root", str(ROOT)]) == 0
        assert "fixtures match fixtures/manifest.json" in capsys.readouterr().out

    def test_manifest_records_hashes_command_and_tools(self) -> None:
        """Each entry has its source, both hashes, the command and the tool versions."""
        outputs = json.loads((ROOT / MANIFEST).read_text())["outputs"]
        assert len(outputs) >= 15
        for output, entry in outputs.items():
            assert (ROOT / output).is_file()
            assert set(entry) == {"source", "source_sha256", "output_sha256", "command", "tools"}
            assert len(entry["source_sha256"]) == len(entry["output_sha256"]) == 64
            assert entry["tools"], output
        rtf_entry = outputs["fixtures/generated/rtf/tables.html"]
        assert rtf_entry["tools"]["libreoffice"].startswith("LibreOffice ")
        assert "soffice --headless --convert-to" in rtf_entry["command"]

    def test_gzip_outputs_carry_no_timestamp(self) -> None:
        """Every .gz fixture has mtime 0 in its header, so regeneration is byte-identical."""
        gz_files = sorted((ROOT / "fixtures" / "generated").rglob("*.gz"))
        assert gz_files
        for path in gz_files:
            assert path.read_bytes()[4:8] == b"\0\0\0\0", path
        assert _gzip(b"same") == _gzip(b"same")
        assert gzip.decompress(_gzip(b"same")) == b"same"

    def test_fixtures_stay_small(self) -> None:
        """The committed fixtures take well under 5 MB."""
        total = sum(p.stat().st_size for p in (ROOT / "fixtures").rglob("*") if p.is_file())
        assert total < 5_000_000


class TestPlan:
    def test_rules_map_sources_to_outputs(self) -> None:
        """RTF to .html, scripts to .rtf.gz then .html.gz, conversations to .html.gz."""
        jobs = plan_jobs(ROOT)
        assert (
            FixtureJob("rtf", "fixtures/sources/rtf/cjk.rtf", "fixtures/generated/rtf/cjk.html")
            in jobs
        )
        script = FixtureJob(
            "script",
            "fixtures/sources/make_long_judgment.py",
            "fixtures/generated/rtf/long_judgment.rtf.gz",
        )
        converted = FixtureJob(
            "rtf",
            "fixtures/generated/rtf/long_judgment.rtf.gz",
            "fixtures/generated/rtf/long_judgment.html.gz",
        )
        assert jobs.index(script) < jobs.index(converted)
        assert (
            FixtureJob(
                "conversation",
                "fixtures/sources/conversations/claude_unicode.json",
                "fixtures/generated/conversations/claude_unicode.html.gz",
            )
            in jobs
        )


class TestStaleFixtures:
    def _problems(self, repo: Path, capsys: pytest.CaptureFixture[str]) -> str:
        assert main(["--check", "--root", str(repo)]) == 1
        out = capsys.readouterr().out
        assert "nox -s regen-fixtures" in out
        return out

    def test_changed_source_is_named(self, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Editing a source without regenerating fails, naming the source."""
        source = repo / "fixtures/sources/rtf/headings.rtf"
        source.write_bytes(source.read_bytes() + b"\n")
        out = self._problems(repo, capsys)
        assert "fixtures/sources/rtf/headings.rtf: source changed" in out

    def test_hand_edited_output_is_named(
        self, repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Editing a generated file by hand fails, naming the output."""
        output = repo / "fixtures/generated/rtf/tables.html"
        output.write_text(output.read_text().replace("Agnes", "Agatha"))
        out = self._problems(repo, capsys)
        assert "fixtures/generated/rtf/tables.html: output differs" in out

    def test_missing_output_is_named(self, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A deleted output fails, naming it."""
        (repo / "fixtures/generated/conversations/claude_unicode.html.gz").unlink()
        out = self._problems(repo, capsys)
        assert "fixtures/generated/conversations/claude_unicode.html.gz: missing output" in out

    def test_orphan_output_is_named(self, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A generated file no source makes fails, naming it."""
        (repo / "fixtures/generated/rtf/forgotten.html").write_text("<p>old</p>")
        out = self._problems(repo, capsys)
        assert "fixtures/generated/rtf/forgotten.html: orphan output" in out

    def test_new_source_is_named(self, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A source added without regenerating fails, naming its missing output."""
        shutil.copy(
            repo / "fixtures/sources/rtf/cjk.rtf", repo / "fixtures/sources/rtf/cjk_copy.rtf"
        )
        out = self._problems(repo, capsys)
        assert "fixtures/generated/rtf/cjk_copy.html: not in the manifest" in out
        assert "fixtures/sources/rtf/cjk_copy.rtf" in out

    def test_deleted_source_is_named(self, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Deleting a source leaves its output listed but unmade, which is reported."""
        (repo / "fixtures/sources/conversations/openai_messages_batch.json").unlink()
        out = self._problems(repo, capsys)
        assert "openai_messages_batch.html.gz: listed in the manifest, but no source" in out

    def test_source_without_a_rule_is_named(
        self, repo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file in sources/ that no rule handles is reported instead of ignored."""
        (repo / "fixtures/sources/rtf/notes.txt").write_text("x")
        out = self._problems(repo, capsys)
        assert "no rule makes a fixture from fixtures/sources/rtf/notes.txt" in out

    def test_missing_manifest(self, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a manifest the check fails and says how to make one."""
        (repo / MANIFEST).unlink()
        out = self._problems(repo, capsys)
        assert f"{MANIFEST} is missing" in out


class TestRegenerateWithoutLibreOffice:
    def test_regeneration_refuses_and_names_the_package(
        self,
        repo: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Without soffice, regeneration stops before touching anything and says why."""
        monkeypatch.setenv("PATH", "/nonexistent")
        manifest_before = (repo / MANIFEST).read_bytes()
        assert main(["--root", str(repo)]) == 2
        out = capsys.readouterr().out
        assert "apt-get install libreoffice-writer-nogui" in out
        assert "--check" in out
        assert (repo / MANIFEST).read_bytes() == manifest_before

    def test_outside_a_repository_it_says_where_to_run(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Run from the wrong folder, it explains instead of failing obscurely."""
        assert main(["--check", "--root", str(tmp_path)]) == 2
        assert "run it from the repository root" in capsys.readouterr().out
