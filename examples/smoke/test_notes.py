"""Each test starts from the migrated, empty schema, whatever the others committed."""

import notes
import pytest
from sqlalchemy import text


@pytest.mark.parametrize("n", range(6))
async def test_commits_are_rolled_back_after_each_test(n):
    for i in range(n + 1):
        await notes.add_note(f"note {i}")
    assert await notes.count_notes() == n + 1


@pytest.mark.pgsandbox(isolation="database")
async def test_a_fresh_clone_sees_other_connections_commits(pgsandbox_engine):
    await notes.add_note("committed for real")
    async with pgsandbox_engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 1


@pytest.mark.parametrize("n", range(3))
def test_sync_sessions_are_isolated_too(pgsandbox_sync_session, n):
    for i in range(n + 1):
        notes.add_note_sync(pgsandbox_sync_session, f"sync {i}")
    count = pgsandbox_sync_session.execute(text("SELECT count(*) FROM notes")).scalar_one()
    assert count == n + 1


def test_the_schema_is_at_head(pgsandbox_sync_session):
    version = pgsandbox_sync_session.execute(text("SELECT version_num FROM alembic_version"))
    assert version.scalar_one() == "0001_notes"
