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
import importlib
import importlib.util
import io
import logging
import re
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from pgsandbox._admin import AdminConnection, conninfo
from pgsandbox._errors import ConfigurationError, MigrationFailed
from pgsandbox._naming import NAME_PREFIX, advisory_key, template_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "BUILDER_VERSION",
    "SchemaSource",
    "TemplateInfo",
    "ensure_template",
    "fingerprint",
    "load_callable",
    "reap_unused_templates",
]

#: Bump when the way templates are built changes, so old templates are not reused.
BUILDER_VERSION = "1"

CANARY_DDL = (
    "CREATE SCHEMA IF NOT EXISTS pgsandbox; "
    "CREATE TABLE IF NOT EXISTS pgsandbox.canary ("
    " database name PRIMARY KEY, run_id text NOT NULL,"
    " written_at timestamptz NOT NULL DEFAULT now())"
)
_BUILD_LOCK_WAIT_S = 600.0
_FALLBACK_DRIVER = "postgresql+psycopg"  # works for both sync and async env.py files


@dataclass(frozen=True, slots=True)
class SchemaSource:
    """Where the schema comes from (the ``pgsandbox_*`` ini keys), resolved to paths."""

    rootdir: Path
    alembic_ini: Path | None = None
    schema_callable: str | None = None
    seed_callable: str | None = None

    def project_key(self) -> str:
        """Identify the project (not its schema version), to find its older templates."""
        ident = f"{self.rootdir}|{self.alembic_ini}|{self.schema_callable}"
        return hashlib.sha256(ident.encode()).hexdigest()[:12]

    def describe(self) -> str:
        """Say in a few words where the schema comes from."""
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
        script_dir, version_dirs = _alembic_locations(source.alembic_ini)
        files.extend(
            p for p in (script_dir / "env.py", script_dir / "script.py.mako") if p.is_file()
        )
        for folder in version_dirs:
            files.extend(sorted(folder.rglob("*.py")))
    for spec in (source.schema_callable, source.seed_callable):
        if spec:
            digest.update(f"callable={spec}\n".encode())
            origin = _module_file(spec, source.rootdir)
            if origin is not None:
                files.append(origin)
    for path in files:
        digest.update(f"\n--{source._rel(path)}--\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest(), len(files)


def _alembic_locations(ini: Path) -> tuple[Path, list[Path]]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(Config(str(ini)))
    dirs = [Path(p) for p in script._version_locations]
    return Path(script.dir), [d for d in dirs if d.is_dir()]


def _module_file(spec: str, rootdir: Path) -> Path | None:
    module_name = spec.partition(":")[0]
    with _on_sys_path(rootdir):
        try:
            found = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            found = None
    if found is None or not found.origin or not Path(found.origin).is_file():
        return None
    return Path(found.origin)


def load_callable(spec: str, rootdir: Path, ini_key: str) -> Callable[[str], Any]:
    """Import ``module:callable`` named by an ini key.

    Raises:
        ConfigurationError: the value is malformed, or the module or attribute is missing.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        msg = f"pgsandbox: {ini_key} = {spec!r} must have the form 'package.module:function'."
        raise ConfigurationError(msg)
    with _on_sys_path(rootdir):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            msg = f"pgsandbox: {ini_key} = {spec!r}: cannot import {module_name!r}: {exc}"
            raise ConfigurationError(msg) from None
    target = getattr(module, attr, None)
    if not callable(target):
        msg = f"pgsandbox: {ini_key} = {spec!r}: {module_name} has no callable {attr!r}."
        raise ConfigurationError(msg)
    return target  # type: ignore[no-any-return]  # an arbitrary user callable


@contextlib.contextmanager
def _on_sys_path(path: Path) -> Iterator[None]:
    entry = str(path)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


# ---------------------------------------------------------------------- build
def ensure_template(
    admin: AdminConnection,
    server_url: URL,
    source: SchemaSource,
    *,
    run_id: str,
    hold: bool = True,
) -> TemplateInfo:
    """Return the template for the current schema, building it if no run has yet.

    With ``hold`` the run keeps a shared advisory lock on the template until its admin
    connection closes, so no other run reaps it while this one clones from it.

    Raises:
        MigrationFailed: a migration, the schema callable or the seed callable failed.
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
        if not admin.exists(name):
            _build(admin, server_url, source, name=name, fingerprint=fp, run_id=run_id)
            action = "built"
        if hold:
            admin.lock(advisory_key(f"use:{name}"), shared=True)
    finally:
        admin.unlock(build_key)
    reap_old_templates(admin, source, keep=name)
    return TemplateInfo(name, fp, action, time.perf_counter() - started, inputs)


def reap_old_templates(admin: AdminConnection, source: SchemaSource, *, keep: str) -> list[str]:
    """Drop this project's templates for older schemas that no running run still uses."""
    dropped = []
    project = source.project_key()
    for db in admin.owned_databases():
        if db.kind != "template" or db.name == keep or db.meta.get("project") != project:
            continue
        use_key = advisory_key(f"use:{db.name}")
        if admin.try_lock(use_key):
            try:
                admin.drop(db.name)
                dropped.append(db.name)
            finally:
                admin.unlock(use_key)
    return dropped


def reap_unused_templates(admin: AdminConnection) -> list[str]:
    """Drop every pgsandbox template, of any project, that no running run holds."""
    dropped = []
    for db in admin.owned_databases():
        if db.kind != "template":
            continue
        use_key = advisory_key(f"use:{db.name}")
        if admin.try_lock(use_key):
            try:
                admin.drop(db.name)
                dropped.append(db.name)
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
    admin.create(build_name, meta={"kind": "build", "run": run_id})
    try:
        target = server_url.set(database=build_name)
        if source.alembic_ini is not None:
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


def alembic_driver(ini: Path) -> str:
    """Return the driver the project's alembic.ini names, or a sync/async-neutral one."""
    from alembic.config import Config

    raw = Config(str(ini)).get_main_option("sqlalchemy.url") or ""
    try:
        url = make_url(raw)
    except ArgumentError:
        return _FALLBACK_DRIVER
    if url.get_backend_name() != "postgresql":
        return _FALLBACK_DRIVER
    return url.drivername


def _run_alembic(source: SchemaSource, target: URL) -> None:
    from alembic import command
    from alembic.config import Config

    assert source.alembic_ini is not None
    ini = source.alembic_ini
    url = target.set(drivername=alembic_driver(ini))
    config = Config(str(ini), stdout=io.StringIO())
    config.set_main_option(
        "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
    )
    # Conventional flag (pytest-alembic's) that env.py files may honour to skip fileConfig.
    config.attributes["configure_logger"] = False
    _, version_dirs = _alembic_locations(ini)
    with _captured_output() as output, _on_sys_path(source.rootdir):
        try:
            command.upgrade(config, "head")
        except Exception as exc:
            revision, where = _failing_revision(exc, version_dirs)
            at = f" in revision {revision} ({where})" if revision else ""
            msg = (
                f"pgsandbox: alembic upgrade head failed{at}:\n  {type(exc).__name__}: "
                f"{_first_lines(exc)}\n{_tail(output.getvalue())}"
                "  Fix the migration and run again; the half-built database was dropped and "
                "no test ran."
            )
            raise MigrationFailed(msg, revision=revision) from exc


def _run_callable(spec: str, ini_key: str, source: SchemaSource, target: URL) -> None:
    func = load_callable(spec, source.rootdir, ini_key)
    url = target.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    with _captured_output() as output:
        try:
            func(url)
        except Exception as exc:
            msg = (
                f"pgsandbox: {ini_key} callable {spec} failed:\n  {type(exc).__name__}: "
                f"{_first_lines(exc)}\n{_tail(output.getvalue())}  Fix it and run again; no "
                "test ran."
            )
            raise MigrationFailed(msg, revision=None) from exc


def _failing_revision(exc: BaseException, version_dirs: list[Path]) -> tuple[str | None, str]:
    """Find the revision file in the traceback, and read its ``revision`` id."""
    resolved = [d.resolve() for d in version_dirs]
    found: Path | None = None
    line = 0
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        path = Path(frame.f_code.co_filename).resolve()
        if any(d in path.parents for d in resolved):
            found, line = path, lineno
    if found is None:
        return None, ""
    match = re.search(
        r"^revision\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]",
        found.read_text(errors="replace"),
        re.M,
    )
    return (match.group(1) if match else found.stem), f"{found.name}:{line}"


def _first_lines(exc: BaseException, limit: int = 6) -> str:
    return "\n  ".join(str(exc).strip().splitlines()[:limit])


def _tail(text: str, limit: int = 12) -> str:
    lines = [line for line in text.splitlines() if line.strip()][-limit:]
    return "".join(f"  | {line}\n" for line in lines)


@contextlib.contextmanager
def _captured_output() -> Iterator[io.StringIO]:
    """Capture what migrations print, and undo the logging changes env.py's fileConfig makes.

    ``logging.config.fileConfig`` disables every existing logger by default, which would
    silence the application's and pytest's loggers for the rest of the run.
    """
    buffer = io.StringIO()
    manager = logging.Logger.manager
    saved = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root = logging.getLogger()
    root_state = (root.level, list(root.handlers))
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        root.setLevel(root_state[0])
        root.handlers[:] = root_state[1]
        for name, logger in list(manager.loggerDict.items()):
            if not isinstance(logger, logging.Logger):
                continue
            if name in saved:
                level, handlers, propagate, disabled = saved[name]
                logger.setLevel(level)
                logger.handlers[:] = handlers
                logger.propagate = propagate
                logger.disabled = disabled
            else:
                logger.handlers.clear()
                logger.propagate = True
                logger.disabled = False
