"""Sync sessions of several threads on one ``transaction`` test's connection take turns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox_projects import add_ini

if TYPE_CHECKING:
    from sandbox_projects import Project

THREADS = '''
import threading

from sqlalchemy import text
from sqlalchemy.orm import sessionmaker


def race(maker, name, threads=2):
    """Each thread: is `name` taken? If not, take it (check, then insert)."""
    start = threading.Barrier(threads)
    outcomes = []

    def desk():
        start.wait(timeout=30)
        with maker() as session:
            taken = session.execute(
                text("SELECT count(*) FROM items WHERE name = :n"), {"n": name}
            ).scalar_one()
            if taken:
                outcomes.append("refused")
                return
            session.execute(text("INSERT INTO items (name) VALUES (:n)"), {"n": name})
            session.commit()
            outcomes.append("taken")

    workers = [threading.Thread(target=desk) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return sorted(outcomes)


def test_threads_race_and_one_wins(pgsandbox_sync_session):
    maker = sessionmaker(
        bind=pgsandbox_sync_session.get_bind(), join_transaction_mode="create_savepoint"
    )
    for round_number in range(20):
        assert race(maker, f"seat-{round_number}", threads=3) == ["refused", "refused", "taken"]


def test_an_open_session_of_the_test_does_not_block_a_worker_thread(pgsandbox_sync_session):
    assert pgsandbox_sync_session.execute(text("SELECT count(*) FROM items")).scalar_one() == 0
    maker = sessionmaker(
        bind=pgsandbox_sync_session.get_bind(), join_transaction_mode="create_savepoint"
    )
    done = []

    def endpoint():  # a sync endpoint in a framework's thread pool, while the test waits
        with maker() as session:
            session.execute(text("INSERT INTO items (name) VALUES ('from a thread')"))
            session.commit()
        done.append(True)

    worker = threading.Thread(target=endpoint)
    worker.start()
    worker.join(timeout=30)
    assert done == [True]
    assert pgsandbox_sync_session.execute(text("SELECT count(*) FROM items")).scalar_one() == 1


def test_a_thread_that_never_ends_its_session(pgsandbox_sync_session):
    maker = sessionmaker(
        bind=pgsandbox_sync_session.get_bind(), join_transaction_mode="create_savepoint"
    )
    holding, finish = threading.Event(), threading.Event()
    errors = []

    def holder():  # keeps its session open while another thread wants the connection
        with maker() as session:
            session.execute(text("SELECT 1"))
            holding.set()
            finish.wait(timeout=30)

    def waiter():
        try:
            with maker() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # the app swallows it
            errors.append(type(exc).__name__)

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(timeout=30)
    second = threading.Thread(target=waiter)
    second.start()
    second.join(timeout=30)
    finish.set()
    first.join(timeout=30)
    assert errors == ["SandboxMisuse"]
'''


class TestThreadsTakeTurns:
    def test_races_pass_open_test_sessions_nest_and_a_stuck_thread_is_explained(
        self, project: Project
    ) -> None:
        """Threads serialise on the test's connection: a check-then-insert race has one
        winner in every round; the test's own open session lets a worker thread nest; a
        session another thread never ends fails the waiting one, and the test, with the
        explanation naming ``isolation="database"``, even though the code caught it."""
        add_ini(project, "pgsandbox_session_wait = 1")
        project.pytester.makepyfile(test_threads=THREADS)
        result = project.run("-n", "0")
        result.assert_outcomes(passed=3, errors=1)
        result.stdout.fnmatch_lines(
            [
                "*ERROR at teardown of test_a_thread_that_never_ends_its_session*",
                "*a session waited 1 s for another thread's session on the test's connection*",
                '*@pytest.mark.pgsandbox(isolation="database")*',
            ]
        )
