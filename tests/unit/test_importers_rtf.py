"""RTF import without LibreOffice: the checks made before anything is spawned.

Conversions themselves (and the process-group kill) are in
tests/integration/test_rtf_conversion.py; here nothing starts a process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from glossator.importers import (
    ConverterMissing,
    DocumentTooLarge,
    NotRtf,
    RtfOptions,
    TruncatedRtf,
    check_rtf,
    convert_rtf_to_html,
)
from glossator.importers.rtf import (
    DEFAULT_MAX_BYTES,
    INSTALL_HINT,
    find_soffice,
    strip_volatile_metadata,
)
from tests._tools import require_tool

RTF_SOURCES = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "rtf"
MINIMAL = rb"{\rtf1\ansi Hello {\b world}.\par}"


class TestChecksBeforeConversion:
    def test_every_source_fixture_passes(self) -> None:
        """All committed RTF sources are accepted as they are."""
        sources = sorted(RTF_SOURCES.glob("*.rtf"))
        assert len(sources) >= 8
        for source in sources:
            check_rtf(source.read_bytes())

    def test_truncated_rtf_is_refused(self) -> None:
        """A file cut off mid-way (groups never closed) is a TruncatedRtf."""
        data = (RTF_SOURCES / "tables.rtf").read_bytes()
        with pytest.raises(TruncatedRtf, match="cut off"):
            check_rtf(data[: len(data) // 2])

    def test_escaped_braces_do_not_count_as_groups(self) -> None:
        r"""\{ and \} are text: a document full of them is still complete."""
        check_rtf(rb"{\rtf1 a \{ b \} c \\}")
        with pytest.raises(TruncatedRtf):
            check_rtf(rb"{\rtf1 a \}")

    def test_eleven_megabyte_rtf_is_refused_before_spawning(self) -> None:
        """A file over the 10 MiB default is a DocumentTooLarge naming both sizes."""
        body = b"x" * (11 * 1024 * 1024)
        data = b"{\\rtf1\\ansi " + body + b"\\par}"
        with pytest.raises(DocumentTooLarge) as raised:
            check_rtf(data)
        assert raised.value.size == len(data)
        assert raised.value.limit == DEFAULT_MAX_BYTES
        assert "10,485,760" in str(raised.value)

    def test_limit_is_configurable(self) -> None:
        """RtfOptions.max_bytes changes the limit."""
        with pytest.raises(DocumentTooLarge):
            check_rtf(MINIMAL, max_bytes=10)
        check_rtf(MINIMAL, max_bytes=len(MINIMAL))

    @pytest.mark.parametrize(
        "data",
        [
            b"%PDF-1.7\n...",
            b"PK\x03\x04 a docx in disguise",
            b"<html><body>not rtf</body></html>",
            b"",
            b"\x00\x01\x02",
            b"{\\rt",
        ],
    )
    def test_non_rtf_with_an_rtf_name_is_refused(self, data: bytes) -> None:
        """Anything that does not start with {\\rtf is a NotRtf saying what it starts with."""
        with pytest.raises(NotRtf, match="does not start with"):
            check_rtf(data)

    def test_bom_and_leading_whitespace_are_tolerated(self) -> None:
        """Editors that add a UTF-8 BOM or a blank line still produce acceptable RTF."""
        check_rtf(b"\xef\xbb\xbf\r\n" + MINIMAL)

    async def test_conversion_refuses_bad_input_before_looking_for_libreoffice(self) -> None:
        """Input errors come first, so they are the same with or without LibreOffice."""
        options = RtfOptions(soffice="/nonexistent/soffice")
        with pytest.raises(NotRtf):
            await convert_rtf_to_html(b"plain text", options)

    def test_options_reject_useless_limits(self) -> None:
        """A non-positive timeout or a tiny size limit is a programming error."""
        with pytest.raises(ValueError, match="timeout"):
            RtfOptions(timeout=0)
        with pytest.raises(ValueError, match="max_bytes"):
            RtfOptions(max_bytes=1)


class TestMissingLibreOffice:
    def test_error_names_the_package_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without soffice on PATH, the error says what to apt-get install."""
        monkeypatch.setenv("PATH", "/nonexistent")
        with pytest.raises(ConverterMissing) as raised:
            find_soffice()
        assert INSTALL_HINT in str(raised.value)
        assert INSTALL_HINT == "apt-get install libreoffice-writer-nogui"

    async def test_conversion_raises_converter_missing(self) -> None:
        """A configured soffice path that does not exist is a ConverterMissing."""
        with pytest.raises(ConverterMissing, match="/nonexistent/soffice"):
            await convert_rtf_to_html(MINIMAL, RtfOptions(soffice="/nonexistent/soffice"))


class TestVolatileMetadata:
    def test_generator_created_and_changed_are_stripped(self) -> None:
        """Only the run-dependent meta tags go; the charset and title stay."""
        head = (
            b'<head>\n\t<meta http-equiv="content-type" content="text/html; charset=utf-8"/>\n'
            b"\t<title>T</title>\n"
            b'\t<meta name="generator" content="LibreOffice 7.4.7.2 (Linux)"/>\n'
            b'\t<meta name="created" content="2024-01-01T10:00:00"/>\n'
            b'\t<meta name="changed" content="2024-01-02T10:00:00.123"/>\n</head>'
        )
        assert strip_volatile_metadata(head) == (
            b'<head>\n\t<meta http-equiv="content-type" content="text/html; charset=utf-8"/>\n'
            b"\t<title>T</title>\n</head>"
        )


class TestRequireToolPolicy:
    """The helper in tests/_tools.py that decides between skip and fail."""

    @pytest.fixture
    def no_tools(self, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
        monkeypatch.setenv("PATH", "/nonexistent")
        monkeypatch.delenv("CI", raising=False)
        return monkeypatch

    def test_found_tool_returns_its_path(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A tool on PATH is returned, whatever CI says."""
        monkeypatch.setenv("CI", "true")
        path = require_tool("sh", install_hint="apt-get install dash")
        assert Path(path).name == "sh"

    def test_missing_tool_skips_outside_ci(self, no_tools: pytest.MonkeyPatch) -> None:
        """Locally a missing tool skips, naming the install command."""
        with pytest.raises(pytest.skip.Exception, match="apt-get install x-tool"):
            require_tool("x-tool", install_hint="apt-get install x-tool")

    def test_missing_tool_fails_in_ci_by_default(self, no_tools: pytest.MonkeyPatch) -> None:
        """Under CI=true a missing tool without an opt-in flag is a failure."""
        no_tools.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception, match="required here because CI=true"):
            require_tool("x-tool", install_hint="apt-get install x-tool")

    def test_libreoffice_is_required_in_ci_like_every_tool(
        self, no_tools: pytest.MonkeyPatch
    ) -> None:
        """No tool is exempt: CI installs LibreOffice, so its absence there is a failure."""
        with pytest.raises(pytest.skip.Exception, match="libreoffice-writer-nogui"):
            require_tool("soffice", install_hint=INSTALL_HINT)
        no_tools.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception, match="required here because CI=true"):
            require_tool("soffice", install_hint=INSTALL_HINT)
