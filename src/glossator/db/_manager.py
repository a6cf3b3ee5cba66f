"""The connection manager: engines per event loop, sessions, and the test hook.

An ``AsyncEngine``'s pooled asyncpg connections belong to the event loop they were opened
in; using them from another loop fails with "Future attached to a different loop" or
"another operation is in progress". So the manager keeps one engine per running loop
(keyed weakly by the loop object, so a loop that is gone drops out) and creates it on the
first :func:`session` in that loop. Nothing connects, and nothing reads the environment,
until then.

Tests do not use these engines at all: :func:`override_sessionmaker` makes
:func:`session` hand out sessions from the test's session factory (pgsandbox's
``pgsandbox_sessionmaker``), which joins the test's transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import weakref
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from glossator.settings import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

__all__ = ["ConnectionManager", "EnginePoolState"]

#: Structured debug records (``extra={"event": ...}``). pgsandbox's ``--pgsandbox-debug``
#: writes them into its per-worker JSONL logs (ini ``pgsandbox_debug_loggers``).
_log = logging.getLogger("glossator.db")


class EnginePoolState(TypedDict):
    """Pool state of one engine, as reported by :meth:`ConnectionManager.debug_info`."""

    loop_id: int
    current_loop: bool
    loop_closed: bool
    url: str
    pool_size: int
    checked_out: int
    checked_in: int
    overflow: int
    max_overflow: int
    status: str


@dataclasses.dataclass(slots=True)
class _LoopEngine:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    loop_id: int


class ConnectionManager:
    """Owns glossator's engines: one per running event loop, created lazily.

    Glossator uses the module-level instance through the functions of
    :mod:`glossator.db`; separate instances exist for tests of the manager itself.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        """Create a manager; ``settings`` default to ``Settings.from_env()`` at first use."""
        self._settings = settings
        self._engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopEngine] = (
            weakref.WeakKeyDictionary()
        )
        self._overrides: list[async_sessionmaker[AsyncSession]] = []

    # ------------------------------------------------------------------ configuration

    @property
    def settings(self) -> Settings:
        """The settings in use; read from the environment on first access if not configured."""
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings

    def configure(self, settings: Settings) -> None:
        """Use ``settings`` for engines created from now on.

        Raises:
            RuntimeError: Engines exist already; they would keep the old settings, so
                ``await dispose_engines()`` first.
        """
        if len(self._engines):
            raise RuntimeError(
                "glossator.db.configure() called while engines are open; "
                "await glossator.db.dispose_engines() first"
            )
        self._settings = settings

    # ------------------------------------------------------------------ sessions

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Open a session; it is closed (rolling back anything uncommitted) on exit."""
        debug = _log.isEnabledFor(logging.DEBUG)
        if debug:
            _log.debug(
                "session_begin", extra={"event": "session_begin", "override": bool(self._overrides)}
            )
        async with self._current_sessionmaker()() as db_session:
            yield db_session
        if debug:
            _log.debug("session_end", extra={"event": "session_end"})

    def _current_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        if self._overrides:
            return self._overrides[-1]
        return self._engine_for_running_loop().sessionmaker

    def _engine_for_running_loop(self) -> _LoopEngine:
        loop = asyncio.get_running_loop()
        loop_engine = self._engines.get(loop)
        if loop_engine is None:
            engine = self._create_engine()
            loop_engine = _LoopEngine(
                engine=engine,
                sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
                loop_id=id(loop),
            )
            self._engines[loop] = loop_engine
            _log.debug(
                "engine_created",
                extra={
                    "event": "engine_created",
                    "loop_id": id(loop),
                    "url": engine.url.render_as_string(hide_password=True),
                    "pool_size": engine.pool.size() if hasattr(engine.pool, "size") else None,
                },
            )
        return loop_engine

    def _create_engine(self) -> AsyncEngine:
        settings = self.settings
        limits = settings.pool_limits()
        return create_async_engine(
            settings.database_url,
            pool_size=limits.pool_size,
            max_overflow=limits.max_overflow,
            pool_timeout=settings.pool_timeout,
            pool_recycle=settings.pool_recycle,
            pool_pre_ping=False,
            echo=settings.echo,
            connect_args={"server_settings": {"application_name": settings.application_name}},
        )

    @contextlib.contextmanager
    def override_sessionmaker(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> Iterator[None]:
        """Make :meth:`session` use ``sessionmaker`` instead of the engines, until exit.

        Overrides nest; the innermost wins.
        """
        self._overrides.append(sessionmaker)
        try:
            yield
        finally:
            self._overrides.remove(sessionmaker)

    # ------------------------------------------------------------------ shutdown

    async def dispose_engines(self) -> None:
        """Close the current loop's engine and forget engines of loops that are closed.

        An engine of another loop that is still running is left alone: closing its
        connections from here would be exactly the cross-loop use this class prevents.
        Engines of closed loops are dropped without closing their connections (that would
        need their loop); the server ends those sessions when the sockets go away.
        """
        current = asyncio.get_running_loop()
        for loop, loop_engine in list(self._engines.items()):
            if loop is current:
                del self._engines[loop]
                await loop_engine.engine.dispose()
                _log.debug(
                    "engine_disposed", extra={"event": "engine_disposed", "loop_id": id(loop)}
                )
            elif loop.is_closed():
                del self._engines[loop]
                loop_engine.engine.sync_engine.dispose(close=False)

    # ------------------------------------------------------------------ diagnostics

    def debug_info(self) -> list[EnginePoolState]:
        """Describe every engine's pool: which loop owns it, and how many connections are out."""
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        states: list[EnginePoolState] = []
        for loop, loop_engine in list(self._engines.items()):
            pool = loop_engine.engine.sync_engine.pool
            states.append(
                EnginePoolState(
                    loop_id=loop_engine.loop_id,
                    current_loop=loop is current,
                    loop_closed=loop.is_closed(),
                    url=loop_engine.engine.url.render_as_string(hide_password=True),
                    pool_size=_pool_int(pool, "size"),
                    checked_out=_pool_int(pool, "checkedout"),
                    checked_in=_pool_int(pool, "checkedin"),
                    overflow=_pool_int(pool, "overflow"),
                    max_overflow=getattr(pool, "_max_overflow", 0),
                    status=pool.status(),
                )
            )
        return states

    @property
    def override_active(self) -> bool:
        """Whether :meth:`session` currently hands out sessions from an override."""
        return bool(self._overrides)


def _pool_int(pool: object, method: str) -> int:
    # QueuePool and its async variant have these; other pool classes may not.
    reader = getattr(pool, method, None)
    return int(reader()) if callable(reader) else 0
