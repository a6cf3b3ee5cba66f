"""Single-operation measurements: clones per strategy, template build against cache hit.

Plain Python on one maintenance connection per server; everything it creates is named
``glossbench_<run>_*`` (or is a pgsandbox template of a throw-away copy of a schema) and is
dropped before it returns.
"""

from __future__ import annotations

import secrets
import shutil
import statistics
import time
from typing import TYPE_CHECKING, Any

from benchmarks._db import admin_connection, create_database, drop_database, migrate
from benchmarks._env import SYNC_DRIVER
from pgsandbox._admin import AdminConnection, connect
from pgsandbox._template import SchemaSource, alembic_driver, ensure_template

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks._servers import BenchServer

__all__ = ["clone_times", "fresh_schema", "template_times"]


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


def clone_times(server: BenchServer, run_id: str, *, repeat: int = 10) -> dict[str, Any]:
    """Median ``CREATE DATABASE … TEMPLATE`` and ``DROP DATABASE`` per clone strategy.

    The template is the benchmark schema (12 tables, migrated once). ``WAL_LOG`` (the
    default since PostgreSQL 15) copies block by block through the WAL; ``FILE_COPY``
    copies files and forces checkpoints.
    """
    template = f"glossbench_{run_id}_clonetpl"
    results: dict[str, Any] = {}
    with admin_connection(server.url) as conn:
        create_database(conn, template)
        migrate(server.url.set(drivername=SYNC_DRIVER, database=template))
        try:
            for strategy in ("WAL_LOG", "FILE_COPY"):
                creates, drops = [], []
                for index in range(repeat):
                    name = f"glossbench_{run_id}_clone{index}"
                    creates.append(
                        create_database(conn, name, template=template, strategy=strategy)
                    )
                    drops.append(drop_database(conn, name))
                results[strategy] = {"create_ms": _ms(creates), "drop_ms": _ms(drops)}
        finally:
            drop_database(conn, template)
    return results


def fresh_schema(alembic_ini: Path, into: Path) -> Path:
    """Copy an alembic project (ini and ``migrations/``) with a nonce: a hash never built."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    source_dir = alembic_ini.parent
    shutil.copy(alembic_ini, into / alembic_ini.name)
    shutil.copytree(
        source_dir / "migrations",
        into / "migrations",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env_py = into / "migrations" / "env.py"
    env_py.write_text(env_py.read_text() + f"\n# benchmark nonce {secrets.token_hex(8)}\n")
    return into / alembic_ini.name


def template_times(
    server: BenchServer, run_id: str, alembic_ini: Path, work_dir: Path, *, repeat: int = 3
) -> dict[str, Any]:
    """pgsandbox template build against cache hit, and a bare ``alembic upgrade head``.

    Each build is of a fresh copy of the project (a nonce in env.py changes the hash), so
    it really builds; the hits then find that template. The copies' templates are dropped.
    """
    builds, hits, upgrades = [], [], []
    admin = AdminConnection(connect(server.url, source="bench", application_name="bench"))
    try:
        for index in range(repeat):
            ini = fresh_schema(alembic_ini, work_dir / "template-bench")
            source = SchemaSource(rootdir=ini.parent, alembic_ini=ini)
            built = ensure_template(
                admin, server.url, source, run_id=f"{run_id}t{index}", hold=False
            )
            builds.append(built.seconds)
            for _ in range(3):
                hit = ensure_template(admin, server.url, source, run_id=run_id, hold=False)
                hits.append(hit.seconds)
            admin.drop(built.name)
        with admin_connection(server.url) as conn:
            for index in range(repeat):
                name = f"glossbench_{run_id}_upgrade{index}"
                create_database(conn, name)
                started = time.perf_counter()
                target = server.url.set(database=name)
                migrate(target, alembic_ini, alembic_driver(alembic_ini))
                upgrades.append(time.perf_counter() - started)
                drop_database(conn, name)
    finally:
        admin.close()
    build_s, hit_s, upgrade_s = (statistics.median(v) for v in (builds, hits, upgrades))
    return {
        "build_s": round(build_s, 3),
        "cache_hit_s": round(hit_s, 4),
        "alembic_upgrade_s": round(upgrade_s, 3),
        "hit_speedup_over_upgrade": round(upgrade_s / hit_s, 1),
        "hit_speedup_over_build": round(build_s / hit_s, 1),
    }
