"""Helpers shared by the service modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from glossator.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql.selectable import ForUpdateParameter

__all__ = ["clean_text", "constraint_name", "get_or_raise"]

_Model = TypeVar("_Model")


async def get_or_raise(
    db_session: AsyncSession,
    model: type[_Model],
    key: int,
    entity: str,
    *,
    lock: ForUpdateParameter = None,
) -> _Model:
    """Load ``model`` by primary key (locking it as ``lock`` says) or raise :class:`NotFound`."""
    row = await db_session.get(model, key, with_for_update=lock)
    if row is None:
        raise NotFound(entity, key)
    return row


def clean_text(value: str, field: str, *, max_length: int) -> str:
    """Strip ``value``; reject it when empty or longer than ``max_length``."""
    cleaned = value.strip()
    if not cleaned:
        raise ValidationError(f"{field} must not be empty")
    if len(cleaned) > max_length:
        raise ValidationError(f"{field} must be at most {max_length} characters")
    return cleaned


def constraint_name(error: DBAPIError) -> str | None:
    """Name of the constraint a database error violated, whichever driver raised it."""
    driver_error = error.orig
    # asyncpg: SQLAlchemy's adapter wraps the asyncpg exception as __cause__.
    for candidate in (driver_error, getattr(driver_error, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if isinstance(name, str):
            return name
    # psycopg: the name is in the diagnostics.
    diag = getattr(driver_error, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name if isinstance(name, str) else None
