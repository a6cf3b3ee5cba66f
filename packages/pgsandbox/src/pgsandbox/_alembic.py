"""Building a template with alembic: the project's Config, a guarded upgrade, a head check.

Three walls adopters hit, and what pgsandbox does about each:

- **A relative ``script_location``.** alembic resolves it against the current directory,
  so ``alembic upgrade head`` works from the folder holding alembic.ini and nowhere else.
  pgsandbox resolves it against alembic.ini's folder, then the rootdir, then the current
  directory, and otherwise stops with the paths it tried and the ``%(here)s`` fix.
- **A framework's own Config subclass** (advanced-alchemy's env.py reads attributes that
  only its subclass has): ``pgsandbox_alembic_config = "pkg.module:factory"`` names a
  callable returning the ``Config`` to use; it is called with the alembic.ini path, or with
  no argument when ``pgsandbox_alembic_ini`` is not set. Such a Config may carry its
  database in attributes of its own, fixed when it is made (advanced-alchemy's ``engine``
  and ``db_url``), which the ``sqlalchemy.url`` pgsandbox sets cannot reach; a factory with
  a ``url`` parameter is therefore given the build database's URL (``None`` when pgsandbox
  only reads where the migrations are).
- **An env.py that migrates another database** (it takes its URL from ``DATABASE_URL``
  and overrides ``sqlalchemy.url``). While the build runs, every SQLAlchemy connection is
  checked as it opens: one to any database other than the build database is refused
  before a statement runs there. After the upgrade, the build database must hold alembic's
  version table at the head revision(s); otherwise nothing is cached.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import Pool

from pgsandbox._admin import conninfo
from pgsandbox._errors import ConfigurationError, MigrationFailed, PgsandboxError
from pgsandbox._loading import captured_output, first_lines, load_callable, on_sys_path, tail

if TYPE_CHECKING:
    from collections.abc import Callable

    from alembic.config import Config
    from sqlalchemy.engine import URL

    from pgsandbox._template import SchemaSource

__all__ = [
    "CONFIG_KEY",
    "ConnectionGuard",
    "alembic_config",
    "alembic_driver",
    "alembic_locations",
    "run_alembic",
]

CONFIG_KEY = "pgsandbox_alembic_config"
_FALLBACK_DRIVER = "postgresql+psycopg"  # works for both sync and async env.py files
_ENV_PY_FIX = (
    "Likely cause: env.py ignores the sqlalchemy.url pgsandbox gives it (it reads "
    "DATABASE_URL or the app's settings and calls config.set_main_option, or opens its own "
    "engine). Fix: in env.py, keep the URL pgsandbox sets: when "
    "config.attributes.get('pgsandbox') is true, use config.get_main_option("
    "'sqlalchemy.url') as it is."
)


class WrongDatabase(PgsandboxError):
    """The migrations connected to a database other than the build database."""


# ---------------------------------------------------------------------- config
def alembic_config(source: SchemaSource, target: URL | None = None) -> Config:
    """The project's alembic ``Config`` for ``target``, with ``script_location`` absolute.

    ``target`` is the build database, or None when only the migrations' locations are
    read; a factory with a ``url`` parameter is given it (rendered, with the driver of
    alembic.ini's ``sqlalchemy.url``, else ``postgresql+psycopg``).

    Raises:
        ConfigurationError: the factory fails or returns something else than a Config, or
            the script location does not exist.
    """
    from alembic.config import Config

    if source.alembic_config:
        factory = load_callable(source.alembic_config, source.rootdir, CONFIG_KEY)
        args = [str(source.alembic_ini)] if source.alembic_ini is not None else []
        kwargs: dict[str, str | None] = {}
        if _takes_url(factory):
            kwargs["url"] = _factory_url(source, target)
        with on_sys_path(source.rootdir):
            try:
                config = factory(*args, **kwargs)
            except Exception as exc:
                given = "the alembic.ini path" if args else "no argument"
                if kwargs:
                    given += " and url= (the build database's URL, or None)"
                msg = (
                    f"pgsandbox: {CONFIG_KEY} = {source.alembic_config!r} failed: "
                    f"{type(exc).__name__}: {first_lines(exc)}\n  It is called with "
                    f"{given} and must return an alembic.config.Config (or a subclass)."
                )
                raise ConfigurationError(msg) from None
        if not isinstance(config, Config):
            msg = (
                f"pgsandbox: {CONFIG_KEY} = {source.alembic_config!r} returned "
                f"{type(config).__name__}, not an alembic.config.Config (or a subclass)."
            )
            raise ConfigurationError(msg)
    else:
        assert source.alembic_ini is not None
        config = Config(str(source.alembic_ini))
    _resolve_script_location(config, source)
    return config


def _url_hint(source: SchemaSource) -> str:
    """For a failure outside the revisions: a Config factory that cannot know the URL."""
    if not source.alembic_config:
        return ""
    factory = load_callable(source.alembic_config, source.rootdir, CONFIG_KEY)
    if _takes_url(factory):
        return ""
    return (
        f"\n  If env.py connects through the Config's own engine or URL (advanced-alchemy's "
        "config.engine and config.db_url, fixed when the Config is made), the sqlalchemy.url "
        f"pgsandbox sets does not reach it. Fix: give {source.alembic_config} a `url` "
        "parameter; pgsandbox passes it the build database's URL (None when it only reads "
        "where the migrations are): make the Config for that database."
    )


def _takes_url(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` accepts a ``url`` keyword argument."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin, some C callables)
        return False
    return any(
        (p.name == "url" and p.kind is not p.POSITIONAL_ONLY) or p.kind is p.VAR_KEYWORD
        for p in parameters
    )


def _factory_url(source: SchemaSource, target: URL | None) -> str | None:
    """``target`` rendered for the factory, with the driver of alembic.ini (if any)."""
    if target is None:
        return None
    driver = alembic_driver(source.alembic_ini) if source.alembic_ini else _FALLBACK_DRIVER
    return target.set(drivername=driver).render_as_string(hide_password=False)


def _resolve_script_location(config: Config, source: SchemaSource) -> None:
    """Make a relative ``script_location`` absolute, as a user running alembic expects."""
    where = source.alembic_config or (source.alembic_ini.name if source.alembic_ini else "?")
    raw = config.get_main_option("script_location")
    if not raw:
        msg = (
            f"pgsandbox: the alembic configuration ({where}) has no script_location. Set "
            "script_location = %(here)s/migrations (the folder holding env.py)."
        )
        raise ConfigurationError(msg)
    if re.match(r"^[A-Za-z_][\w.]*:", raw) and not Path(raw).exists():
        return  # "package:folder", which alembic resolves through the package itself
    path = Path(raw)
    bases = [source.alembic_ini.parent] if source.alembic_ini is not None else []
    bases += [source.rootdir, Path.cwd()]
    tried = [path] if path.is_absolute() else list(dict.fromkeys(b / path for b in bases))
    for candidate in tried:
        if (candidate / "env.py").is_file() or candidate.is_dir():
            config.set_main_option("script_location", str(candidate.resolve()).replace("%", "%%"))
            return
    msg = (
        f"pgsandbox: alembic's script_location = {raw!r} (from {where}) does not exist; "
        f"pgsandbox looked in {', '.join(str(p) for p in tried)}.\n  alembic resolves a "
        "relative script_location against the current directory, so it only works from one "
        f"folder. Fix: write script_location = %(here)s/{raw.lstrip('./')} in alembic.ini "
        "(alembic expands %(here)s to alembic.ini's folder), or give the real path."
    )
    raise ConfigurationError(msg)


def alembic_locations(config: Config) -> tuple[Path, list[Path]]:
    """The script folder (env.py) and the existing version folders of a Config.

    Raises:
        ConfigurationError: alembic cannot read the script folder.
    """
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        script = ScriptDirectory.from_config(config)
    except CommandError as exc:
        msg = f"pgsandbox: alembic cannot read the migrations: {exc}"
        raise ConfigurationError(msg) from None
    dirs = [Path(p) for p in script._version_locations]
    return Path(script.dir), [d for d in dirs if d.is_dir()]


def alembic_driver(ini: Path) -> str:
    """Return the driver the project's alembic.ini names, or a sync/async-neutral one."""
    from alembic.config import Config

    return _driver_of(Config(str(ini)))


def _driver_of(config: Config) -> str:
    raw = config.get_main_option("sqlalchemy.url") or ""
    try:
        url = make_url(raw)
    except ArgumentError:
        return _FALLBACK_DRIVER
    if url.get_backend_name() != "postgresql":
        return _FALLBACK_DRIVER
    return url.drivername


# ---------------------------------------------------------------------- build
class ConnectionGuard:
    """Refuse every SQLAlchemy connection to a database other than ``database``.

    A listener on every pool's ``connect`` event (class-level, so engines env.py creates
    are covered) reads ``current_database()`` on each new connection and raises before
    the migrations can send a statement. Raw driver connections (``psycopg.connect``) are
    not seen; the head check after the build catches those.
    """

    def __init__(self, database: str) -> None:
        """Guard connections for a build of ``database``."""
        self.database = database
        self.refused: list[str] = []
        self._listener = self._check  # one bound method: event.remove needs the same object

    def __enter__(self) -> ConnectionGuard:
        event.listen(Pool, "connect", self._listener)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Pool, "connect", self._listener)

    def message(self) -> str:
        """Say which database the migrations tried to reach, and the fix."""
        other = ", ".join(repr(name) for name in dict.fromkeys(self.refused))
        return (
            f"pgsandbox: while building the template, the migrations connected to database "
            f"{other} instead of the build database {self.database!r} that pgsandbox set as "
            "sqlalchemy.url. pgsandbox refused that connection before any statement ran "
            f"there, so {other} was not changed, and nothing was cached.\n  {_ENV_PY_FIX}"
        )

    def _check(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT current_database()")
            row = cursor.fetchone()
        finally:
            cursor.close()
            # The check must not leave a transaction open for the migrations to inherit.
            with contextlib.suppress(Exception):
                dbapi_connection.rollback()
        name = str(row[0]) if row else "?"
        if name != self.database:
            self.refused.append(name)
            raise WrongDatabase(self.message())


def run_alembic(source: SchemaSource, target: URL) -> None:
    """``alembic upgrade head`` into the build database ``target``, guarded and checked.

    Raises:
        MigrationFailed: a migration failed, the migrations reached another database, or
            the build database is not at head afterwards.
    """
    from alembic import command

    config = alembic_config(source, target)
    url = target.set(drivername=_driver_of(config))
    config.set_main_option(
        "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
    )
    config.stdout = io.StringIO()
    # Conventional flag (pytest-alembic's) that env.py files may honour to skip fileConfig.
    config.attributes["configure_logger"] = False
    # Lets an env.py that takes its URL from the environment keep pgsandbox's instead.
    config.attributes["pgsandbox"] = True
    _, version_dirs = alembic_locations(config)
    database = str(target.database)
    error: Exception | None = None
    with (
        captured_output() as output,
        on_sys_path(source.rootdir),
        ConnectionGuard(database) as guard,
    ):
        try:
            command.upgrade(config, "head")
        except Exception as exc:  # any migration's error, reported below
            error = exc
    if guard.refused:  # even when env.py swallowed the refusal
        raise MigrationFailed(guard.message() + _url_hint(source), revision=None) from error
    if error is not None:
        revision, where = _failing_revision(error, version_dirs)
        at = f" in revision {revision} ({where})" if revision else ""
        msg = (
            f"pgsandbox: alembic upgrade head failed{at}:\n  {type(error).__name__}: "
            f"{first_lines(error)}\n{tail(output.getvalue())}"
            "  Fix the migration and run again; the half-built database was dropped and "
            f"no test ran.{_url_hint(source) if revision is None else ''}"
        )
        raise MigrationFailed(msg, revision=revision) from error
    _require_head(config, target)


def _require_head(config: Config, target: URL) -> None:
    """Fail unless the build database holds alembic's version table at the head(s)."""
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(config).get_heads())
    if not heads:
        return  # no revision at all: an empty schema is the head
    found: set[str] = set()
    with psycopg.connect(autocommit=True, **conninfo(target)) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.columns "
            "WHERE column_name = 'version_num' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT version_num FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            found.update(str(row[0]) for row in conn.execute(query))
    if heads <= found:
        return
    holds = (
        f"its version table holds {', '.join(sorted(found))}"
        if found
        else "it has no alembic version table"
    )
    msg = (
        f"pgsandbox: alembic upgrade head finished, but the build database "
        f"{target.database!r} is not at head ({', '.join(sorted(heads))}): {holds}. The "
        "migrations ran somewhere else; nothing was cached (the build database was "
        f"dropped) and no test ran.\n  {_ENV_PY_FIX}"
    )
    raise MigrationFailed(msg, revision=None)


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
