"""The template database: fingerprint the schema's inputs, build it once, reuse it.

A template is named after a hash of everything that decides the schema (alembic.ini,
env.py, every revision file, the schema and seed callables' modules, and
:data:`BUILDER_VERSION`), so an unchanged project reuses it across runs and a changed
migration builds a new one. It is built under a temporary name and renamed only when
complete, under an advisory lock, so a concurrent run either waits for it or reuses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from pgsandbox._admin import AdminConnection, conninfo
from pgsandbox._alembic import ConnectionGuard, alembic_config, alembic_driver, alembic_locations
from pgsandbox._alembic import run_alembic as _run_alembic
from pgsandbox._errors import ConfigurationError, MigrationFailed
from pgsandbox._loading import captured_output, first_lines, load_callable, on_sys_path, tail
from pgsandbox._naming import NAME_PREFIX, advisory_key, template_name

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "BUILDER_VERSION",
    "SchemaSource",
    "TemplateInfo",
    "TemplateRow",
    "alembic_driver",
    "drop_template",
    "ensure_template",
    "fingerprint",
    "list_templates",
    "load_callable",
    "reap_unused_templates",
]

#: Bump when the way templates are built changes, so old templates are not reused.
#: 2: builds are verified at head (builder 1 could cache an empty template when env.py
#: migrated another database), so no template of builder 1 is trusted.
BUILDER_VERSION = "2"

CANARY_DDL = (
    "CREATE SCHEMA IF NOT EXISTS pgsandbox; "
    "CREATE TABLE IF NOT EXISTS pgsandbox.canary ("
    " database name PRIMARY KEY, run_id text NOT NULL,"
    " written_at timestamptz NOT NULL DEFAULT now())"
)
_BUILD_LOCK_WAIT_S = 600.0


@dataclass(frozen=True, slots=True)
class SchemaSource:
    """Where the schema comes from (the ``pgsandbox_*`` ini keys), resolved to paths."""

    rootdir: Path
    alembic_ini: Path | None = None
    schema_callable: str | None = None
    seed_callable: str | None = None
    #: ``pgsandbox_alembic_config``: ``module:callable`` returning the alembic Config.
    alembic_config: str | None = None

    @property
    def uses_alembic(self) -> bool:
        """Whether the schema is built by ``alembic upgrade head``."""
        return self.alembic_ini is not None or bool(self.alembic_config)

    def project_key(self) -> str:
        """Identify the project (not its schema version), to find its older templates."""
        ident = f"{self.rootdir}|{self.alembic_ini}|{self.schema_callable}"
        if self.alembic_config:
            ident += f"|{self.alembic_config}"
        return hashlib.sha256(ident.encode()).hexdigest()[:12]

    def describe(self) -> str:
        """Say in a few words where the schema comes from."""
        if self.alembic_config:
            return f"alembic (Config from {self.alembic_config})"
        if self.alembic_ini is not None:
            return f"alembic ({self._rel(self.alembic_ini)})"
        if self.schema_callable:
            return f"schema callable {self.schema_callable}"
        return "empty schema (no pgsandbox_alembic_ini or pgsandbox_schema set)"

    def _rel(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(self.rootdir))
        return str(path)


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """The template a run clones from."""

    name: str
    fingerprint: str
    action: str  # "built" or "reused"
    seconds: float
    inputs: int


# ---------------------------------------------------------------------- fingerprint
def fingerprint(source: SchemaSource) -> tuple[str, int]:
    """Hash every input that decides the template's content; return (hex, file count)."""
    digest = hashlib.sha256(f"pgsandbox-builder={BUILDER_VERSION}\n".encode())
    files: list[Path] = []
    if source.alembic_ini is not None:
        files.append(source.alembic_ini)
    if source.uses_alembic:
        script_dir, version_dirs = _alembic_locations(source)
        files.extend(
            p for p in (script_dir / "env.py", script_dir / "script.py.mako") if p.is_file()
        )
        for folder in version_dirs:
            files.extend(sorted(folder.rglob("*.py")))
    for spec in (source.schema_callable, source.seed_callable, source.alembic_config):
        if spec:
            digest.update(f"callable={spec}\n".encode())
            origin = _module_file(spec, source.rootdir)
            if origin is not None:
                files.append(origin)
    for path in files:
        digest.update(f"\n--{source._rel(path)}--\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest(), len(files)


#: Where the migrations of a plain alembic.ini are, remembered between runs: finding
#: them means importing alembic (about 90 ms before any worker can start, in every run).
#: Keyed by everything they derive from; a key that no longer matches, or a folder that
#: is gone, makes pgsandbox ask alembic again. Not used with pgsandbox_alembic_config (a
#: factory is code, which may read anything).
_LOCATIONS_FILE = "alembic-locations.json"


def _locations_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pgsandbox" / _LOCATIONS_FILE


def _alembic_locations(source: SchemaSource) -> tuple[Path, list[Path]]:
    """The script folder and version folders of the project's migrations (cached)."""
    ini = source.alembic_ini
    if ini is None or source.alembic_config is not None:
        return alembic_locations(alembic_config(source))
    key = hashlib.sha256(
        f"{BUILDER_VERSION}\n{ini}\n{source.rootdir}\n{Path.cwd()}\n".encode() + ini.read_bytes()
    ).hexdigest()
    cache = _locations_cache()
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    entry = known.get(key) if isinstance(known, dict) else None
    if isinstance(entry, list) and entry and all(Path(p).is_dir() for p in entry):
        return Path(entry[0]), [Path(p) for p in entry[1:]]
    script_dir, version_dirs = alembic_locations(alembic_config(source))
    known = known if isinstance(known, dict) else {}
    known = dict(list(known.items())[-63:])  # a few projects' worth, oldest dropped
    known[key] = [str(script_dir), *(str(p) for p in version_dirs)]
    with contextlib.suppress(OSError):  # a read-only home: ask alembic every run
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}")
        partial.write_text(json.dumps(known))
        partial.replace(cache)
    return script_dir, version_dirs


