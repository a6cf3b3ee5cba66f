"""Per-test isolation: transaction (rolled back), database (fresh clone), shared (commits)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox_projects import Project


class TestTransactionIsolation:
    def test_committed_rows_are_gone_in_the_next_test(self, project: Project) -> None:
        """Code that commits through the sessionmaker still leaves nothing behind."""
        project.pytester.makepyfile(
            test_tx="""
            from sqlalchemy import text

            async def test_1_code_commits(pgsandbox_sessionmaker):
                async with pgsandbox_sessionmaker() as session:
                    await session.execute(text("INSERT INTO items (name) VALUES ('a')"))
                    await session.commit()
                async with pgsandbox_sessionmaker() as session:
                    count = await session.scalar(text("SELECT count(*) FROM items"))
                assert count == 1

            async def test_2_next_test_starts_empty(pgsandbox_session):
                assert await pgsandbox_session.scalar(text("SELECT count(*) FROM items")) == 0

            def test_3_sync_session_also_rolls_back(pgsandbox_sync_session):
                pgsandbox_sync_session.execute(text("INSERT INTO items (name) VALUES ('b')"))
                pgsandbox_sync_session.commit()

            def test_4_and_starts_empty(pgsandbox_sync_session):
                assert pgsandbox_sync_session.scalar(text("SELECT count(*) FROM items")) == 0
            """
        )
        project.run().assert_outcomes(passed=4)

    def test_unique_violation_leaves_the_test_able_to_go_on(self, project: Project) -> None:
        """A failed statement rolls back to its savepoint, not the whole test."""
        project.pytester.makepyfile(
            test_unique="""
            import pytest
            from sqlalchemy import text
            from sqlalchemy.exc import IntegrityError

            async def test_duplicate_then_continue(pgsandbox_sessionmaker):
                async with pgsandbox_sessionmaker() as session:
                    await session.execute(text("INSERT INTO items (name) VALUES ('x')"))
                    await session.commit()
                async with pgsandbox_sessionmaker() as session:
                    with pytest.raises(IntegrityError):
                        await session.execute(text("INSERT INTO items (name) VALUES ('x')"))
                        await session.commit()
                    await session.rollback()
                async with pgsandbox_sessionmaker() as session:
                    await session.execute(text("INSERT INTO items (name) VALUES ('y')"))
                    await session.commit()
                    names = (await session.execute(text("SELECT name FROM items ORDER BY 1")))
                    assert [r[0] for r in names] == ["x", "y"]
            """
        )
        project.run().assert_outcomes(passed=1)

    def test_savepoints_sent_by_pgsandbox_behave_like_sqlalchemys(self, project: Project) -> None:
        """SAVEPOINT, RELEASE and ROLLBACK TO go to asyncpg directly: same effect, log, errors."""
        project.pytester.makepyfile(
            test_savepoints="""
            import logging

            import pytest
            from sqlalchemy import text
            from sqlalchemy.exc import DBAPIError

            @pytest.fixture(autouse=True)
            def sql_log(caplog):
                # Before pgsandbox's fixtures: a connection reads the log level once.
                caplog.set_level(logging.INFO, logger="sqlalchemy.engine")

            async def test_1_nested_rollback_keeps_the_rest(pgsandbox_sessionmaker, caplog):
                async with pgsandbox_sessionmaker() as session:
                    await session.execute(text("INSERT INTO items (name) VALUES ('kept')"))
                    nested = await session.begin_nested()
                    await session.execute(text("INSERT INTO items (name) VALUES ('undone')"))
                    await nested.rollback()
                    await session.commit()
                async with pgsandbox_sessionmaker() as session:
                    names = (await session.execute(text("SELECT name FROM items"))).scalars()
                    assert names.all() == ["kept"]
                logged = [record.getMessage() for record in caplog.records]
                for statement in (
                    "SAVEPOINT sa_savepoint_1",
                    "SAVEPOINT sa_savepoint_2",
                    "ROLLBACK TO SAVEPOINT sa_savepoint_2",
                    "RELEASE SAVEPOINT sa_savepoint_1",
                ):
                    assert statement in logged, logged

            async def test_2_a_failing_savepoint_raises_sqlalchemys_error(
                pgsandbox_connection, pgsandbox_sessionmaker
            ):
                with pytest.raises(DBAPIError, match="division by zero"):
                    await pgsandbox_connection.execute(text("SELECT 1/0"))
                with pytest.raises(DBAPIError, match="current transaction is aborted"):
                    async with pgsandbox_sessionmaker() as session:
                        await session.execute(text("SELECT 1"))

            async def test_3_the_next_test_starts_clean(pgsandbox_sessionmaker):
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 0
            """
        )
        project.run("-p", "no:randomly").assert_outcomes(passed=3)

    def test_the_outer_transaction_rides_on_the_tests_first_statement(
        self, project: Project
    ) -> None:
        """BEGIN goes with the first statement, RELEASE with the next savepoint; none unused."""
        project.pytester.makepyfile(
            test_round_trips="""
            import re

            import pytest
            from sqlalchemy import text

            # One event loop, so one engine, and one connection kept for all six tests.
            pytestmark = pytest.mark.asyncio(loop_scope="module")

            SENT = []
            DRIVERS = []

            def watch(maker):
                # The sessionmaker's bind is the test's connection; reading it sends nothing.
                driver = maker.kw["bind"].sync_connection.connection.driver_connection
                if not DRIVERS:
                    driver.add_query_logger(lambda record: SENT.append(record.query))
                DRIVERS.append(driver)
                assert DRIVERS[0] is driver, "the test got another connection"

            def control():
                # Savepoint names count on from test to test on the kept connection (they
                # need only be unique in a transaction): renumbered here from 1 per call.
                verbs = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")
                found = [q for q in SENT if q.startswith(verbs)]
                SENT.clear()
                seen = {}
                def renumber(match):
                    return f"sa_savepoint_{seen.setdefault(match.group(0), len(seen) + 1)}"
                return [re.sub(r"sa_savepoint_\\d+", renumber, q) for q in found]

            async def test_1_unused(pgsandbox_sessionmaker):
                watch(pgsandbox_sessionmaker)

            async def test_2_two_commits(pgsandbox_sessionmaker):
                watch(pgsandbox_sessionmaker)
                assert control() == []  # test 1 sent neither BEGIN nor ROLLBACK
                async with pgsandbox_sessionmaker() as session:
                    await session.execute(text("INSERT INTO items (name) VALUES ('a')"))
                    await session.commit()
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 1
                    await session.commit()
                sent = control()
                assert len(sent) == 2, sent
                assert sent[0].startswith("BEGIN; SET LOCAL application_name TO 'pgsandbox/")
                assert sent[0].endswith("/test_2_two_commits'; SAVEPOINT sa_savepoint_1")
                assert sent[1] == "RELEASE SAVEPOINT sa_savepoint_1; SAVEPOINT sa_savepoint_2"

            async def test_3_plain_statement_first(pgsandbox_sessionmaker):
                watch(pgsandbox_sessionmaker)
                assert control() == ["ROLLBACK"]  # test 2's, its last RELEASE dropped
                connection = pgsandbox_sessionmaker.kw["bind"]
                await connection.execute(text("INSERT INTO items (name) VALUES ('b')"))
                sent = control()
                assert len(sent) == 1 and sent[0].startswith("BEGIN; SET LOCAL"), sent

            async def test_4_that_was_rolled_back_too(pgsandbox_sessionmaker):
                watch(pgsandbox_sessionmaker)
                assert control() == ["ROLLBACK"]
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 0
                sent = control()
                assert len(sent) == 1 and sent[0].endswith("'; SAVEPOINT sa_savepoint_1"), sent

            async def test_5_asking_for_the_connection_begins_at_once(
                pgsandbox_connection, pgsandbox_sessionmaker
            ):
                watch(pgsandbox_sessionmaker)
                sent = control()
                assert len(sent) == 2 and sent[0] == "ROLLBACK", sent
                assert sent[1].startswith("BEGIN; SET LOCAL") and "/test_5_asking" in sent[1]

            async def test_6_a_session_closed_uncommitted_is_undone_before_what_follows(
                pgsandbox_sessionmaker,
            ):
                watch(pgsandbox_sessionmaker)
                assert control() == ["ROLLBACK"]
                async with pgsandbox_sessionmaker() as session:
                    await session.execute(text("INSERT INTO items (name) VALUES ('gone')"))
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 0
                    await session.execute(text("INSERT INTO items (name) VALUES ('gone too')"))
                connection = pgsandbox_sessionmaker.kw["bind"]
                assert await connection.scalar(text("SELECT count(*) FROM items")) == 0
                sent = control()
                assert len(sent) == 3, sent
                assert sent[0].endswith("; SAVEPOINT sa_savepoint_1")
                assert sent[1] == "ROLLBACK TO SAVEPOINT sa_savepoint_1; SAVEPOINT sa_savepoint_2"
                assert sent[2] == "ROLLBACK TO SAVEPOINT sa_savepoint_2"
            """
        )
        project.run("-p", "no:randomly").assert_outcomes(passed=6)

    def test_one_connection_serves_test_after_test_until_it_is_closed_or_lost(
        self, project: Project
    ) -> None:
        """The connection stays checked out between tests (no checkout per test), and a test
        ends without waiting for its ROLLBACK's answer: the server still has it before the
        next test starts (a connection of that test's own finds the row lock gone). A
        connection a test invalidated, or the server ended, is replaced."""
        project.pytester.makepyfile(
            test_kept="""
            import asyncio
            import time

            import asyncpg
            import pytest
            from sqlalchemy import text

            pytestmark = pytest.mark.asyncio(loop_scope="module")
            PIDS = []

            async def backend_pid(maker):
                async with maker() as session:
                    return await session.scalar(text("SELECT pg_backend_pid()"))

            async def own_connection(url):
                return await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))

            async def test_1_writes_a_unique_name(pgsandbox_sessionmaker):
                PIDS.append(await backend_pid(pgsandbox_sessionmaker))
                async with pgsandbox_sessionmaker() as session:
                    await session.execute(text("INSERT INTO items (name) VALUES ('taken')"))
                    await session.commit()

            async def test_2_its_lock_is_gone(pgsandbox_sessionmaker, pgsandbox_url):
                PIDS.append(await backend_pid(pgsandbox_sessionmaker))
                own = await own_connection(pgsandbox_url)
                try:
                    # Test 1's transaction still open, this would wait for its row lock.
                    await own.execute("SET lock_timeout = '5s'")
                    attempt = own.transaction()
                    await attempt.start()
                    await own.execute("INSERT INTO items (name) VALUES ('taken')")
                    await attempt.rollback()
                finally:
                    await own.close()

            async def test_3_same_connection_then_invalidated(pgsandbox_connection):
                PIDS.append(await pgsandbox_connection.scalar(text("SELECT pg_backend_pid()")))
                assert PIDS[0] == PIDS[1] == PIDS[2]
                await pgsandbox_connection.invalidate()

            async def test_4_gets_a_new_one(pgsandbox_sessionmaker):
                PIDS.append(await backend_pid(pgsandbox_sessionmaker))
                assert PIDS[3] != PIDS[0]

            async def test_5_the_server_ends_it_between_tests(pgsandbox_url):
                own = await own_connection(pgsandbox_url)
                try:
                    assert await own.fetchval("SELECT pg_terminate_backend($1)", PIDS[3])
                    deadline = time.monotonic() + 30
                    query = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1"
                    while await own.fetchval(query, PIDS[3]):
                        assert time.monotonic() < deadline, "the backend did not end"
                        await asyncio.sleep(0.02)
                finally:
                    await own.close()

            async def test_6_gets_a_new_one_again(pgsandbox_sessionmaker):
                pid = await backend_pid(pgsandbox_sessionmaker)
                assert pid not in PIDS
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 0
            """
        )
        project.run(
            "-p", "no:randomly", "-W", "error::pytest.PytestUnraisableExceptionWarning"
        ).assert_outcomes(passed=6)

    def test_a_commit_on_the_tests_connection_is_rolled_back_too(self, project: Project) -> None:
        """pgsandbox owns the outer transaction: even ``connection.commit()`` cannot end it."""
        project.pytester.makepyfile(
            test_conn_commit="""
            from sqlalchemy import text

            async def test_1_commits_on_the_connection(pgsandbox_connection):
                await pgsandbox_connection.execute(
                    text("INSERT INTO items (name) VALUES ('committed?')")
                )
                await pgsandbox_connection.commit()
                count = await pgsandbox_connection.scalar(text("SELECT count(*) FROM items"))
                assert count == 1
                tag = await pgsandbox_connection.scalar(text("SHOW application_name"))
                assert tag.endswith("/test_1_commits_on_the_connection"), tag

            async def test_2_sees_nothing(pgsandbox_connection):
                count = await pgsandbox_connection.scalar(text("SELECT count(*) FROM items"))
                assert count == 0
                in_tx = await pgsandbox_connection.scalar(
                    text("SELECT xact_start IS NOT NULL FROM pg_stat_activity "
                         "WHERE pid = pg_backend_pid()")
                )
                assert in_tx
            """
        )
        project.run().assert_outcomes(passed=2)

    def test_engine_is_refused_with_an_explanation(self, project: Project) -> None:
        """An engine would leak commits past the rollback, so the fixture says what to use."""
        project.pytester.makepyfile(
            test_engine="""
            async def test_wants_engine(pgsandbox_engine):
                pass
            """
        )
        result = project.run()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*pgsandbox_engine is not available in 'transaction'*"])


class TestDatabaseIsolation:
    def test_each_test_gets_an_empty_clone_and_real_commits(self, project: Project) -> None:
        """A ``database`` test sees the template's state; its commits are real, then gone."""
        project.pytester.makepyfile(
            test_db="""
            import pytest
            from sqlalchemy import text

            pytestmark = pytest.mark.pgsandbox(isolation="database")

            async def test_1_commit_with_engine(pgsandbox_engine, pgsandbox_url):
                async with pgsandbox_engine.begin() as conn:
                    await conn.execute(text("INSERT INTO items (name) VALUES ('a')"))
                async with pgsandbox_engine.connect() as conn:
                    assert await conn.scalar(text("SELECT count(*) FROM items")) == 1
                assert "_t" in pgsandbox_url.rsplit("/", 1)[1]

            async def test_2_fresh_clone(pgsandbox_engine):
                async with pgsandbox_engine.connect() as conn:
                    assert await conn.scalar(text("SELECT count(*) FROM items")) == 0
            """
        )
        project.run("-n", "2").assert_outcomes(passed=2)


