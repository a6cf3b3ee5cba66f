"""Names and advisory-lock keys pgsandbox gives to the databases it creates.

Every database pgsandbox creates starts with ``pgsb_`` and carries a comment starting with
``pgsandbox:``. Both must match before pgsandbox drops anything, so it never touches a
database it did not create.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = [
    "COMMENT_PREFIX",
    "NAME_PREFIX",
    "advisory_key",
    "new_run_id",
    "quote_ident",
    "run_prefix",
    "shared_database_name",
    "template_name",
    "test_database_name",
    "worker_database_name",
]

NAME_PREFIX = "pgsb_"
COMMENT_PREFIX = "pgsandbox:"
_MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1


def new_run_id() -> str:
    """Return a short random id naming one pytest run (all its workers share it)."""
    return secrets.token_hex(4)


def run_prefix(run_id: str) -> str:
    """Return the name prefix every database of the run ``run_id`` starts with."""
    return f"{NAME_PREFIX}{run_id}_"


def worker_database_name(run_id: str, worker_id: str) -> str:
    """Return the name of the database cloned for one xdist worker (or ``main``)."""
    return _checked(f"{run_prefix(run_id)}{worker_id}")


def shared_database_name(run_id: str) -> str:
    """Return the name of the run-wide database ``shared`` tests commit into."""
    return _checked(f"{run_prefix(run_id)}shared")


def test_database_name(run_id: str, worker_id: str, serial: int) -> str:
    """Return the name of the fresh clone a ``database``-isolation test gets."""
    return _checked(f"{run_prefix(run_id)}{worker_id}_t{serial}")


def template_name(fingerprint: str) -> str:
    """Return the template database name for a schema fingerprint."""
    return _checked(f"{NAME_PREFIX}tpl_{fingerprint[:20]}")


def advisory_key(purpose: str) -> int:
    """Map a purpose string to a signed 64-bit key for ``pg_advisory_lock``.

    A hash with a fixed namespace keeps pgsandbox's keys apart from whatever integers
    the application under test locks.
    """
    digest = hashlib.blake2b(f"pgsandbox/{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (database names are always our own, but quote anyway)."""
    return '"' + name.replace('"', '""') + '"'


def _checked(name: str) -> str:
    if len(name) > _MAX_IDENTIFIER:
        msg = f"database name {name!r} is longer than PostgreSQL's 63-byte limit"
        raise ValueError(msg)
    return name