def _module_file(spec: str, rootdir: Path) -> Path | None:
    module_name = spec.partition(":")[0]
    with on_sys_path(rootdir):
        try:
            found = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            found = None
    if found is None or not found.origin or not Path(found.origin).is_file():
        return None
    return Path(found.origin)


# ---------------------------------------------------------------------- build
def ensure_template(
    admin: AdminConnection,
    server_url: URL,
    source: SchemaSource,
    *,
    run_id: str,
    hold: bool = True,
    rebuild: bool = False,
) -> TemplateInfo:
    """Return the template for the current schema, building it if no run has yet.

    With ``hold`` the run keeps a shared advisory lock on the template until its admin
    connection closes, so no other run reaps it while this one clones from it. With
    ``rebuild`` (``--pgsandbox-rebuild``) an existing template is dropped and built anew.

    Raises:
        MigrationFailed: a migration, the schema callable or the seed callable failed.
        ConfigurationError: a rebuild was asked while another run uses the template.
    """
    started = time.perf_counter()
    fp, inputs = fingerprint(source)
    name = template_name(fp)
    build_key = advisory_key(f"build:{name}")
    if not admin.lock(build_key, timeout_s=_BUILD_LOCK_WAIT_S):
        msg = (
            f"pgsandbox: waited {_BUILD_LOCK_WAIT_S:.0f}s for another run to build template "
            f"{name}. If no other run is active, run with --pgsandbox-reap."
        )
        raise MigrationFailed(msg, revision=None)
    try:
        action = "reused"
        if rebuild and admin.exists(name):
            _drop_unused(admin, name, why="--pgsandbox-rebuild")
        if not admin.exists(name):
            _build(admin, server_url, source, name=name, fingerprint=fp, run_id=run_id)
            action = "built"
        if hold:
            admin.lock(advisory_key(f"use:{name}"), shared=True)
    finally:
        admin.unlock(build_key)
    reap_old_templates(admin, source, keep=name)
    return TemplateInfo(name, fp, action, time.perf_counter() - started, inputs)


def _drop_unused(admin: AdminConnection, name: str, *, why: str) -> None:
    use_key = advisory_key(f"use:{name}")
    if not admin.try_lock(use_key):
        msg = (
            f"pgsandbox: {why}: template {name} is in use by another running test run; "
            "let it finish (or stop it), then run again."
        )
        raise ConfigurationError(msg)
    try:
        admin.drop(name)
    finally:
        admin.unlock(use_key)


@dataclass(frozen=True, slots=True)
class TemplateRow:
    """One template on the server, for ``python -m pgsandbox templates``."""

    name: str
    project: str
    fingerprint: str
    age_s: float | None
    size_bytes: int
    in_use: bool


