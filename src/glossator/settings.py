"""Glossator's configuration: read once from the environment into a frozen object.

Nothing here runs at import time. Call :meth:`Settings.from_env` where the program starts
(the CLI, an app factory, a test) and pass the result on.

Environment variables:

==============================  ==========================================================
``GLOSSATOR_DATABASE_URL``      SQLAlchemy URL, asyncpg form
                                (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/glossator``)
``GLOSSATOR_POOL_SIZE``         connections kept open per engine (default 5)
``GLOSSATOR_MAX_OVERFLOW``      extra connections allowed under load (default 5)
``GLOSSATOR_POOL_TIMEOUT``      seconds to wait for a free connection (default 30)
``GLOSSATOR_POOL_RECYCLE``      seconds before a connection is replaced; -1 never (default -1)
``GLOSSATOR_CONNECTION_BUDGET`` connections all processes of one run may hold together
                                (default 80, below PostgreSQL's default ``max_connections``
                                of 100); divided between pytest-xdist workers
``GLOSSATOR_ECHO``              log every SQL statement (``1``/``true``/``yes``/``on``)
``GLOSSATOR_APPLICATION_NAME``  ``application_name`` shown in ``pg_stat_activity``
                                (default ``glossator``; the xdist worker id is appended)
``GLOSSATOR_SECRET_KEY``         signs the web app's session cookies (at least 32
                                characters); ``glossator serve`` refuses to start without
                                one unless ``GLOSSATOR_DEV`` is on
``GLOSSATOR_DEV``               development mode (``1``): allows the insecure built-in
                                secret key (default off)
``GLOSSATOR_COOKIE_SECURE``     mark the session cookie ``Secure`` (``1``), so browsers
                                send it over HTTPS only; turn on wherever the app is
                                served over HTTPS (default off: plain-HTTP ``serve``)
``GLOSSATOR_MAX_UPLOAD_BYTES``  the largest upload the web app accepts (default 5 MiB)
``PYTEST_XDIST_WORKER_COUNT``   set by pytest-xdist; shrinks each worker's pool
``PYTEST_XDIST_WORKER``         set by pytest-xdist; tags ``application_name``
==============================  ==========================================================
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Final

from glossator.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DEFAULT_DATABASE_URL", "PoolLimits", "Settings", "pool_limits_for_workers"]

DEFAULT_DATABASE_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/glossator"

_TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS: Final = frozenset({"0", "false", "no", "off", ""})


@dataclasses.dataclass(frozen=True, slots=True)
class PoolLimits:
    """How many connections one engine may open.

    Attributes:
        pool_size: Connections the pool keeps open.
        max_overflow: Connections it may open on top of ``pool_size`` under load.
    """

    pool_size: int
    max_overflow: int

    @property
    def max_connections(self) -> int:
        """The most connections one engine can hold at once."""
        return self.pool_size + self.max_overflow


def pool_limits_for_workers(
    pool_size: int, max_overflow: int, *, worker_count: int, connection_budget: int
) -> PoolLimits:
    """Shrink the configured pool so that all xdist workers together stay within budget.

    Each pytest-xdist worker is a separate process with its own engines, so ``N`` workers
    with a pool of ``P + O`` connections can hold ``N * (P + O)`` connections; beyond the
    server's ``max_connections`` the next connect fails with "too many clients". Each
    worker gets ``connection_budget // worker_count`` connections, never fewer than one,
    and never more than configured.

    Args:
        pool_size: Configured pool size.
        max_overflow: Configured overflow.
        worker_count: Number of processes sharing the server (1 without xdist).
        connection_budget: Connections all those processes may hold together.

    Returns:
        The limits one engine in one worker should use.
    """
    if worker_count <= 1:
        return PoolLimits(pool_size=pool_size, max_overflow=max_overflow)
    per_worker = max(1, connection_budget // worker_count)
    sized_pool = max(1, min(pool_size, per_worker))
    sized_overflow = max(0, min(max_overflow, per_worker - sized_pool))
    return PoolLimits(pool_size=sized_pool, max_overflow=sized_overflow)


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Glossator's configuration.

    Attributes:
        database_url: SQLAlchemy URL in asyncpg form (``postgresql+asyncpg://...``).
        pool_size: Connections each engine keeps open (before xdist sizing).
        max_overflow: Extra connections each engine may open under load.
        pool_timeout: Seconds to wait for a free connection before failing.
        pool_recycle: Seconds after which a connection is replaced; -1 for never.
        connection_budget: Connections all processes of one test run may hold together.
        echo: Log every SQL statement.
        application_name: ``application_name`` reported to PostgreSQL.
        worker_count: Processes sharing the server (pytest-xdist workers; 1 otherwise).
        secret_key: Signs the web app's session cookies; empty means none was set.
        dev_mode: Development mode: the web app may use an insecure built-in secret key.
        cookie_secure: Mark the session cookie ``Secure`` (sent over HTTPS only).
        max_upload_bytes: The largest request body an upload route of the web app accepts.
    """

    database_url: str = DEFAULT_DATABASE_URL
    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout: float = 30.0
    pool_recycle: int = -1
    connection_budget: int = 80
    echo: bool = False
    application_name: str = "glossator"
    worker_count: int = 1
    secret_key: str = dataclasses.field(default="", repr=False)
    dev_mode: bool = False
    cookie_secure: bool = False
    max_upload_bytes: int = 5 * 1024 * 1024

    def __post_init__(self) -> None:
        """Reject values no engine could work with."""
        if not self.database_url.startswith("postgresql+asyncpg://"):
            raise ConfigurationError(
                "GLOSSATOR_DATABASE_URL must use the asyncpg driver "
                "('postgresql+asyncpg://user@host:port/dbname'), "
                f"got {_redact(self.database_url)!r}"
            )
        for name in ("pool_size", "connection_budget", "worker_count", "max_upload_bytes"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_overflow < 0:
            raise ConfigurationError(f"max_overflow must not be negative, got {self.max_overflow}")
        if self.pool_timeout <= 0:
            raise ConfigurationError(f"pool_timeout must be positive, got {self.pool_timeout}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from environment variables (see the module docstring).

        Args:
            environ: The variables to read; ``os.environ`` when omitted.

        Returns:
            The settings, with defaults for every variable not set.

        Raises:
            ConfigurationError: A variable holds a value that cannot be used; the message
                names the variable.
        """
        env = os.environ if environ is None else environ
        defaults = cls()
        worker_id = env.get("PYTEST_XDIST_WORKER", "").strip()
        application_name = env.get("GLOSSATOR_APPLICATION_NAME", "").strip() or "glossator"
        if worker_id:
            application_name = f"{application_name}[{worker_id}]"
        return cls(
            database_url=env.get("GLOSSATOR_DATABASE_URL", "").strip() or defaults.database_url,
            pool_size=_int(env, "GLOSSATOR_POOL_SIZE", defaults.pool_size),
            max_overflow=_int(env, "GLOSSATOR_MAX_OVERFLOW", defaults.max_overflow),
            pool_timeout=_float(env, "GLOSSATOR_POOL_TIMEOUT", defaults.pool_timeout),
            pool_recycle=_int(env, "GLOSSATOR_POOL_RECYCLE", defaults.pool_recycle),
            connection_budget=_int(env, "GLOSSATOR_CONNECTION_BUDGET", defaults.connection_budget),
            echo=_bool(env, "GLOSSATOR_ECHO", defaults.echo),
            # PostgreSQL truncates application_name to 63 bytes; keep the worker tag visible.
            application_name=application_name[-63:],
            worker_count=_int(env, "PYTEST_XDIST_WORKER_COUNT", defaults.worker_count),
            secret_key=env.get("GLOSSATOR_SECRET_KEY", "").strip(),
            dev_mode=_bool(env, "GLOSSATOR_DEV", defaults.dev_mode),
            cookie_secure=_bool(env, "GLOSSATOR_COOKIE_SECURE", defaults.cookie_secure),
            max_upload_bytes=_int(env, "GLOSSATOR_MAX_UPLOAD_BYTES", defaults.max_upload_bytes),
        )

    def pool_limits(self) -> PoolLimits:
        """The pool limits for one engine, shrunk for the number of xdist workers."""
        return pool_limits_for_workers(
            self.pool_size,
            self.max_overflow,
            worker_count=self.worker_count,
            connection_budget=self.connection_budget,
        )

    @property
    def redacted_database_url(self) -> str:
        """``database_url`` with any password replaced by ``***``, safe to print."""
        return _redact(self.database_url)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ConfigurationError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")
