"""The connection manager's own engines against a real server (no test override)."""

from __future__ import annotations

import pytest_asyncio
from sqlalchemy import text

from glossator.db import ConnectionManager
from glossator.settings import Settings


@pytest_asyncio.fixture
async def manager(pgsandbox_url: str) -> ConnectionManager:
    """A manager of its own (not glossator.db's, which the sandbox overrides)."""
    return ConnectionManager(
        Settings(database_url=pgsandbox_url, application_name="glossator-probe[test]")
    )


class TestRealEngine:
    async def test_session_reaches_the_server_tagged_with_application_name(
        self, manager: ConnectionManager
    ) -> None:
        """Sessions connect lazily and announce the configured application_name."""
        try:
            async with manager.session() as db_session:
                name = await db_session.scalar(text("SELECT current_setting('application_name')"))
            assert name == "glossator-probe[test]"
        finally:
            await manager.dispose_engines()

    async def test_debug_info_counts_checked_out_connections(
        self, manager: ConnectionManager
    ) -> None:
        """While a session holds a connection the pool reports it; afterwards it is back."""
        try:
            async with manager.session() as db_session:
                await db_session.execute(text("SELECT 1"))
                [during] = manager.debug_info()
            [after] = manager.debug_info()
        finally:
            await manager.dispose_engines()
        assert during["checked_out"] == 1
        assert after["checked_out"] == 0
        assert after["checked_in"] == 1
        assert manager.debug_info() == []
