"""Which session classes pgsandbox's sessionmakers make: the project's own, if it has one.

An app written for SQLModel calls ``session.exec()``, which SQLAlchemy's ``AsyncSession``
lacks. pgsandbox's factories therefore make the project's classes:

* ini ``pgsandbox_session_class`` / ``pgsandbox_sync_session_class`` name them
  (``module:Class``; an ``AsyncSession`` subclass and a ``Session`` subclass), or
  ``sqlalchemy`` for SQLAlchemy's own;
* unset (``auto``), SQLModel's ``AsyncSession`` / ``Session`` when the project has
  imported ``sqlmodel`` by the time the test starts (the app's models import it), else
  SQLAlchemy's own;
* the fixtures ``pgsandbox_session_class`` / ``pgsandbox_sync_session_class`` return the
  choice and can be overridden in a conftest, per directory or module.

Leak tracking and savepoint joining stay: the sync session a factory makes (the
``sync_session_class`` of an async one) is a subclass of the project's, with pgsandbox's
event listeners (see ``ConnectionTracker.session_class``).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from pgsandbox._errors import ConfigurationError

if TYPE_CHECKING:
    import pytest

__all__ = ["async_session_class", "sync_base_of", "sync_session_class"]

ASYNC_KEY = "pgsandbox_session_class"
SYNC_KEY = "pgsandbox_sync_session_class"
_SQLMODEL_ASYNC = "sqlmodel.ext.asyncio.session:AsyncSession"
_SQLMODEL_SYNC = "sqlmodel.orm.session:Session"


def async_session_class(config: pytest.Config) -> type[AsyncSession]:
    """The ``AsyncSession`` class pgsandbox's async factories make, per the ini key."""
    return _resolve(config, ASYNC_KEY, _SQLMODEL_ASYNC, AsyncSession)  # checked there


def sync_session_class(config: pytest.Config) -> type[Session]:
    """The sync ``Session`` class of ``pgsandbox_sync_session``, per the ini key."""
    return _resolve(config, SYNC_KEY, _SQLMODEL_SYNC, Session)  # checked there


def sync_base_of(async_class: type[AsyncSession]) -> type[Session]:
    """The sync session class an ``AsyncSession`` class wraps (SQLModel's has its own)."""
    base = getattr(async_class, "sync_session_class", None)
    return base if isinstance(base, type) and issubclass(base, Session) else Session


def _resolve(config: pytest.Config, key: str, sqlmodel: str, base: type[Any]) -> type[Any]:
    raw = str(config.getini(key) or "auto").strip()
    if raw == "sqlalchemy":
        return base
    if raw == "auto":
        # Imported by the project, not merely installed: sqlmodel's Session warns on
        # execute(), which a project that never chose SQLModel should not be told.
        return _load(sqlmodel, key, base) if "sqlmodel" in sys.modules else base
    return _load(raw, key, base)


def _load(spec: str, key: str, base: type[Any]) -> type[Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        msg = f"pgsandbox: {key} = {spec!r} must be 'package.module:Class', 'sqlalchemy' or 'auto'."
        raise ConfigurationError(msg)
    try:
        found = getattr(importlib.import_module(module_name), attr, None)
    except ImportError as exc:
        msg = f"pgsandbox: {key} = {spec!r}: cannot import {module_name!r}: {exc}"
        raise ConfigurationError(msg) from None
    if not (isinstance(found, type) and issubclass(found, base)):
        msg = (
            f"pgsandbox: {key} = {spec!r} is not a subclass of SQLAlchemy's "
            f"{base.__module__}.{base.__name__}."
        )
        raise ConfigurationError(msg)
    return found
