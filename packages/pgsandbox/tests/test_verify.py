"""The distribution report and --pgsandbox-verify: proof that database tests ran in parallel."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox_projects import Project

DB_TESTS = """
import pytest
from sqlalchemy import text

{mark}
@pytest.mark.parametrize("n", range({count}))
async def test_db(pgsandbox_session, n):
    assert await pgsandbox_session.scalar(text("SELECT count(*) FROM items")) == 0
"""


class TestReport:
    def test_json_has_one_entry_per_collected_test_and_busy_time_adds_up(
        self, project: Project
    ) -> None:
        """Every collected test is in the report; per-worker busy time matches durations."""
        project.pytester.makepyfile(
            test_db=DB_TESTS.format(mark="", count=12),
            test_plain="""
            import pytest

            def test_no_db():
                assert 1 + 1 == 2

            @pytest.mark.skip(reason="shows a skip with a reason")
            def test_skipped():
                assert False
            """,
        )
        collected = project.run("--collect-only", "-q")
        ids = {line for line in collected.outlines if "::" in line}
        result = project.run("-n", "2", "--pgsandbox-report=out/dist.json", "--pgsandbox-verify")
        result.assert_outcomes(passed=13, skipped=1)
        result.stdout.fnmatch_lines(["pgsandbox verify: PASSED*"])
        report = json.loads((project.root / "out" / "dist.json").read_text())
        assert {t["nodeid"] for t in report["tests"]} == ids
        assert report["totals"]["tests"] == len(ids) == 14
        assert report["totals"]["db_tests"] == 12
        assert report["workers"] == ["gw0", "gw1"]
        for worker, row in report["per_worker"].items():
            durations = sum(t["duration"] for t in report["tests"] if t["worker"] == worker)
            assert abs(row["busy_s"] - durations) <= 0.1 * max(durations, 0.01) + 0.005, worker
        assert all(c["survived"] for c in report["canaries"])
        assert len(report["canaries"]) == 3

    def test_html_page_has_one_lane_per_worker(self, project: Project) -> None:
        """The timeline page is self-contained (no network) and shows each worker's lane."""
        project.pytester.makepyfile(test_db=DB_TESTS.format(mark="", count=8))
        project.run("-n", "4", "--pgsandbox-report=dist.json").assert_outcomes(passed=8)
        page = (project.root / "dist.html").read_text()
        lanes = re.findall(r'<text x="5" y="[\d.]+" class="lane">(gw\d)</text>', page)
        assert lanes == ["gw0", "gw1", "gw2", "gw3"]
        assert page.count('class="test"') == 8
        assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")


class TestVerifyFailures:
    def test_clustered_database_tests_are_detected(self, project: Project) -> None:
        """Database tests pinned to one worker are caught, with the per-worker counts.

        The suite carries one ``xdist_group``, as clustered suites do. It is pinned with
        ``--dist loadfile``: with pytest 9.2, ``--dist loadgroup`` silently stopped grouping
        (pytest-dev/pytest-xdist#1386), and loadfile produces the same clustering.
        """
        project.pytester.makepyfile(
            test_db=DB_TESTS.format(mark='@pytest.mark.xdist_group("db")', count=8)
        )
        result = project.run("-n", "4", "--dist", "loadfile", "--pgsandbox-verify")
        result.assert_outcomes(passed=8)
        assert result.ret == 1
        result.stdout.fnmatch_lines(
            [
                "pgsandbox verify: FAILED",
                (
                    "*clustering detected: database tests ran on 1 of 4 workers (need at "
                    "least 4); database tests per worker: *8 gw*"
                ),
            ]
        )

    def test_event_loop_error_is_detected(self, project: Project) -> None:
        """A test that hit "attached to a different loop" fails verification by name."""
        project.pytester.makepyfile(
            test_loop="""
            async def test_loop_trouble(pgsandbox_session):
                raise RuntimeError("Task got Future <Future pending> attached to a different loop")

            async def test_fine(pgsandbox_session):
                assert pgsandbox_session is not None
            """
        )
        result = project.run("-n", "2", "--pgsandbox-verify")
        assert result.ret == 1
        result.stdout.fnmatch_lines(
            [
                (
                    "*1 event-loop error(s): test_loop.py::test_loop_trouble: attached to a "
                    "different loop*"
                )
            ]
        )

    def test_truncated_canary_is_detected(self, project: Project) -> None:
        """A canary truncated mid-run fails verification with the canary message."""
        project.pytester.makepyfile(
            test_truncate="""
            import psycopg

            def test_truncates(pgsandbox_url):
                url = pgsandbox_url.replace("postgresql+asyncpg", "postgresql")
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("TRUNCATE pgsandbox.canary")
                assert True is not False
            """
        )
        result = project.run("-n", "2", "--pgsandbox-verify")
        assert result.ret == 1
        result.stdout.fnmatch_lines(
            ["*pgsandbox verify: - database was rebuilt or truncated during the run: pgsb_*"]
        )
