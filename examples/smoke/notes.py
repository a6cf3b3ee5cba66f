"""A tiny application: notes stored through a session factory the app owns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from sqlalchemy.orm import Session

#: Set by the application at start-up (tests: conftest.py hands it pgsandbox's).
SessionLocal: async_sessionmaker[AsyncSession] | None = None


def _factory() -> async_sessionmaker[AsyncSession]:
    if SessionLocal is None:
        msg = "notes.SessionLocal is not set"
        raise RuntimeError(msg)
    return SessionLocal


async def add_note(body: str) -> int:
    """Store a note and commit; return its id."""
    async with _factory()() as session:
        note_id = (
            await session.execute(
                text("INSERT INTO notes (body) VALUES (:b) RETURNING id"), {"b": body}
            )
        ).scalar_one()
        await session.commit()
        return int(note_id)


async def count_notes() -> int:
    """How many notes there are."""
    async with _factory()() as session:
        return int((await session.execute(text("SELECT count(*) FROM notes"))).scalar_one())


def add_note_sync(session: Session, body: str) -> None:
    """The same, for sync code."""
    session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
    session.commit()
