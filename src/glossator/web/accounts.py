"""Accounts: passwords (argon2id), signing in, server-side sessions, setting passwords.

Passwords are hashed with argon2-cffi's :class:`~argon2.PasswordHasher` (argon2id, its
RFC 9106 "low memory" defaults: 64 MiB and tens of milliseconds of CPU per hash) into
``users.password_hash``. A user without a hash (created by
:func:`glossator.services.find_or_create_user`) cannot sign in until one is set with
``glossator user create --email ... --password ...``.

Every hash runs on :data:`HASHING`, a pool of :data:`HASH_WORKERS` threads with at most
:data:`HASH_QUEUE_LIMIT` hashes waiting or running: a flood of sign-ins cannot take more
memory or CPU than that, and what does not fit is told to come back (:class:`RetryLater`,
503) instead of piling up behind the others.

:func:`authenticate` spends the same hashing time whether or not the address exists, so
response times do not tell which addresses have accounts.

Sessions live in the ``user_sessions`` table: the cookie holds a random token, the table
its SHA-256 (a database leak does not hand out sessions). A session ends when its row is
deleted: at sign-out, when the user gets a new password, and by
``glossator user revoke-sessions``; or when it expires (:data:`SESSION_LIFETIME`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import hashlib
import secrets
import threading
from typing import TYPE_CHECKING, Final, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from glossator import db
from glossator.db.models import User, UserSession
from glossator.errors import NotFound, ValidationError
from glossator.services import UserRecord, normalise_email

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "HASHING",
    "HASH_QUEUE_LIMIT",
    "HASH_WORKERS",
    "MIN_PASSWORD_LENGTH",
    "SESSION_LIFETIME",
    "HashingPool",
    "RetryLater",
    "authenticate",
    "end_session",
    "find_user_by_email",
    "hash_password",
    "revoke_sessions",
    "session_user",
    "set_password",
    "start_session",
    "verify_password",
]

MIN_PASSWORD_LENGTH: Final = 8
_MAX_PASSWORD_LENGTH: Final = 1024
_HASHER: Final = PasswordHasher()
#: Threads that run argon2; each hash holds 64 MiB while it runs.
HASH_WORKERS: Final = 2
#: Hashes running or waiting at most; one more is refused with 503 and Retry-After.
HASH_QUEUE_LIMIT: Final = 16
#: How long a session lasts after sign-in (there is no renewal on activity).
SESSION_LIFETIME: Final = dt.timedelta(days=14)

_Result = TypeVar("_Result")


class RetryLater(Exception):
    """The request is refused for now; the client may try again after ``retry_after`` s.

    Attributes:
        status: The HTTP status to answer (429 for throttling, 503 when busy).
        retry_after: Whole seconds for the ``Retry-After`` header.
        message: What the user is told.
    """

    def __init__(self, status: int, retry_after: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = max(1, retry_after)
        self.message = message


class HashingPool:
    """A small thread pool for argon2 with a cap on the hashes waiting or running.

    Process-wide (CPU and memory are), and usable from any event loop: the waiting is
    done by the executor's queue, not by an asyncio primitive bound to one loop.
    """

    def __init__(self, workers: int, queue_limit: int) -> None:
        """Run at most ``workers`` hashes at once, and hold at most ``queue_limit``."""
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="glossator-argon2"
        )
        self._queue_limit = queue_limit
        self._lock = threading.Lock()
        self._pending = 0
        #: Hashes started since the process began (tests read it; it only grows).
        self.started = 0

    @property
    def pending(self) -> int:
        """Hashes waiting or running now."""
        return self._pending

    async def run(self, function: Callable[..., _Result], *args: str) -> _Result:
        """Run ``function(*args)`` on the pool.

        Raises:
            RetryLater: The pool holds :data:`HASH_QUEUE_LIMIT` hashes already (503).
        """
        with self._lock:
            if self._pending >= self._queue_limit:
                raise RetryLater(503, 2, "the server is busy signing people in; try again shortly")
            self._pending += 1
            self.started += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, function, *args)
        finally:
            with self._lock:
                self._pending -= 1


#: The process's argon2 pool.
HASHING: Final = HashingPool(HASH_WORKERS, HASH_QUEUE_LIMIT)


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


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def set_password(email: str, password: str, display_name: str | None = None) -> UserRecord:
    """Create the user with this address, or update an existing one, with a new password.

    A new password ends every session of the user (in the same transaction).

    Args:
        email: The address; compared case-insensitively.
        password: The new password (hashed here; never stored as given).
        display_name: A new display name; the part before "@" for a new user by default.

    Raises:
        ValidationError: The address, name or password is invalid.
    """
    address = normalise_email(email)
    name = (display_name or address.partition("@")[0]).strip()
    if not name or len(name) > 200:
        raise ValidationError("the display name must be 1 to 200 characters")
    password_hash = await HASHING.run(hash_password, password)
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
        await db_session.execute(delete(UserSession).where(UserSession.user_id == record.id))
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


async def authenticate(email: str, password: str) -> UserRecord | None:
    """Check an address and password (one argon2 run on :data:`HASHING` either way).

    Returns:
        The user, or ``None`` when the address is unknown, has no password, or the
        password is wrong (the caller cannot tell which).

    Raises:
        RetryLater: Too many hashes are waiting already (503).
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
    matches = await HASHING.run(verify_password, stored or _dummy_hash(), password)
    if row is None or stored is None or not matches:
        return None
    return UserRecord.from_row(row)


async def start_session(user_id: int) -> str:
    """Record a new session of the user; return its token (for the cookie only).

    The user's expired sessions are removed on the way, so the table does not grow.
    """
    token = secrets.token_urlsafe(32)
    async with db.session() as db_session:
        await db_session.execute(
            delete(UserSession).where(
                UserSession.user_id == user_id, UserSession.expires_at <= func.now()
            )
        )
        db_session.add(
            UserSession(
                user_id=user_id,
                token_sha256=_token_digest(token),
                expires_at=func.now() + SESSION_LIFETIME,
            )
        )
        await db_session.commit()
    return token


async def session_user(token: str) -> UserRecord | None:
    """The user of the session with this token, or ``None`` when it ended or expired."""
    async with db.session() as db_session:
        row = await db_session.scalar(
            select(User)
            .join(UserSession, UserSession.user_id == User.id)
            .where(
                UserSession.token_sha256 == _token_digest(token),
                UserSession.expires_at > func.now(),
                User.password_hash.is_not(None),
            )
        )
        return None if row is None else UserRecord.from_row(row)


async def end_session(token: str) -> None:
    """End the session with this token (nothing happens when it has ended already)."""
    async with db.session() as db_session:
        await db_session.execute(
            delete(UserSession).where(UserSession.token_sha256 == _token_digest(token))
        )
        await db_session.commit()


async def revoke_sessions(email: str) -> int:
    """End every session of the user with this address; return how many there were.

    Raises:
        NotFound: No user has this address.
        ValidationError: It is not an e-mail address.
    """
    address = normalise_email(email)
    async with db.session() as db_session:
        user_id = await db_session.scalar(select(User.id).where(User.email == address))
        if user_id is None:
            raise NotFound("user", address)
        ended = await db_session.scalars(
            delete(UserSession).where(UserSession.user_id == user_id).returning(UserSession.id)
        )
        count = len(ended.all())
        await db_session.commit()
    return count
