"""``database`` isolation reuses a worker's clone: reset exactly, or dropped (``_recycle``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox_projects import add_ini, run_id_of

if TYPE_CHECKING:
    from pgsandbox._admin import AdminConnection
    from sandbox_projects import Project

SEEDED = '''
"""a table with rows in the template, and one that refers to items"""
import sqlalchemy as sa
from alembic import op

revision = "0002_seeded"
down_revision = "0001_items"
branch_labels = None
depends_on = None


def upgrade():
    colours = op.create_table(
        "colours", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text)
    )
    op.bulk_insert(colours, [{"id": 1, "name": "red"}, {"id": 2, "name": "blue"}])
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False),
    )


def downgrade():
    op.drop_table("tags")
    op.drop_table("colours")
'''

#: Tests run in file order (-p no:randomly); each records the clone it ran in.
RECYCLED = """
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.pgsandbox(isolation="database")
SEEN = {}


def clone_of(url):
    return make_url(url).database


def raw(url):
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database)


async def test_1_writes_and_leaves_session_state(
    pgsandbox_sessionmaker, pgsandbox_connection, pgsandbox_url
):
    SEEN[1] = clone_of(pgsandbox_url)
    async with pgsandbox_sessionmaker() as session:
        await session.execute(text("INSERT INTO items (name) VALUES ('a'), ('b')"))
        await session.execute(text("INSERT INTO tags (item_id) SELECT id FROM items"))
        await session.commit()
    # Written with foreign-key triggers off: still recorded, still undone.
    await pgsandbox_connection.execute(text("SET session_replication_role = replica"))
    await pgsandbox_connection.execute(text("INSERT INTO items (name) VALUES ('c')"))
    await pgsandbox_connection.commit()
    await pgsandbox_connection.execute(text("SET statement_timeout = '4321s'"))
    await pgsandbox_connection.execute(text("SELECT pg_advisory_lock(4242)"))
    await pgsandbox_connection.execute(text("LISTEN pgsandbox_recycle_test"))
    await pgsandbox_connection.commit()


async def test_2_same_clone_back_in_the_templates_state(
    pgsandbox_sessionmaker, pgsandbox_connection, pgsandbox_url
):
    assert clone_of(pgsandbox_url) == SEEN[1]
    async with pgsandbox_sessionmaker() as session:
        assert (await session.execute(text("SELECT count(*) FROM items"))).scalar() == 0
        assert (await session.execute(text("SELECT count(*) FROM tags"))).scalar() == 0
        insert = text("INSERT INTO items (name) VALUES ('z') RETURNING id")
        new_id = (await session.execute(insert)).scalar()
        insert = text("INSERT INTO tags (item_id) VALUES (:i) RETURNING id")
        tag_id = (await session.execute(insert, {"i": new_id})).scalar()
        await session.commit()
    assert (new_id, tag_id) == (1, 1)  # sequences and identities start over
    for setting, default in (("statement_timeout", "0"), ("session_replication_role", "origin")):
        assert (await pgsandbox_connection.execute(text(f"SHOW {setting}"))).scalar() == default
    channels = text("SELECT count(*) FROM pg_listening_channels()")
    listening = await pgsandbox_connection.execute(channels)
    assert listening.scalar() == 0
    await pgsandbox_connection.commit()
    with raw(pgsandbox_url) as other:  # the lock the last test took is free again
        assert other.execute("SELECT pg_try_advisory_lock(4242)").fetchone()[0] is True


def test_3_sync_session_writes(pgsandbox_sync_session, pgsandbox_url):
    assert clone_of(pgsandbox_url) == SEEN[1]
    assert pgsandbox_sync_session.execute(text("SELECT count(*) FROM items")).scalar() == 0
    pgsandbox_sync_session.execute(text("INSERT INTO items (name) VALUES ('s')"))
    pgsandbox_sync_session.commit()


async def test_4_changes_the_schema(pgsandbox_engine, pgsandbox_url):
    assert clone_of(pgsandbox_url) == SEEN[1]
    async with pgsandbox_engine.begin() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM items"))).scalar() == 0
        await conn.execute(text("CREATE TABLE extra (id int)"))
    SEEN[4] = clone_of(pgsandbox_url)


async def test_5_gets_a_fresh_clone_without_the_table(pgsandbox_engine, pgsandbox_url):
    SEEN[5] = clone_of(pgsandbox_url)
    assert SEEN[5] != SEEN[4]
    async with pgsandbox_engine.connect() as conn:
        assert (await conn.execute(text("SELECT to_regclass('extra')"))).scalar() is None


async def test_6_writes_a_table_with_template_rows(pgsandbox_engine, pgsandbox_url):
    assert clone_of(pgsandbox_url) == SEEN[5]
    async with pgsandbox_engine.begin() as conn:
        await conn.execute(text("UPDATE colours SET name = 'green' WHERE id = 1"))


