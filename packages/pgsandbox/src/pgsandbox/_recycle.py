"""Reusing a ``database``-isolation clone: reset what a test wrote instead of dropping it.

A fresh clone per test is simple, and its price is not the clone (the warm pool makes
those in the background) but the fresh server processes: every test connects anew,
every connection runs the driver's and SQLAlchemy's set-up queries, and every backend
starts with cold catalogue and plan caches (measured in docs/benchmarks.md: most of the
40-70 ms a ``database`` test used to cost). So a worker keeps one clone, and the engine's
connections to it, from one ``database`` test to the next, and puts the clone back into
the template's state after each test, exactly, or drops it:

* **Rows.** Every table in the clone gets a statement-level trigger (enabled ``ALWAYS``,
  so ``session_replication_role`` cannot silence it) that records, once per transaction,
  that the table was written (``INSERT``, ``UPDATE``, ``DELETE``, ``TRUNCATE``, ``COPY``).
  A rolled-back write rolls its record back with it. After the test each written table
  that was empty in the template is emptied again (``DELETE`` with foreign-key triggers
  off); a written table that has rows in the template makes the clone unusable.
* **Sequences** are set back to the template's values (``setval``).
* **The schema.** An event trigger records any DDL; the clone is then dropped.
* **Anything else a test can leave** (another connection still open, a prepared
  transaction, large objects, ``ALTER DATABASE ... SET``) makes the clone unusable too.
* **Connections** the engine keeps: on their first checkout in the next test they get
  ``RESET ALL``, ``UNLISTEN *``, ``CLOSE ALL``, ``DISCARD TEMP`` and
  ``pg_advisory_unlock_all()``, with the new test's ``application_name``.

An unusable clone is dropped as before and the next test takes a fresh one from the warm
pool. Event triggers and ``session_replication_role`` need a superuser, so recycling is
on only when pgsandbox's role is one (pgsandbox's own cluster, and most CI services);
otherwise every ``database`` test gets a fresh clone. ``pgsandbox_recycle = false`` turns
it off. The tracking objects (schema ``pgsandbox_recycle``, a trigger
``pgsandbox_recycle_dirty`` on every table, event trigger ``pgsandbox_recycle_ddl``)
exist only in ``database``-isolation clones, never in the template.

Plain Python with no pytest import.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "INSTALL_SQL",
    "RESET_CONNECTION_SETUP",
    "RESET_SESSION_SQL",
    "RecycledClone",
    "install_tracking",
    "reset_clone",
]

SCHEMA = "pgsandbox_recycle"

#: Installs the tracking into a fresh clone (one transaction, from the clone pool's thread).
INSTALL_SQL = f"""
CREATE SCHEMA {SCHEMA};
CREATE UNLOGGED TABLE {SCHEMA}.dirty (rel oid NOT NULL);
CREATE UNLOGGED TABLE {SCHEMA}.changed (tag text NOT NULL);
CREATE TABLE {SCHEMA}.seeded (rel oid PRIMARY KEY);
CREATE TABLE {SCHEMA}.sequences (
    schemaname name NOT NULL, sequencename name NOT NULL,
    last_value bigint, start_value bigint NOT NULL
);
CREATE FUNCTION {SCHEMA}.mark() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN
    -- Once per table and transaction: a transaction-local setting remembers it.
    IF current_setting('{SCHEMA}.m' || TG_RELID, true) IS DISTINCT FROM '1' THEN
        INSERT INTO {SCHEMA}.dirty VALUES (TG_RELID);
        PERFORM set_config('{SCHEMA}.m' || TG_RELID, '1', true);
    END IF;
    RETURN NULL;
END $f$;
CREATE FUNCTION {SCHEMA}.ddl() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN
    INSERT INTO {SCHEMA}.changed VALUES (tg_tag);
END $f$;
DO $do$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.oid, c.oid::regclass AS name, c.relkind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', '{SCHEMA}')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
    LOOP
        EXECUTE format(
            'CREATE TRIGGER pgsandbox_recycle_dirty AFTER INSERT OR UPDATE OR DELETE '
            'OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.mark()', r.name);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER pgsandbox_recycle_dirty', r.name);
        EXECUTE format(
            'INSERT INTO {SCHEMA}.seeded SELECT %s WHERE EXISTS (SELECT 1 FROM %s %s)',
            r.oid, CASE WHEN r.relkind = 'r' THEN 'ONLY' ELSE '' END, r.name);
    END LOOP;
END $do$;
INSERT INTO {SCHEMA}.sequences
    SELECT schemaname, sequencename, last_value, start_value FROM pg_sequences
    WHERE schemaname NOT LIKE 'pg\\_temp\\_%';
