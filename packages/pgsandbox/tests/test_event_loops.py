"""Loop safety: engines live and die in the loop that uses them, whatever the loop scope."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sandbox_projects import Project

LOOP_ERRORS = re.compile(
    r"attached to a different loop|Event loop is closed|another operation is in progress"
    r"|cannot be called from a running event loop"
)

MIXED = """
import pytest
from sqlalchemy import text

pytestmark = pytest.mark.asyncio(loop_scope={scope!r})


@pytest.mark.parametrize("n", range(25))
async def test_session(pgsandbox_sessionmaker, n):
    async with pgsandbox_sessionmaker() as session:
        await session.execute(text("INSERT INTO items (name) VALUES (:n)"), {{"n": f"i{{n}}"}})
        await session.commit()
        assert await session.scalar(text("SELECT count(*) FROM items")) == 1


@pytest.mark.parametrize("n", range(25))
async def test_connection(pgsandbox_connection, n):
    assert await pgsandbox_connection.scalar(text("SELECT count(*) FROM items")) == 0
"""


class TestLoopSafety:
    def test_200_tests_mixing_loop_scopes_at_n4_five_times_in_random_order(
        self, project: Project
    ) -> None:
        """Function-, module- and session-scoped loops share no engine; no loop errors."""
        project.pytester.makepyfile(
            test_fn_a=MIXED.format(scope="function"),
            test_fn_b=MIXED.format(scope="function"),
            test_session_loop=MIXED.format(scope="session"),
            test_module_loop=MIXED.format(scope="module"),
        )
        for seed in (1, 2, 3, 4, 5):
            result = project.pytester.runpytest_subprocess(
                "-n", "4", "-p", "randomly", f"--randomly-seed={seed}", timeout=300
            )
            output = result.stdout.str() + result.stderr.str()
            assert not LOOP_ERRORS.search(output), output[-3000:]
            result.assert_outcomes(passed=200)

    def test_fixture_in_another_loop_is_reported_before_it_runs(self, project: Project) -> None:
        """An async fixture in a different loop than its test gets a message naming the fix."""
        project.pytester.makeconftest(
            """
            import pytest_asyncio

            @pytest_asyncio.fixture(loop_scope="session")
            async def seeded(pgsandbox_session):
                return pgsandbox_session
            """
        )
        project.pytester.makepyfile(
            test_mismatch="""
            async def test_uses_seeded(seeded):
                assert seeded is not None
            """
        )
        result = project.run()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            [
                (
                    "*async fixture 'seeded' runs in the 'session'-scoped event loop but the "
                    "test runs in the 'function'-scoped one*asyncio_default_fixture_loop_scope*"
                ),
            ]
        )

    @pytest.mark.parametrize("scope", ["function", "session"])
    def test_matching_fixture_loop_scope_is_fine(self, project: Project, scope: str) -> None:
        """The same fixture in the test's own loop works, for both loop scopes."""
        project.pytester.makeconftest(
            f"""
            import pytest_asyncio
            from sqlalchemy import text

            @pytest_asyncio.fixture(loop_scope={scope!r})
            async def seeded(pgsandbox_sessionmaker):
                async with pgsandbox_sessionmaker() as session:
                    await session.execute(text("INSERT INTO items (name) VALUES ('seed')"))
                    await session.commit()
                return pgsandbox_sessionmaker
            """
        )
        project.pytester.makepyfile(
            test_match=f"""
            import pytest
            from sqlalchemy import text

            @pytest.mark.asyncio(loop_scope={scope!r})
            async def test_sees_seed(seeded):
                async with seeded() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 1
            """
        )
        project.run().assert_outcomes(passed=1)
