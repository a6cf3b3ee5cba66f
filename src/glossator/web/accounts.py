"""Accounts: passwords (argon2id), signing in, and creating users with a password.

Passwords are hashed with argon2-cffi's :class:`~argon2.PasswordHasher` (argon2id, its
RFC 9106 "low memory" defaults) into ``users.password_hash``. A user without a hash
(created by enrolment or by :func:`glossator.services.find_or_create_user`) cannot sign
in until one is set with ``glossator user create --email ... --password ...``.

:func:`authenticate` spends the same hashing time whether or not the address exists, so
response times do not tell which addresses have accounts.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from glossator import db
from glossator.db.models import User
from glossator.errors import ValidationError
from glossator.services import UserRecord, normalise_email

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "authenticate",
    "find_user_by_email",
    "hash_password",
    "password_fingerprint",
    "session_user",
    "set_password",
    "verify_password",
]

MIN_PASSWORD_LENGTH: Final = 8
_MAX_PASSWORD_LENGTH: Final = 1024
_HASHER: Final = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the address is unknown, so both paths cost one argon2 run.
    return _HASHER.hash("glossator: no such user")


def hash_password(password: str) -> str:
    """Hash a password for storage.

    Raises:
        ValidationError: It is shorter than :data:`MIN_PASSWORD_LENGTH` or absurdly long.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > _MAX_PASSWORD_LENGTH:
        raise ValidationError(f"the password must be at most {_MAX_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a malformed hash)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_fingerprint(password_hash: str | None) -> str:
    """A short digest of the stored hash, kept in the session cookie.

    A session is valid only while the fingerprint matches, so setting a new password
    signs out every other session of the user (the cookie itself cannot be revoked).
    """
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


async def set_password(email: str, password: str, display_name: str | None = None) -> UserRecord:
    """Create the user with this address, or update an existing one, with a new password.

    Args:
        email: The address; compared case-insensitively.
        password: The new password (hashed here; never stored as given).
        display_name: A new display name; the part before "@" for a new user by default.

    Raises:
        ValidationError: The address, name or password is invalid.
    """
    address = normalise_email(email)
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    password_hash = await asyncio.to_thread(hash_password, password)
    name = (display_name or address.partition("@")[0]).strip()
    if not name or len(name) > 200:
        raise ValidationError("the display name must be 1 to 200 characters")
    values: dict[str, object] = {"password_hash": password_hash}
    if display_name is not None:
        values["display_name"] = name
    async with db.session() as db_session:
        row = await db_session.scalar(
            insert(User)
            .values(email=address, display_name=name, password_hash=password_hash)
            .on_conflict_do_update(index_elements=[User.email], set_=values)
            .returning(User)
        )
        assert row is not None
        record = UserRecord.from_row(row)
        await db_session.commit()
    return record


async def find_user_by_email(email: str) -> UserRecord | None:
    """The user with this address, or ``None`` (also for a malformed address)."""
    try:
        address = normalise_email(email)
    except ValidationError:
        return None
    async with db.session() as db_session:
        row = await db_session.scalar(select(User).where(User.email == address))
        return None if row is None else UserRecord.from_row(row)


async def authenticate(email: str, password: str) -> tuple[UserRecord, str] | None:
    """Check an address and password.

    Returns:
        The user and their :func:`password_fingerprint`, or ``None`` when the address is
        unknown, has no password, or the password is wrong (the caller cannot tell which).
    """
    try:
        address = normalise_email(email)
    except ValidationError:
        address = None
    row = None
    if address is not None and len(password) <= _MAX_PASSWORD_LENGTH:
        async with db.session() as db_session:
            row = await db_session.scalar(select(User).where(User.email == address))
    stored = row.password_hash if row is not None else None
    matches = await asyncio.to_thread(verify_password, stored or _dummy_hash(), password)
    if row is None or stored is None or not matches:
        return None
    return UserRecord.from_row(row), password_fingerprint(stored)


async def session_user(user_id: int, fingerprint: str) -> UserRecord | None:
    """The signed-in user of a session, or ``None`` when the session is no longer valid.

    A session stops being valid when its user is deleted or their password changes.
    """
    async with db.session() as db_session:
        row = await db_session.get(User, user_id)
        if row is None or row.password_hash is None:
            return None
        if password_fingerprint(row.password_hash) != fingerprint:
            return None
        return UserRecord.from_row(row)
