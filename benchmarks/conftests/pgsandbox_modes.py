"""Strategies 1-3: pgsandbox, isolation chosen by ``--pgsandbox-isolation``.

This is the whole integration a project writes: hand pgsandbox's session factory over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@pytest.fixture
def bench_sessionmaker(
    pgsandbox_sessionmaker: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """pgsandbox's session factory (transaction, database or shared isolation)."""
    return pgsandbox_sessionmaker
