"""pgsandbox's whole integration: advanced-alchemy's config hands out the test's sessions."""

import pytest
from box_office.db import alchemy


@pytest.fixture(autouse=True)
def _box_office_uses_the_sandbox(pgsandbox_sessionmaker, monkeypatch):
    # The plugin puts it in the app's state at start-up (the request sessions), and
    # alchemy.get_session() (the listener's own session) makes its sessions from it too.
    monkeypatch.setattr(alchemy, "session_maker", pgsandbox_sessionmaker)
