"""pgsandbox's whole integration: the app's session dependency uses the test's sessions."""

import pytest
from shop.db import get_session
from shop.main import app


@pytest.fixture(autouse=True)
def _shop_uses_the_sandbox(pgsandbox_sessionmaker):
    async def sandbox_session():
        async with pgsandbox_sessionmaker() as session:
            yield session

    app.dependency_overrides[get_session] = sandbox_session
    yield
    app.dependency_overrides.clear()
