"""Users: find or create them by e-mail address."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Final

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from glossator import db
from glossator.db.models import User
from glossator.errors import ValidationError
from glossator.services._common import clean_text, get_or_raise

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["UserRecord", "find_or_create_user", "get_user", "normalise_email"]

# Deliberately loose: one "@", no spaces, a dot in the domain. Deliverability is checked
# by sending mail, not by a regular expression.
_EMAIL_PATTERN: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_EMAIL_MAX_LENGTH: Final = 320


@dataclasses.dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the services return it."""

    id: int
    email: str
    display_name: str
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: User) -> UserRecord:
        """Copy the fields of a ``User`` row."""
        return cls(
            id=row.id, email=row.email, display_name=row.display_name, created_at=row.created_at
        )


def normalise_email(email: str) -> str:
    """Return ``email`` stripped and lowercased, the form users are stored and found by.

    Raises:
        ValidationError: It is not an e-mail address.
    """
    address = email.strip().lower()
    if len(address) > _EMAIL_MAX_LENGTH or not _EMAIL_PATTERN.fullmatch(address):
        raise ValidationError(f"{email!r} is not a valid e-mail address")
    return address


async def find_or_create_user(email: str, display_name: str | None = None) -> UserRecord:
    """Return the user with this e-mail address, creating them if there is none.

    Safe against concurrent calls with the same address: both get the same user. An
    existing user's display name is left unchanged.

    Args:
        email: The address; compared case-insensitively.
        display_name: Name for a new user; defaults to the part of the address before "@".

    Raises:
        ValidationError: The address or the display name is invalid.
    """
    address = normalise_email(email)
    name = clean_text(
        address.partition("@")[0] if display_name is None else display_name,
        "display name",
        max_length=200,
    )
    async with db.session() as db_session:
        created = await db_session.scalar(
            insert(User)
            .values(email=address, display_name=name)
            .on_conflict_do_nothing(index_elements=[User.email])
            .returning(User)
        )
        row = created or (await db_session.scalars(select(User).where(User.email == address))).one()
        record = UserRecord.from_row(row)
        await db_session.commit()
    return record


async def get_user(user_id: int) -> UserRecord:
    """Return the user with this id.

    Raises:
        NotFound: There is no such user.
    """
    async with db.session() as db_session:
        return UserRecord.from_row(await get_or_raise(db_session, User, user_id, "user"))
