"""The shop's session factory and FastAPI dependency (bound at start-up)."""

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionLocal = async_sessionmaker(class_=AsyncSession, expire_on_commit=False)


def init(url: str) -> None:
    """Bind the factory to the database at ``url`` (the app's start-up)."""
    SessionLocal.configure(bind=create_async_engine(url))


async def get_session() -> AsyncIterator[AsyncSession]:
    """One session per request."""
    async with SessionLocal() as session:
        yield session
