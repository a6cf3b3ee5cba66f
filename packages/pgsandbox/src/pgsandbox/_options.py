"""pgsandbox's command-line flags and ini keys.

Registered through an entry point of their own (``pgsandbox._options``), so that
``-p no:pgsandbox`` turns pgsandbox off while ``--strict-config`` still accepts the
project's ``pgsandbox_*`` ini keys: a unit-test run can skip the database entirely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgsandbox._settings import ISOLATION_MODES

if TYPE_CHECKING:
    import pytest

__all__: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register pgsandbox's command-line flags and ini keys (the flag wins over the key)."""
    group = parser.getgroup("pgsandbox", "pgsandbox: parallel-safe PostgreSQL databases")
    group.addoption(
        "--pgsandbox-url",
        dest="pgsandbox_url",
        metavar="URL",
        default=None,
        help="PostgreSQL server to use (postgresql://user@host:port/postgres). Default: "
        "$PGSANDBOX_URL, else a private cluster pgsandbox starts itself.",
    )
    group.addoption(
        "--pgsandbox-isolation",
        dest="pgsandbox_isolation",
        metavar="MODE",
        default=None,
        help=f"default isolation of database tests: {', '.join(ISOLATION_MODES)} "
        "(ini: pgsandbox_isolation; default transaction).",
    )
    group.addoption(
        "--pgsandbox-keep",
        dest="pgsandbox_keep",
        action="store_true",
        default=False,
        help="keep the run's databases after it ends, for inspection (ini: pgsandbox_keep).",
    )
    group.addoption(
        "--pgsandbox-debug",
        dest="pgsandbox_debug",
        action="store_true",
        default=False,
        help="write per-worker connection logs to .reports/ (ini: pgsandbox_debug).",
    )
    group.addoption(
        "--pgsandbox-report",
        dest="pgsandbox_report",
        metavar="PATH",
        default=None,
        help="write the distribution report as JSON to PATH (ini: pgsandbox_report).",
    )
    group.addoption(
        "--pgsandbox-verify",
        dest="pgsandbox_verify",
        action="store_true",
        default=False,
        help="fail the run unless database tests spread across the workers, no event-loop "
        "error appeared and every canary survived (ini: pgsandbox_verify).",
    )
    group.addoption(
        "--pgsandbox-reap",
        dest="pgsandbox_reap",
        action="store_true",
        default=False,
        help="before starting, drop databases left behind by crashed pgsandbox runs.",
    )
    group.addoption(
        "--pgsandbox-rebuild",
        dest="pgsandbox_rebuild",
        action="store_true",
        default=False,
        help="drop this project's template for the current schema and build it anew "
        "(ini: pgsandbox_rebuild).",
    )
    parser.addini(
        "pgsandbox_rebuild",
        "rebuild the template at the start of every run",
        type="bool",
        default=False,
    )
    parser.addini(
        "pgsandbox_alembic_config",
        "module:callable returning the alembic Config (or a framework's subclass) to "
        "migrate with; called with the alembic.ini path, or with no argument when "
        "pgsandbox_alembic_ini is not set, and with url= (the build database's URL) "
        "when it has a url parameter",
        default="",
    )
    parser.addini(
        "pgsandbox_enable",
        "auto (default: on when pgsandbox_alembic_ini or pgsandbox_schema is set), true (on, "
        "with an empty schema if neither is set) or false (off)",
        default="auto",
    )
    parser.addini(
        "pgsandbox_alembic_ini", "path to alembic.ini, relative to the rootdir", default=""
    )
    parser.addini(
        "pgsandbox_schema",
        "module:callable that builds the schema, given a sync SQLAlchemy URL (instead of alembic)",
        default="",
    )
    parser.addini(
        "pgsandbox_seed",
        "module:callable that seeds the template, given a sync SQLAlchemy URL",
        default="",
    )
    parser.addini(
        "pgsandbox_isolation",
        "default isolation: transaction, database or shared",
        default="transaction",
    )
    parser.addini("pgsandbox_keep", "keep the run's databases", type="bool", default=False)
    parser.addini(
        "pgsandbox_recycle",
        "'database' isolation: reset a worker's clone after each test and reuse it, "
        "instead of a fresh clone per test (needs a superuser; default true)",
        type="bool",
        default=True,
    )
    parser.addini("pgsandbox_debug", "write per-worker connection logs", type="bool", default=False)
    parser.addini(
        "pgsandbox_debug_loggers",
        "with --pgsandbox-debug, also write these loggers' records to the debug logs "
        "(for example the application's connection manager)",
        type="linelist",
        default=[],
    )
    parser.addini("pgsandbox_report", "path of the JSON distribution report", default="")
    parser.addini(
        "pgsandbox_session_class",
        "AsyncSession class of pgsandbox's session factory: module:Class, 'sqlalchemy', or "
        "'auto' (default: SQLModel's when the project imports sqlmodel)",
        default="auto",
    )
    parser.addini(
        "pgsandbox_sync_session_class",
        "Session class of pgsandbox_sync_session: module:Class, 'sqlalchemy' or 'auto'",
        default="auto",
    )
    parser.addini(
        "pgsandbox_session_wait",
        "seconds a session may wait for another task's session on the test's connection "
        "('transaction' isolation) before pgsandbox calls it a deadlock (default 10)",
        default="10",
    )
    parser.addini(
        "pgsandbox_verify", "verify the distribution at the end", type="bool", default=False
    )
