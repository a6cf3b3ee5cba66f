"""Errors pgsandbox raises. Each message says what happened, why, and how to fix it."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "MigrationFailed",
    "PgsandboxError",
    "ServerUnavailable",
]


class PgsandboxError(Exception):
    """Base class of every error pgsandbox raises on purpose.

    The plugin turns these into a clean stop of the run (no traceback), so the message
    must stand on its own: what happened, and the setting or command that fixes it.
    """


class ConfigurationError(PgsandboxError):
    """An option, ini key or marker has a value pgsandbox cannot use."""


class ServerUnavailable(PgsandboxError):
    """No PostgreSQL server could be reached, started, or logged into."""


class MigrationFailed(PgsandboxError):
    """Building the template failed inside a migration, schema or seed callable."""

    def __init__(self, message: str, *, revision: str | None) -> None:
        super().__init__(message)
        self.revision = revision
