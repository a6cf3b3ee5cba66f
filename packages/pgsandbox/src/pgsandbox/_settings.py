"""pgsandbox's settings, read once from pytest's options, ini file and environment."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pgsandbox._errors import ConfigurationError
from pgsandbox._server import url_from_environment
from pgsandbox._template import SchemaSource

if TYPE_CHECKING:
    import pytest

__all__ = [
    "ISOLATION_MODES",
    "NOT_CONFIGURED",
    "PUBLIC_FIXTURES",
    "SandboxSettings",
    "explicit_flags",
    "is_enabled",
    "isolation_of",
    "validate_isolation",
]

ISOLATION_MODES = ("transaction", "database", "shared")

#: What a test that asks for a pgsandbox fixture in an unconfigured project is told.
NOT_CONFIGURED = (
    "pgsandbox is installed but not configured in this project, so it prepared no "
    "database. Tell it how to build the schema in your pytest configuration "
    '([tool.pytest.ini_options] in pyproject.toml): pgsandbox_alembic_ini = "alembic.ini", '
    'or pgsandbox_schema = "myapp.schema:create_all", or pgsandbox_enable = true for an '
    "empty schema."
)

_FLAGS = (
    ("pgsandbox_url", "--pgsandbox-url"),
    ("pgsandbox_isolation", "--pgsandbox-isolation"),
    ("pgsandbox_keep", "--pgsandbox-keep"),
    ("pgsandbox_debug", "--pgsandbox-debug"),
    ("pgsandbox_report", "--pgsandbox-report"),
    ("pgsandbox_verify", "--pgsandbox-verify"),
    ("pgsandbox_reap", "--pgsandbox-reap"),
    ("pgsandbox_rebuild", "--pgsandbox-rebuild"),
)


def is_enabled(config: pytest.Config) -> bool:
    """Whether pgsandbox works in this run, from ``pgsandbox_enable`` and the schema keys.

    Installed is not enabled: a project that never configured pgsandbox (but shares the
    environment, or names its own test database in an environment variable) must not see
    it connect, create or print anything.

    Raises:
        ConfigurationError: ``pgsandbox_enable`` has a value other than auto/true/false.
    """
    raw = str(config.getini("pgsandbox_enable") or "auto").strip().lower()
    if raw in {"true", "1", "yes", "on"}:
        return True
    if raw in {"false", "0", "no", "off"}:
        return False
    if raw != "auto":
        msg = f"pgsandbox: pgsandbox_enable = {raw!r}; use auto, true or false."
        raise ConfigurationError(msg)
    return bool(
        config.getini("pgsandbox_alembic_ini")
        or config.getini("pgsandbox_schema")
        or config.getini("pgsandbox_alembic_config")
    )


def explicit_flags(config: pytest.Config) -> list[str]:
    """The pgsandbox command-line flags this run was given."""
    return [flag for dest, flag in _FLAGS if config.getoption(dest, None) not in (None, False)]


def validate_isolation(value: object, where: str) -> str:
    """Return ``value`` if it names an isolation mode; else raise a fix-naming error."""
    if value not in ISOLATION_MODES:
        choices = ", ".join(repr(m) for m in ISOLATION_MODES)
        msg = f"pgsandbox: {where} has isolation {value!r}; choose one of {choices}."
        raise ConfigurationError(msg)
    return str(value)


PUBLIC_FIXTURES = frozenset(
    {
        "pgsandbox_url",
        "pgsandbox_engine",
        "pgsandbox_connection",
        "pgsandbox_bind",
        "pgsandbox_session",
        "pgsandbox_sessionmaker",
        "pgsandbox_sync_session",
    }
)


def isolation_of(item: pytest.Item, default: str) -> str:
    """Return the isolation mode of a test: its ``pgsandbox`` marker, else the default."""
    marker = item.get_closest_marker("pgsandbox")
    if marker is None:
        return default
    if marker.args:
        msg = "pgsandbox: @pytest.mark.pgsandbox takes keyword arguments only: isolation=..."
        raise ConfigurationError(msg)
    value = marker.kwargs.get("isolation", default)
    return validate_isolation(value, f"@pytest.mark.pgsandbox on {item.nodeid}")


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """Everything pgsandbox was told, resolved; built once per process."""

    schema: SchemaSource
    cli_url: str | None
    env_url: str | None
    isolation: str
    keep: bool
    recycle: bool
    debug: bool
    reap: bool
    rebuild: bool
    report: Path | None
    verify: bool

    @classmethod
    def from_pytest(cls, config: pytest.Config) -> SandboxSettings:
        """Read the CLI flags (which win) and ini keys of a pytest run."""

        def option(name: str, ini: str | None = None) -> object:
            value = config.getoption(name)
            if value in (None, False) and ini is not None:
                return config.getini(ini)
            return value

        rootdir = Path(config.rootpath)
        ini_value = str(config.getini("pgsandbox_alembic_ini") or "")
        alembic_ini = (rootdir / ini_value).resolve() if ini_value else None
        if alembic_ini is not None and not alembic_ini.is_file():
            msg = (
                f"pgsandbox: pgsandbox_alembic_ini = {ini_value!r} does not exist (looked at "
                f"{alembic_ini}). Give a path relative to the rootdir {rootdir}, or remove the "
                "key to start tests from an empty schema."
            )
            raise ConfigurationError(msg)
        alembic_config = str(config.getini("pgsandbox_alembic_config") or "") or None
        wants_alembic = alembic_ini is not None or alembic_config is not None
        if wants_alembic and importlib.util.find_spec("alembic") is None:
            key = "pgsandbox_alembic_ini" if alembic_ini is not None else "pgsandbox_alembic_config"
            msg = (
                f"pgsandbox: {key} asks for alembic, which this environment lacks: "
                'pip install "pgsandbox[alembic]".'
            )
            raise ConfigurationError(msg)
        schema_callable = str(config.getini("pgsandbox_schema") or "") or None
        if wants_alembic and schema_callable:
            msg = (
                "pgsandbox: set pgsandbox_alembic_ini (or pgsandbox_alembic_config) or "
                "pgsandbox_schema, not both."
            )
            raise ConfigurationError(msg)
        isolation = validate_isolation(
            option("pgsandbox_isolation", "pgsandbox_isolation") or "transaction",
            "--pgsandbox-isolation / the pgsandbox_isolation ini key",
        )
        report = option("pgsandbox_report", "pgsandbox_report")
        return cls(
            schema=SchemaSource(
                rootdir=rootdir,
                alembic_ini=alembic_ini,
                schema_callable=schema_callable,
                seed_callable=str(config.getini("pgsandbox_seed") or "") or None,
                alembic_config=alembic_config,
            ),
            cli_url=config.getoption("pgsandbox_url") or None,
            env_url=url_from_environment(),
            isolation=isolation,
            keep=bool(option("pgsandbox_keep", "pgsandbox_keep")),
            recycle=bool(config.getini("pgsandbox_recycle")),
            debug=bool(option("pgsandbox_debug", "pgsandbox_debug")),
            reap=bool(config.getoption("pgsandbox_reap")),
            rebuild=bool(option("pgsandbox_rebuild", "pgsandbox_rebuild")),
            report=(rootdir / str(report)) if report else None,
            verify=bool(option("pgsandbox_verify", "pgsandbox_verify")),
        )
