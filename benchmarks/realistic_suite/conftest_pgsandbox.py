"""The realistic suite's database through pgsandbox (copied into the suite as conftest.py).

As glossator's own ``tests/integration/conftest.py``: every session glossator opens comes
from pgsandbox's session factory, isolated by the test's mode (``transaction`` unless
marked ``database`` or ``shared``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import glossator.db

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytest_plugins = ("benchmarks.realistic_suite.fixtures",)


@pytest.fixture(autouse=True)
def _glossator_uses_sandbox(
    pgsandbox_sessionmaker: async_sessionmaker[AsyncSession],
) -> Iterator[None]:
    """Every session glossator opens joins this test's sandbox."""
    with glossator.db.override_sessionmaker(pgsandbox_sessionmaker):
        yield
