"""Connection diagnostics: leaks fail their test, debug logs, application_name, explanations."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sandbox_projects import Project


class TestLeaks:
    def test_leaked_connection_and_open_transaction_fail_naming_the_line(
        self, project: Project
    ) -> None:
        """Each leaking test fails, naming itself and the line that took the connection."""
        project.pytester.makepyfile(
            test_leaky="""
            import pytest
            from sqlalchemy import text

            KEEP = []

            @pytest.mark.pgsandbox(isolation="database")
            async def test_leaks_a_connection(pgsandbox_engine):
                KEEP.append(await pgsandbox_engine.connect())  # LEAK-CONNECTION
                assert KEEP

            async def test_leaves_a_transaction_open(pgsandbox_sessionmaker):
                session = pgsandbox_sessionmaker()
                await session.execute(text("SELECT 1"))  # LEAK-TRANSACTION
                KEEP.append(session)
                assert KEEP

            async def test_tidy(pgsandbox_sessionmaker):
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT 1")) == 1
            """
        )
        result = project.run("-n", "2")
        result.assert_outcomes(passed=3, errors=2)
        result.stdout.fnmatch_lines_random(
            [
                "*test_leaky.py::test_leaks_a_connection ended with 1 connection(s)*",
                "*a connection is still checked out*",
                "*test_leaky.py:* in test_leaks_a_connection:*# LEAK-CONNECTION",
                "*test_leaky.py::test_leaves_a_transaction_open ended with 1 connection(s)*",
                "*a session transaction is still open*",
                "*test_leaky.py:* in test_leaves_a_transaction_open:*# LEAK-TRANSACTION",
            ]
        )


class TestApplicationName:
    def test_running_test_is_visible_in_pg_stat_activity(self, project: Project) -> None:
        """A second connection reads the test's tagged session back from pg_stat_activity."""
        project.pytester.makepyfile(
            test_tagged="""
            import psycopg
            from sqlalchemy import text

            async def test_who_am_i(pgsandbox_connection, pgsandbox_url):
                mine = await pgsandbox_connection.scalar(text("SELECT pg_backend_pid()"))
                url = pgsandbox_url.replace("postgresql+asyncpg", "postgresql")
                with psycopg.connect(url, autocommit=True) as other:
                    name = other.execute(
                        "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (mine,)
                    ).fetchone()[0]
                assert name.startswith("pgsandbox/")
                assert name.endswith("/main/test_who_am_i"), name
            """
        )
        project.run().assert_outcomes(passed=1)


class TestDebugLogs:
    def test_four_workers_write_json_lines_and_a_summary(self, project: Project) -> None:
        """With --pgsandbox-debug -n 4 every worker logs JSON lines; the summary prints."""
        project.pytester.makepyfile(
            test_many="""
            import pytest
            from sqlalchemy import text

            @pytest.mark.parametrize("n", range(12))
            async def test_query(pgsandbox_sessionmaker, n):
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT CAST(:n AS integer)"), {"n": n}) == n
            """
        )
        result = project.run("-n", "4", "--pgsandbox-debug")
        result.assert_outcomes(passed=12)
        result.stdout.fnmatch_lines(
            ["pgsandbox: connection debug logs in *", "pgsandbox:   gw0: * connection(s) opened*"]
        )
        logs = {
            w: project.root / ".reports" / f"pgsandbox-{w}.jsonl"
            for w in ("gw0", "gw1", "gw2", "gw3")
        }
        records = []
        for worker, path in logs.items():
            assert path.exists(), worker
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            assert lines, worker
            assert all(r["worker"] == worker and "pid" in r and "ts" in r for r in lines)
            records += lines
        known = "test_many.py::test_query[3]"
        events = [r["event"] for r in records if r.get("test") == known]
        assert events[0] == "test_begin"
        assert events[-1] == "test_end"
        assert {"checkout", "checkin", "session_begin", "session_end"} <= set(events)


EXPLAINED = {
    "attached to a different loop": """
        import pytest
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        STASH = {}

        @pytest.mark.asyncio(loop_scope="session")
        @pytest.mark.pgsandbox(isolation="shared")
        async def test_1_engine_made_in_the_session_loop(pgsandbox_url):
            STASH["engine"] = create_async_engine(pgsandbox_url, pool_size=1)
            async with STASH["engine"].connect() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1

        @pytest.mark.pgsandbox(isolation="shared")
        async def test_2_used_in_a_function_loop(pgsandbox_url):
            async with STASH["engine"].connect() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1
    """,
    "Event loop is closed": """
        import asyncpg
        import pytest

        STASH = {}

        @pytest.mark.pgsandbox(isolation="shared")
        async def test_1_connection_made_in_this_tests_loop(pgsandbox_url):
            url = pgsandbox_url.replace("postgresql+asyncpg", "postgresql")
            STASH["conn"] = await asyncpg.connect(url)
            assert await STASH["conn"].fetchval("SELECT 1") == 1

        @pytest.mark.pgsandbox(isolation="shared")
        async def test_2_cleaned_up_after_that_loop_closed(pgsandbox_url):
            STASH["conn"].terminate()
            assert STASH["conn"].is_closed()
    """,
    "another operation is in progress": """
        import asyncio

        async def test_two_queries_at_once_on_one_connection(pgsandbox_connection):
            raw = await pgsandbox_connection.get_raw_connection()
            driver = raw.driver_connection
            await asyncio.gather(driver.fetch("SELECT pg_sleep(0.2)"), driver.fetch("SELECT 1"))
    """,
    "cannot be called from a running event loop": """
        import asyncio

        def sync_helper_that_runs_its_own_loop():
            async def work():
                return 1
            runner = asyncio.Runner()
            return runner.run(work())

        async def test_calls_sync_helper(pgsandbox_session):
            assert sync_helper_that_runs_its_own_loop() == 1
    """,
}


class TestExplanations:
    @pytest.mark.parametrize("message", sorted(EXPLAINED))
    def test_classic_failure_comes_with_pgsandboxs_explanation(
        self, project: Project, message: str
    ) -> None:
        """The bare error is shown together with pgsandbox's cause and fix."""
        project.pytester.makepyfile(test_classic=EXPLAINED[message])
        result = project.run("-p", "no:randomly")
        assert result.ret == 1
        output = result.stdout.str()
        assert message in output
        result.stdout.fnmatch_lines(
            [
                "*- pgsandbox explains -*",
                f"pgsandbox: this failure is '{message}'.",
                "  Cause: *",
                "  Fix:   *",
                "  More:  docs/troubleshooting.md#*",
            ]
        )
