"""pgsandbox's settings, read once from pytest's options, ini file and environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pgsandbox._errors import ConfigurationError
from pgsandbox._template import SchemaSource

if TYPE_CHECKING:
    import pytest

__all__ = ["ISOLATION_MODES", "SandboxSettings", "validate_isolation"]

ISOLATION_MODES = ("transaction", "database", "shared")


def validate_isolation(value: object, where: str) -> str:
    """Return ``value`` if it names an isolation mode; else raise a fix-naming error."""
    if value not in ISOLATION_MODES:
        choices = ", ".join(repr(m) for m in ISOLATION_MODES)
        msg = f"pgsandbox: {where} has isolation {value!r}; choose one of {choices}."
        raise ConfigurationError(msg)
    return str(value)


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """Everything pgsandbox was told, resolved; built once per process."""

    schema: SchemaSource
    cli_url: str | None
    env_url: str | None
    isolation: str
    keep: bool
    debug: bool
    reap: bool
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
        schema_callable = str(config.getini("pgsandbox_schema") or "") or None
        if alembic_ini is not None and schema_callable:
            msg = "pgsandbox: set pgsandbox_alembic_ini or pgsandbox_schema, not both."
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
            ),
            cli_url=config.getoption("pgsandbox_url") or None,
            env_url=os.environ.get("TEST_DATABASE_URL") or None,
            isolation=isolation,
            keep=bool(option("pgsandbox_keep", "pgsandbox_keep")),
            debug=bool(option("pgsandbox_debug", "pgsandbox_debug")),
            reap=bool(config.getoption("pgsandbox_reap")),
            report=(rootdir / str(report)) if report else None,
            verify=bool(option("pgsandbox_verify", "pgsandbox_verify")),
        )
