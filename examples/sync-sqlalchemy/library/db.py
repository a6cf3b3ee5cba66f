"""The library's module-global session factory, bound at start-up (as many sync apps do)."""

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

#: Every service opens its sessions from this factory; `init` binds it to the database.
SessionLocal = sessionmaker(expire_on_commit=False)


def init(url: str) -> None:
    """Bind the session factory to the database at ``url`` (the app's start-up)."""
    SessionLocal.configure(bind=create_engine(url))
