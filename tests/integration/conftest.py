"""Integration tests: glossator's services against PostgreSQL through pgsandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import glossator.db

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@pytest.fixture(autouse=True)
def _glossator_uses_sandbox(
    pgsandbox_sessionmaker: async_sessionmaker[AsyncSession],
) -> Iterator[None]:
    """Every session glossator opens joins this test's sandbox."""
    with glossator.db.override_sessionmaker(pgsandbox_sessionmaker):
        yield
