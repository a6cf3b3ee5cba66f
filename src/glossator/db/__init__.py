"""Glossator's database access: the connection manager and the models.

Code gets a session only through :func:`session`::

    async with glossator.db.session() as db_session:
        ...
        await db_session.commit()

Engines are created on first use, one per running event loop, sized from
:class:`glossator.settings.Settings`; nothing connects at import time. Tests hand the
manager their own session factory with :func:`override_sessionmaker`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from glossator.db._manager import ConnectionManager, EnginePoolState

if TYPE_CHECKING:
    import contextlib

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from glossator.settings import Settings

__all__ = [
    "ConnectionManager",
    "EnginePoolState",
    "alembic_ini_path",
    "configure",
    "dispose_engines",
    "get_connection_debug_info",
    "override_sessionmaker",
    "session",
]

_manager = ConnectionManager()


def configure(settings: Settings) -> None:
    """Use ``settings`` for the engines created from now on.

    Without a call, the settings are read with ``Settings.from_env()`` when the first
    engine is created.

    Raises:
        RuntimeError: Engines are open; ``await dispose_engines()`` first.
    """
    _manager.configure(settings)


def session() -> contextlib.AbstractAsyncContextManager[AsyncSession]:
    """Open a session on the current event loop's engine (or the test's override).

    The session does not commit by itself: call ``await db_session.commit()``. Leaving
    the block closes it and rolls back whatever was not committed.

    Returns:
        An async context manager yielding an ``AsyncSession``.
    """
    return _manager.session()


def override_sessionmaker(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> contextlib.AbstractContextManager[None]:
    """Make :func:`session` use ``sessionmaker`` instead of glossator's engines (for tests).

    Example:
        .. code-block:: python

            @pytest.fixture(autouse=True)
            def _glossator_uses_sandbox(pgsandbox_sessionmaker):
                with glossator.db.override_sessionmaker(pgsandbox_sessionmaker):
                    yield

    Returns:
        A (sync) context manager; the override ends when it exits.
    """
    return _manager.override_sessionmaker(sessionmaker)


async def dispose_engines() -> None:
    """Close the current loop's engine; forget engines whose loops are closed.

    Call it before the loop ends (app shutdown, end of a CLI command).
    """
    await _manager.dispose_engines()


def get_connection_debug_info() -> list[EnginePoolState]:
    """Pool state per engine and event loop: size, checked out, overflow, URL without password.

    Returns:
        One entry per engine; empty when no engine was created (or a test override is used).
    """
    return _manager.debug_info()


def alembic_ini_path() -> Path:
    """Path of the ``alembic.ini`` packaged with glossator (its migrations sit next to it)."""
    return Path(str(resources.files("glossator.db").joinpath("alembic.ini")))
