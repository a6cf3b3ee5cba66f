"""Concurrent sessions in one ``transaction`` test take turns on the test's connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox_projects import add_ini

if TYPE_CHECKING:
    from sandbox_projects import Project


class TestTakingTurns:
    def test_races_background_tasks_and_nested_tasks_work(self, project: Project) -> None:
        """gather races have one winner; tasks started by a session's holder nest in it.

        A session left open by a task that has ended (an async fixture's setup) does not
        hold up the sessions that follow.
        """
        project.pytester.makepyfile(
            test_concurrent="""
            import asyncio

            from sqlalchemy import text
            from sqlalchemy.exc import IntegrityError

            INSERT = text("INSERT INTO items (name) VALUES (:n)")

            async def test_race_has_one_winner(pgsandbox_sessionmaker):
                async def claim():
                    async with pgsandbox_sessionmaker() as session:
                        await session.execute(INSERT, {"n": "the-one"})
                        await asyncio.sleep(0)  # let the other task try its luck
                        try:
                            await session.commit()
                        except IntegrityError:
                            return "lost"
                        return "won"

                async def claim_or_lose():
                    try:
                        return await claim()
                    except IntegrityError:
                        return "lost"

                results = await asyncio.gather(*(claim_or_lose() for _ in range(5)))
                assert sorted(results) == ["lost"] * 4 + ["won"]
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 1

            async def test_many_writers_all_land(pgsandbox_sessionmaker):
                async def write(n):
                    async with pgsandbox_sessionmaker() as session:
                        await session.execute(INSERT, {"n": f"w{n}"})
                        await asyncio.sleep(0)
                        await session.execute(INSERT, {"n": f"v{n}"})
                        await session.commit()

                await asyncio.gather(*(write(n) for n in range(10)))
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 20

            async def test_task_started_by_an_open_session_nests_in_it(pgsandbox_sessionmaker):
                async with pgsandbox_sessionmaker() as request_session:
                    await request_session.execute(INSERT, {"n": "request"})

                    async def background():
                        async with pgsandbox_sessionmaker() as session:
                            await session.execute(INSERT, {"n": "background"})
                            await session.commit()

                    await asyncio.create_task(background())
                    await request_session.commit()
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 2

            async def test_commit_waits_for_a_nested_task_to_finish(pgsandbox_sessionmaker):
                go = asyncio.Event()
                order = []
                async with pgsandbox_sessionmaker() as request_session:
                    await request_session.execute(INSERT, {"n": "request"})
                    inserted = asyncio.Event()

                    async def background():
                        async with pgsandbox_sessionmaker() as session:
                            await session.execute(INSERT, {"n": "background"})
                            inserted.set()
                            await go.wait()
                            await session.commit()
                            order.append("background")

                    task = asyncio.create_task(background())
                    await inserted.wait()
                    asyncio.get_running_loop().call_soon(go.set)
                    await request_session.commit()  # waits until background has committed
                    order.append("request")
                    await task
                assert order == ["background", "request"]
                async with pgsandbox_sessionmaker() as session:
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 2

            async def test_session_left_open_by_a_finished_task(pgsandbox_sessionmaker):
                async def open_one():  # like an async fixture's setup, in a task of its own
                    session = pgsandbox_sessionmaker()
                    await session.execute(INSERT, {"n": "from-the-fixture"})
                    return session

                left_open = await asyncio.create_task(open_one())
                async with pgsandbox_sessionmaker() as session:  # no wait: that task is done
                    assert await session.scalar(text("SELECT count(*) FROM items")) == 1
                await left_open.close()
            """
        )
        add_ini(project, "pgsandbox_session_wait = 2")
        project.run().assert_outcomes(passed=5)

    def test_a_deadlock_of_turns_fails_naming_database_isolation(self, project: Project) -> None:
        """A session waiting for one that waits for it fails the test, even if swallowed."""
        add_ini(project, "pgsandbox_session_wait = 1")
        project.pytester.makepyfile(
            test_deadlock="""
            import asyncio

            from sqlalchemy import text

            async def test_holder_waits_for_the_waiter(pgsandbox_sessionmaker):
                first_wrote = asyncio.Event()
                second_done = asyncio.Event()

                async def first():
                    async with pgsandbox_sessionmaker() as session:
                        await session.execute(text("INSERT INTO items (name) VALUES ('1')"))
                        first_wrote.set()
                        await second_done.wait()  # holds the connection meanwhile
                        await session.commit()

                async def second():
                    await first_wrote.wait()
                    try:
                        async with pgsandbox_sessionmaker() as session:
                            await session.execute(text("SELECT 1"))
                    except Exception:
                        pass  # the app swallows it
                    finally:
                        second_done.set()

                await asyncio.gather(first(), second())
            """
        )
        result = project.run()
        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines(
            [
                "*a session waited 1 s to begin a session*held by another task's session*",
                "*test_deadlock.py:*in first: await second_done.wait()*",
                '*take turns*@pytest.mark.pgsandbox(isolation="database")*',
            ]
        )
