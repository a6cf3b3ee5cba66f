"""The whole pgsandbox integration of the smoke project: hand the app the session factory."""

import notes
import pytest


@pytest.fixture(autouse=True)
def _notes_use_the_sandbox(pgsandbox_sessionmaker):
    notes.SessionLocal = pgsandbox_sessionmaker
    yield
    notes.SessionLocal = None