async def test_7_gets_a_fresh_clone_with_the_template_rows(pgsandbox_engine, pgsandbox_url):
    SEEN[7] = clone_of(pgsandbox_url)
    assert SEEN[7] != SEEN[5]
    async with pgsandbox_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT name FROM colours ORDER BY id"))).scalars().all()
    assert rows == ["red", "blue"]


LEFT_OPEN = []


def test_8_leaves_a_connection_open(pgsandbox_url):
    assert clone_of(pgsandbox_url) == SEEN[7]
    conn = raw(pgsandbox_url)
    conn.execute("INSERT INTO items (name) VALUES ('kept open')")
    conn.commit()
    LEFT_OPEN.append(conn)


def test_9_gets_a_fresh_clone(pgsandbox_sync_session, pgsandbox_url):
    assert clone_of(pgsandbox_url) != SEEN[7]
    assert pgsandbox_sync_session.execute(text("SELECT count(*) FROM items")).scalar() == 0
"""


class TestRecycledClones:
    def test_a_clone_is_reset_exactly_or_replaced(
        self, project: Project, admin: AdminConnection
    ) -> None:
        """Rows, sequences and session state are reset; DDL, seeded tables, open
        connections get a fresh clone; the run leaves no database behind."""
        project.add_migration("0002_seeded.py", SEEDED)
        project.pytester.makepyfile(test_recycled=RECYCLED)
        result = project.run("-n", "0", "-v")
        result.assert_outcomes(passed=9)
        result.stdout.fnmatch_lines(
            [
                (
                    "pgsandbox: database isolation: 9 test(s), 5 on a reset clone, 4 fresh "
                    "clone(s); not reset because the test changed the schema: 1, the test wrote "
                    "to tables the template has rows in: 1, a connection the test opened was "
                    "still open: 1"
                ),
            ]
        )
        run_id = run_id_of(result)
        assert [d.name for d in admin.owned_databases() if d.run_id == run_id] == []

    def test_recycling_can_be_turned_off(self, project: Project) -> None:
        """``pgsandbox_recycle = false``: every ``database`` test gets a clone of its own."""
        add_ini(project, "pgsandbox_recycle = false")
        project.pytester.makepyfile(
            test_off="""
            import pytest
            from sqlalchemy import text
            from sqlalchemy.engine import make_url

            pytestmark = pytest.mark.pgsandbox(isolation="database")
            SEEN = set()

            @pytest.mark.parametrize("n", range(3))
            async def test_own_clone(n, pgsandbox_engine, pgsandbox_url):
                SEEN.add(make_url(pgsandbox_url).database)
                assert len(SEEN) == n + 1
                async with pgsandbox_engine.begin() as conn:
                    assert (await conn.execute(text("SELECT count(*) FROM items"))).scalar() == 0
                    await conn.execute(text("INSERT INTO items (name) VALUES ('x')"))
            """
        )
        project.run("-n", "0").assert_outcomes(passed=3)


ONE_CONNECTION = """
import pytest
from sqlalchemy import text

HELD = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name = current_setting('application_name')"
)


async def check(request, maker):
    async with maker() as session:
        name = (await session.execute(text("SELECT current_setting('application_name')"))).scalar()
        assert name.endswith(request.node.name[:20]), name
        # The test's sessions are the only holders of its tag: pgsandbox checks out no
        # connection of its own for a test that did not ask for pgsandbox_connection.
        assert (await session.execute(HELD)).scalar() == 1
    async with maker() as session:  # the same kept connection, tagged already
        assert (await session.execute(HELD)).scalar() == 1


@pytest.mark.pgsandbox(isolation="database")
@pytest.mark.parametrize("n", range(3))
async def test_database(request, n, pgsandbox_sessionmaker):
    await check(request, pgsandbox_sessionmaker)


@pytest.mark.pgsandbox(isolation="shared")
@pytest.mark.parametrize("n", range(3))
async def test_shared(request, n, pgsandbox_sessionmaker):
    await check(request, pgsandbox_sessionmaker)


@pytest.mark.pgsandbox(isolation="shared")
def test_asks_for_the_connection_too_late(request, pgsandbox_sessionmaker):
    request.getfixturevalue("pgsandbox_connection")
"""


class TestConnectionsOfATest:
    def test_sessions_alone_hold_one_connection(self, project: Project) -> None:
        """``database`` (recycled clone) and ``shared`` tests that only use sessions hold
        one connection, tagged with the test; pgsandbox takes none of its own, and a test
        that asks for one too late is told how to ask."""
        project.pytester.makepyfile(test_one_connection=ONE_CONNECTION)
        result = project.run("-n", "0", "-v")
        result.assert_outcomes(passed=6, failed=1)
        result.stdout.fnmatch_lines(
            [
                (
                    "*pgsandbox: this test's sandbox was opened without a connection of its "
                    "own*Name pgsandbox_connection as an argument of the test, or of a "
                    "fixture it uses."
                ),
            ]
        )