CREATE FUNCTION {SCHEMA}.reset(keep int[]) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    why text;
    r record;
BEGIN
    SELECT string_agg(DISTINCT tag, ', ') INTO why FROM {SCHEMA}.changed;
    IF why IS NOT NULL THEN
        RETURN 'the test changed the schema (' || why || ')';
    END IF;
    SELECT string_agg(pid::text, ', ') INTO why FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> ALL (keep);
    IF why IS NOT NULL THEN
        RETURN 'busy: other connections are open (pids ' || why || ')';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database()) THEN
        RETURN 'the test left a prepared transaction';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_largeobject_metadata) THEN
        RETURN 'the test created large objects';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
               WHERE d.datname = current_database()) THEN
        RETURN 'the test changed database settings (ALTER DATABASE ... SET)';
    END IF;
    SELECT string_agg(DISTINCT d.rel::regclass::text, ', ') INTO why
        FROM {SCHEMA}.dirty d JOIN {SCHEMA}.seeded s USING (rel);
    IF why IS NOT NULL THEN
        RETURN 'the test wrote to tables the template has rows in (' || why || ')';
    END IF;
    IF EXISTS (SELECT 1 FROM {SCHEMA}.dirty) THEN
        -- Emptied in any order: the caller's session runs with session_replication_role
        -- = replica, so foreign-key (and the project's own) triggers stay quiet.
        FOR r IN SELECT DISTINCT d.rel, c.relkind FROM {SCHEMA}.dirty d
                 JOIN pg_class c ON c.oid = d.rel LOOP
            EXECUTE format('DELETE FROM %s %s',
                           CASE WHEN r.relkind = 'r' THEN 'ONLY' ELSE '' END, r.rel::regclass);
        END LOOP;
        DELETE FROM {SCHEMA}.dirty;  -- the DELETEs above marked their tables again
    END IF;
    FOR r IN SELECT s.* FROM {SCHEMA}.sequences s
             JOIN pg_sequences p USING (schemaname, sequencename)
             WHERE p.last_value IS DISTINCT FROM s.last_value LOOP
        PERFORM setval(format('%I.%I', r.schemaname, r.sequencename)::regclass,
                       coalesce(r.last_value, r.start_value), r.last_value IS NOT NULL);
    END LOOP;
    RETURN '';
END $f$;
CREATE EVENT TRIGGER pgsandbox_recycle_ddl ON ddl_command_end EXECUTE FUNCTION {SCHEMA}.ddl();
ALTER EVENT TRIGGER pgsandbox_recycle_ddl ENABLE ALWAYS;
"""

#: Run on a kept connection at its first checkout in a test (then ``SET application_name``).
RESET_SESSION_SQL = (
    "RESET ALL; CLOSE ALL; UNLISTEN *; DISCARD TEMP; SELECT pg_advisory_unlock_all(); "
)

#: How long a reset waits for connections the test closed to go away on the server.
BUSY_WAIT_S = 2.0


#: The recycle connection's session: ``replica`` keeps the project's triggers and foreign-key
#: checks quiet while a reset empties tables, set once (changing it drops cached plans).
RESET_CONNECTION_SETUP = "SET session_replication_role = replica"


def install_tracking(conn: psycopg.Connection[Any]) -> None:
    """Install the tracking into a fresh clone (``conn``: autocommit, on the clone)."""
    with conn.transaction():
        conn.execute(INSTALL_SQL.encode())


@dataclass(slots=True)
class RecycledClone:
    """One worker's reusable clone: its name, a connection to it, and its engines' pids."""

    name: str
    conn: psycopg.Connection[Any]
    #: Server pids of the pooled connections pgsandbox's engines keep to this clone.
    pids: set[int] = field(default_factory=set)
    #: Bumped for every test; a kept connection whose epoch is older is reset first.
    epoch: int = 0
    uses: int = 0


def reset_clone(clone: RecycledClone, *, busy_wait: float = BUSY_WAIT_S) -> str:
    """Put the clone back into the template's state; return '' or why it cannot be.

    Waits up to ``busy_wait`` seconds for connections the test closed to leave.
    """
    deadline = time.monotonic() + busy_wait
    delay = 0.001
    while True:
        # One statement on an autocommit connection: its own transaction, one round trip
        # (a BEGIN and COMMIT around it would be two more).
        row = clone.conn.execute(
            f"SELECT {SCHEMA}.reset(%s)".encode(), (sorted(clone.pids),)
        ).fetchone()
        why = str(row[0]) if row is not None else "no answer"
        if not why.startswith("busy:") or time.monotonic() > deadline:
            return why
        time.sleep(delay)  # a backend whose client has gone exits within milliseconds
        delay = min(delay * 2, 0.05)
