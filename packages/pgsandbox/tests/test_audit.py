"""The static audit: each rule fires on a bad example and stays quiet on a good one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from pgsandbox._audit import RULES, audit_source

if TYPE_CHECKING:
    from pathlib import Path

BAD = {
    "xdist-group-on-db-test": """
        import pytest

        @pytest.mark.xdist_group("db")
        async def test_db(pgsandbox_session):
            assert pgsandbox_session
    """,
    "engine-in-test": """
        from sqlalchemy.ext.asyncio import create_async_engine

        async def test_own_engine():
            engine = create_async_engine("postgresql+asyncpg://x/y")
            assert engine
    """,
    "external-tool-in-test": """
        import subprocess

        def test_convert():
            out = subprocess.run(["soffice", "--headless", "--convert-to", "html", "a.rtf"])
            assert out.returncode == 0
    """,
    "async-fixture-without-pytest-asyncio": """
        import pytest

        @pytest.fixture
        async def user():
            return 1
    """,
    "test-asserts-nothing": """
        def test_nothing():
            x = 1 + 1
    """,
}

GOOD = """
    import pytest
    import pytest_asyncio
    import subprocess, sys

    @pytest_asyncio.fixture
    async def user():
        return 1

    @pytest.mark.pgsandbox(isolation="database")
    async def test_db(pgsandbox_session, user):
        assert user == 1

    def test_subprocess_of_our_own():
        out = subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True)
        assert out.returncode == 0

    def test_raises():
        with pytest.raises(ZeroDivisionError):
            1 / 0
"""


class TestAuditRules:
    @pytest.mark.parametrize("rule", sorted(RULES))
    def test_rule_fires_on_a_bad_example(self, rule: str) -> None:
        """Each rule reports its own finding, with the line it is on."""
        findings = audit_source(textwrap.dedent(BAD[rule]), "test_bad.py")
        assert [f.rule for f in findings] == [rule]
        assert findings[0].line > 1
        assert findings[0].describe().startswith(f"test_bad.py:{findings[0].line}: {rule}: ")
        assert "Fix: " in findings[0].describe()

    def test_good_example_has_no_findings(self) -> None:
        """Sanctioned patterns are not reported."""
        assert audit_source(textwrap.dedent(GOOD), "test_good.py") == []

    def test_command_line_exits_non_zero_with_findings(self, tmp_path: Path) -> None:
        """``python -m pgsandbox audit`` prints each finding and exits 1."""
        (tmp_path / "test_bad.py").write_text(textwrap.dedent(BAD["test-asserts-nothing"]))
        result = subprocess.run(
            [sys.executable, "-m", "pgsandbox", "audit", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1
        assert "test-asserts-nothing" in result.stdout
        assert "1 finding(s)" in result.stdout


class TestDeliberateExceptions:
    def test_a_line_that_allows_a_rule_is_not_reported(self) -> None:
        """`# pgsandbox-audit: allow RULE` silences that rule on that line only."""
        from pgsandbox._audit import audit_source

        source = (
            "from sqlalchemy import create_engine\n"
            "def test_outage():\n"
            "    create_engine('postgresql://x@h:1/x')  # pgsandbox-audit: allow engine-in-test\n"
            "    create_engine('postgresql://x@127.0.0.1:1/x')\n"
            "    assert 1 < 2\n"
        )
        findings = audit_source(source, "test_outage.py")
        assert [(f.line, f.rule) for f in findings] == [(4, "engine-in-test")]

    def test_allowing_another_rule_still_reports(self) -> None:
        """The comment names the rule it allows; others on that line are still reported."""
        from pgsandbox._audit import audit_source

        source = (
            "from sqlalchemy import create_engine\n"
            "def test_x():\n"
            "    create_engine('postgresql://x')  # pgsandbox-audit: allow test-asserts-nothing\n"
            "    assert 1 < 2\n"
        )
        assert [f.rule for f in audit_source(source, "test_x.py")] == ["engine-in-test"]