class TestSharedIsolation:
    def test_commits_are_seen_by_others_but_never_by_transaction_tests(
        self, project: Project
    ) -> None:
        """Shared commits reach other connections and subprocesses, not worker databases."""
        project.pytester.makepyfile(
            test_shared="""
            import subprocess, sys
            import uuid
            import pytest
            from sqlalchemy import text

            @pytest.mark.pgsandbox(isolation="shared")
            async def test_1_shared_commit_is_visible(pgsandbox_sessionmaker, pgsandbox_url):
                name = f"shared-{uuid.uuid4()}"
                async with pgsandbox_sessionmaker() as session:
                    await session.execute(text("INSERT INTO items (name) VALUES (:n)"), {"n": name})
                    await session.commit()
                async with pgsandbox_sessionmaker() as other:
                    assert await other.scalar(
                        text("SELECT count(*) FROM items WHERE name = :n"), {"n": name}
                    ) == 1
                sync_url = pgsandbox_url.replace("+asyncpg", "+psycopg")
                script = (
                    "import sys; from sqlalchemy import create_engine, text;"
                    "e = create_engine(sys.argv[1]);"
                    "c = e.connect();"
                    "print(c.scalar(text('SELECT count(*) FROM items WHERE name = :n'),"
                    " {'n': sys.argv[2]}))"
                )
                out = subprocess.run(
                    [sys.executable, "-c", script, sync_url, name],
                    capture_output=True, text=True, check=True,
                ).stdout.strip()
                assert out == "1"

            async def test_2_transaction_test_does_not_see_shared_rows(pgsandbox_session):
                assert await pgsandbox_session.scalar(text("SELECT count(*) FROM items")) == 0
            """
        )
        # One worker, in file order: the transaction test runs after the shared one.
        project.run("-n", "0").assert_outcomes(passed=2)
        project.run("-n", "1").assert_outcomes(passed=2)
