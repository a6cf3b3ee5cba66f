"""The strategies the benchmark compares, and the pytest arguments each one runs with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import URL

__all__ = ["STRATEGIES", "Strategy", "by_key"]


@dataclass(frozen=True, slots=True)
class Strategy:
    """One way of giving database tests their database.

    Attributes:
        key: short name used in ``bench.json`` and on the command line.
        label: what the table and chart call it.
        conftest: module of ``benchmarks.conftests`` copied as the suite's conftest.
        uses_pgsandbox: whether pgsandbox is on (the others run with ``-p no:pgsandbox``).
        isolation: pgsandbox's isolation mode, for pgsandbox strategies.
        mixed: 15% of the suite's tests are marked ``database`` isolation (3 in 20), the
            rest run in ``isolation``: a project that needs real commits here and there.
    """

    key: str
    label: str
    conftest: str
    uses_pgsandbox: bool = False
    isolation: str = ""
    mixed: bool = False

    def pytest_args(self, server: URL, run_id: str, alembic_ini: Path) -> list[str]:
        """Arguments that select this strategy (plugins on and off, options)."""
        if self.uses_pgsandbox:
            return [
                "-p",
                "no:pytest_postgresql",
                f"--pgsandbox-url={server.render_as_string(hide_password=False)}",
                f"--pgsandbox-isolation={self.isolation}",
                "-o",
                f"pgsandbox_alembic_ini={alembic_ini}",
            ]
        args = ["-p", "no:pgsandbox"]
        if self.key != "per_test_db":
            return [*args, "-p", "no:pytest_postgresql"]
        args += [
            f"--postgresql-host={server.host}",
            f"--postgresql-port={server.port or 5432}",
            f"--postgresql-user={server.username}",
            f"--postgresql-dbname=glossbench_{run_id}_pp",
            "--postgresql-load=benchmarks._db:load_schema",
        ]
        if server.password:
            args.append(f"--postgresql-password={server.password}")
        return args


STRATEGIES = (
    Strategy("transaction", "pgsandbox transaction", "pgsandbox_modes", True, "transaction"),
    Strategy("database", "pgsandbox database", "pgsandbox_modes", True, "database"),
    Strategy("shared", "pgsandbox shared", "pgsandbox_modes", True, "shared"),
    Strategy(
        "mix",
        "pgsandbox 85% transaction + 15% database",
        "pgsandbox_modes",
        True,
        "transaction",
        mixed=True,
    ),
    Strategy("nullpool", "NullPool per test", "nullpool_per_test"),
    Strategy("per_test_db", "database per test (pytest-postgresql)", "database_per_test"),
    Strategy("migrate_per_worker", "migrate per worker + TRUNCATE", "migrate_per_worker"),
    Strategy("per_worker_delete", "create_all per worker + DELETE", "per_worker_delete"),
    Strategy("pooled", "one pooled engine, no isolation (floor)", "pooled_engine"),
)


def by_key(keys: list[str]) -> list[Strategy]:
    """The strategies named by ``keys``, in the canonical order.

    Raises:
        ValueError: a key names no strategy.
    """
    known = {s.key for s in STRATEGIES}
    unknown = [k for k in keys if k not in known]
    if unknown:
        msg = f"unknown strategies {unknown}; choose from {sorted(known)}"
        raise ValueError(msg)
    return [s for s in STRATEGIES if s.key in keys]
