"""The connection manager: lazy engines, one per event loop, and the test override.

These tests create engines but never connect: an engine and a session connect only when
a statement runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import glossator.db
from glossator.db import ConnectionManager
from glossator.settings import Settings

UNUSED_URL = "postgresql+asyncpg://app:hunter2@127.0.0.1:1/never_connected"


def _manager(**changes: Any) -> ConnectionManager:
    return ConnectionManager(Settings(database_url=UNUSED_URL, **changes))


def _overriding(manager: ConnectionManager) -> bool:
    # A call, not the attribute, so mypy does not narrow it across the with block.
    return manager.override_active


async def _open_session(manager: ConnectionManager) -> None:
    async with manager.session() as db_session:
        assert isinstance(db_session, AsyncSession)


class TestLazyEngines:
    def test_no_engine_before_first_session(self) -> None:
        """Creating a manager creates no engine."""
        assert _manager().debug_info() == []

    async def test_first_session_creates_the_loops_engine(self) -> None:
        """The first session in a loop creates that loop's engine, reused afterwards."""
        manager = _manager(pool_size=3, max_overflow=2)
        await _open_session(manager)
        await _open_session(manager)
        [state] = manager.debug_info()
        assert state["current_loop"] is True
        assert state["loop_id"] == id(asyncio.get_running_loop())
        assert state["pool_size"] == 3
        assert state["max_overflow"] == 2
        assert state["checked_out"] == 0
        await manager.dispose_engines()
        assert manager.debug_info() == []

    def test_each_event_loop_gets_its_own_engine(self) -> None:
        """Two loops get two engines; disposing from one drops the other only once closed."""
        manager = _manager()
        first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
        try:
            first.run_until_complete(_open_session(manager))
            second.run_until_complete(_open_session(manager))
            assert {state["loop_id"] for state in manager.debug_info()} == {id(first), id(second)}
            first.close()
            second.run_until_complete(_open_session(manager))
            assert [state["loop_closed"] for state in manager.debug_info()].count(True) == 1
            second.run_until_complete(manager.dispose_engines())
            assert manager.debug_info() == []
        finally:
            first.close()
            second.close()

    async def test_debug_info_hides_the_password(self) -> None:
        """The reported URL never contains the password."""
        manager = _manager()
        await _open_session(manager)
        [state] = manager.debug_info()
        assert "hunter2" not in state["url"]
        assert state["url"].endswith("@127.0.0.1:1/never_connected")
        await manager.dispose_engines()

    async def test_pool_is_sized_for_xdist_workers(self) -> None:
        """With several workers, the engine's pool is the per-worker share."""
        manager = _manager(pool_size=10, max_overflow=10, worker_count=8, connection_budget=40)
        await _open_session(manager)
        [state] = manager.debug_info()
        assert (state["pool_size"], state["max_overflow"]) == (5, 0)
        await manager.dispose_engines()


class TestConfigure:
    async def test_configure_refuses_while_engines_are_open(self) -> None:
        """Changing settings under open engines is an error that says what to do."""
        manager = _manager()
        await _open_session(manager)
        with pytest.raises(RuntimeError, match="dispose_engines"):
            manager.configure(Settings(database_url=UNUSED_URL, pool_size=1))
        await manager.dispose_engines()
        manager.configure(Settings(database_url=UNUSED_URL, pool_size=1))
        assert manager.settings.pool_size == 1

    def test_settings_are_read_from_the_environment_on_first_use(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An unconfigured manager reads GLOSSATOR_* when its settings are first needed."""
        manager = ConnectionManager()
        monkeypatch.setenv("GLOSSATOR_POOL_SIZE", "4")
        assert manager.settings.pool_size == 4


class TestOverride:
    async def test_override_replaces_the_engines(self) -> None:
        """Inside override_sessionmaker, sessions come from the given factory."""
        manager = _manager()
        made: list[AsyncSession] = []

        class RecordingSession(AsyncSession):
            def __init__(self, **options: object) -> None:
                super().__init__(**options)  # type: ignore[arg-type]  # forwarded as received
                made.append(self)

        with manager.override_sessionmaker(async_sessionmaker(class_=RecordingSession)):
            assert _overriding(manager)
            async with manager.session() as db_session:
                assert db_session is made[0]
        assert not _overriding(manager)
        assert manager.debug_info() == []

    def test_overrides_nest_and_unwind(self) -> None:
        """The innermost override wins; leaving it restores the outer one."""
        manager = _manager()
        outer, inner = async_sessionmaker[AsyncSession](), async_sessionmaker[AsyncSession]()
        with manager.override_sessionmaker(outer):
            with manager.override_sessionmaker(inner):
                assert manager._current_sessionmaker() is inner
            assert manager._current_sessionmaker() is outer
        assert not manager.override_active

    def test_override_ends_even_when_the_block_fails(self) -> None:
        """An exception inside the block still removes the override."""
        manager = _manager()

        def fail_inside_override() -> None:
            with manager.override_sessionmaker(async_sessionmaker[AsyncSession]()):
                raise KeyError

        with pytest.raises(KeyError):
            fail_inside_override()
        assert not manager.override_active

    def test_module_functions_use_one_shared_manager(self) -> None:
        """glossator.db.override_sessionmaker acts on the manager behind glossator.db.session."""
        maker = async_sessionmaker[AsyncSession]()
        with glossator.db.override_sessionmaker(maker):
            assert glossator.db._manager.override_active
            assert glossator.db.get_connection_debug_info() == []
