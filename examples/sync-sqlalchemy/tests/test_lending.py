"""The library's services on a real PostgreSQL; each test starts from the migrated schema."""

import threading

import pytest
from library import services
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError


@pytest.mark.parametrize("n", range(4))
def test_each_test_starts_from_an_empty_catalogue(n):
    for i in range(n + 1):
        services.add_book(f"book {i}")
    assert services.count_books() == n + 1


def test_lending_takes_a_copy():
    book = services.add_book("Middlemarch", copies=2)
    member = services.add_member("ada@example.org")
    services.lend(book, member)
    assert services.copies_left(book) == 1


def test_giving_back_returns_the_copy():
    book = services.add_book("Persuasion")
    loan = services.lend(book, services.add_member("ben@example.org"))
    services.give_back(loan)
    assert services.copies_left(book) == 1


def test_giving_back_twice_counts_once():
    book = services.add_book("Emma")
    loan = services.lend(book, services.add_member("cy@example.org"))
    services.give_back(loan)
    services.give_back(loan)
    assert services.copies_left(book) == 1


def test_the_last_copy_cannot_be_lent_twice():
    book = services.add_book("Ulysses")
    services.lend(book, services.add_member("di@example.org"))
    with pytest.raises(services.NoCopyLeft):
        services.lend(book, services.add_member("ed@example.org"))


def test_loans_of_a_member_in_title_order():
    member = services.add_member("fay@example.org")
    for title in ("Zadig", "Candide", "Micromegas"):
        services.lend(services.add_book(title), member)
    assert services.loans_of(member) == ["Candide", "Micromegas", "Zadig"]


def test_returned_books_are_not_on_loan():
    member = services.add_member("gus@example.org")
    loan = services.lend(services.add_book("Dracula"), member)
    services.give_back(loan)
    assert services.loans_of(member) == []


def test_a_failed_commit_does_not_break_later_sessions():
    services.add_member("hal@example.org")
    with pytest.raises(IntegrityError):
        services.add_member("hal@example.org")
    assert services.add_member("ida@example.org") > 0


def test_negative_copies_are_refused_by_the_database():
    with pytest.raises(IntegrityError):
        services.add_book("Impossible", copies=-1)
    assert services.count_books() == 0


def test_the_test_session_sees_what_the_app_committed(pgsandbox_sync_session):
    services.add_book("Shirley")
    titles = pgsandbox_sync_session.execute(text("SELECT title FROM books")).scalars().all()
    assert titles == ["Shirley"]


def test_the_schema_is_at_head(pgsandbox_sync_session):
    version = pgsandbox_sync_session.execute(text("SELECT version_num FROM alembic_version"))
    assert version.scalar_one() == "0001_library"


def _race(book: int, members: list[int]) -> list[str]:
    """Each member's desk, in a thread of its own, tries to lend the book at once."""
    start = threading.Barrier(len(members))
    outcomes: list[str] = []

    def desk(member: int) -> None:
        start.wait(timeout=30)
        try:
            services.lend(book, member)
            outcomes.append("lent")
        except services.NoCopyLeft:
            outcomes.append("refused")

    threads = [threading.Thread(target=desk, args=(m,)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_two_desks_race_in_the_tests_transaction():
    """`transaction` isolation: the threads' sessions take turns on the test's connection."""
    book = services.add_book("Dracula", copies=1)
    members = [services.add_member(f"clerk{i}@example.org") for i in range(2)]
    assert _race(book, members) == ["lent", "refused"]
    assert services.copies_left(book) == 0


@pytest.mark.pgsandbox(isolation="database")
def test_two_desks_race_for_the_last_copy_and_one_wins():
    """Real commits on a clone: two threads, two connections, one copy, one winner."""
    book = services.add_book("Moby-Dick", copies=1)
    members = [services.add_member(f"desk{i}@example.org") for i in range(2)]
    assert _race(book, members) == ["lent", "refused"]
    assert services.copies_left(book) == 0


@pytest.mark.pgsandbox(isolation="database")
def test_commits_on_a_clone_are_seen_by_another_connection(pgsandbox_url):
    services.add_book("Kim")
    from sqlalchemy import create_engine  # the test's own connection, like a second process

    engine = create_engine(pgsandbox_url.replace("+asyncpg", "+psycopg"))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM books")).scalar_one() == 1
    finally:
        engine.dispose()