def list_templates(admin: AdminConnection) -> list[TemplateRow]:
    """Every template pgsandbox built on this server, with its age, size and whether in use."""
    rows = []
    now = time.time()
    for db in admin.owned_databases():
        if db.kind != "template":
            continue
        use_key = advisory_key(f"use:{db.name}")
        free = admin.try_lock(use_key)
        if free:
            admin.unlock(use_key)
        size = admin.conn.execute("SELECT pg_database_size(%s)", (db.name,)).fetchone()
        built = db.meta.get("built_at")
        rows.append(
            TemplateRow(
                name=db.name,
                project=str(db.meta.get("project", "?")),
                fingerprint=str(db.meta.get("fingerprint", "?"))[:12],
                age_s=now - float(built) if isinstance(built, int | float) else None,
                size_bytes=int(size[0]) if size else 0,
                in_use=not free,
            )
        )
    return rows


def drop_template(admin: AdminConnection, name: str) -> None:
    """Drop one template pgsandbox built (un-marking ``IS_TEMPLATE`` first).

    Raises:
        ConfigurationError: no such template of pgsandbox's, or a run is using it.
    """
    meta = admin.comment_of(name)
    if meta is None or meta.get("kind") != "template":
        what = "does not exist" if not admin.exists(name) else "is not a pgsandbox template"
        msg = (
            f"pgsandbox: {name!r} {what}; nothing was dropped. `python -m pgsandbox "
            "templates` lists pgsandbox's templates."
        )
        raise ConfigurationError(msg)
    _drop_unused(admin, name, why="templates --drop")


def reap_old_templates(admin: AdminConnection, source: SchemaSource, *, keep: str) -> list[str]:
    """Drop this project's templates for older schemas that no running run still uses."""
    project = source.project_key()
    return _drop_templates_not_in_use(
        admin,
        [
            db.name
            for db in admin.owned_databases()
            if db.kind == "template" and db.name != keep and db.meta.get("project") == project
        ],
    )


def reap_unused_templates(admin: AdminConnection) -> list[str]:
    """Drop every pgsandbox template, of any project, that no running run holds."""
    return _drop_templates_not_in_use(
        admin, [db.name for db in admin.owned_databases() if db.kind == "template"]
    )


def _drop_templates_not_in_use(admin: AdminConnection, templates: list[str]) -> list[str]:
    """Drop each template whose use lock no running run holds; return those dropped."""
    dropped = []
    for name in templates:
        use_key = advisory_key(f"use:{name}")
        if admin.try_lock(use_key):
            try:
                admin.drop(name)
                dropped.append(name)
            finally:
                admin.unlock(use_key)
    return dropped


def _build(
    admin: AdminConnection,
    server_url: URL,
    source: SchemaSource,
    *,
    name: str,
    fingerprint: str,
    run_id: str,
) -> None:
    build_name = f"{NAME_PREFIX}build_{run_id}"
    admin.create(build_name, meta={"kind": "build", "run": run_id, "created": round(time.time())})
    try:
        target = server_url.set(database=build_name)
        if source.uses_alembic:
            _run_alembic(source, target)
        elif source.schema_callable:
            _run_callable(source.schema_callable, "pgsandbox_schema", source, target)
        if source.seed_callable:
            _run_callable(source.seed_callable, "pgsandbox_seed", source, target)
        with psycopg.connect(autocommit=True, **conninfo(target)) as conn:
            conn.execute(CANARY_DDL)
    except BaseException:
        with contextlib.suppress(Exception):
            admin.drop(build_name)
        raise
    admin.rename(build_name, name)
    admin.mark(
        name,
        {
            "kind": "template",
            "fingerprint": fingerprint,
            "project": source.project_key(),
            "built_by": run_id,
            "built_at": time.time(),
        },
    )
    admin.make_template(name)


def _run_callable(spec: str, ini_key: str, source: SchemaSource, target: URL) -> None:
    func = load_callable(spec, source.rootdir, ini_key)
    url = target.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    with captured_output() as output, ConnectionGuard(str(target.database)) as guard:
        try:
            func(url)
        except Exception as exc:
            if guard.refused:
                raise MigrationFailed(guard.message(), revision=None) from exc
            msg = (
                f"pgsandbox: {ini_key} callable {spec} failed:\n  {type(exc).__name__}: "
                f"{first_lines(exc)}\n{tail(output.getvalue())}  Fix it and run again; no "
                "test ran."
            )
            raise MigrationFailed(msg, revision=None) from exc
    if guard.refused:  # the callable swallowed the refusal
        raise MigrationFailed(guard.message(), revision=None)
