"""pgsandbox's whole integration: bind the library's session factory to the test's database."""

import pytest
from library.db import SessionLocal


@pytest.fixture(autouse=True)
def _library_uses_the_sandbox(pgsandbox_sync_session):
    # `transaction` isolation: the test's connection, so every session the app opens is a
    # savepoint of the outer transaction pgsandbox rolls back; `database`: the clone's engine.
    SessionLocal.configure(
        bind=pgsandbox_sync_session.get_bind(), join_transaction_mode="create_savepoint"
    )
    yield
    SessionLocal.configure(bind=None)
