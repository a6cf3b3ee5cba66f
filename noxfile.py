# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""Every automated task of the project: `nox -l` lists them, `nox` runs what CI runs."""

from __future__ import annotations

import os
import shutil

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_external_run = True
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "fixtures-check", "unit", "integration"]

SOURCES = ("src", "tests", "noxfile.py")


def _sync(session: nox.Session, *groups: str) -> None:
    """Install the project and the given dependency groups exactly as uv.lock pins them."""
    env = {"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}
    if session.venv_backend != "uv" and not shutil.which("uv", path=session.bin):
        # `pip install nox` alone gives the virtualenv backend: bring uv into the venv.
        session.install("uv")
    group_args = [f"--group={group}" for group in groups]
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-default-groups",
        *group_args,
        f"--python={session.virtualenv.location}",
        env=env,
    )


def _xdist_args(session: nox.Session) -> list[str]:
    """`-n auto` unless the caller chose the worker count (or turned xdist off)."""
    given = " ".join(session.posargs)
    return (
        [] if "-n " in f"{given} " or "-n=" in given or "-p no:xdist" in given else ["-n", "auto"]
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and check formatting with ruff."""
    _sync(session, "lint")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)
    _audit(session)


def _audit(session: nox.Session) -> None:
    session.run("python", "-m", "pgsandbox", "audit", "tests")


@nox.session
def audit(session: nox.Session) -> None:
    """Statically check tests/ for habits that make parallel database tests lie."""
    _sync(session, "lint")
    _audit(session)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check src, tests and this noxfile with mypy (strict)."""
    _sync(session, "typecheck")
    session.run("mypy", *session.posargs)


@nox.session(name="db-prep")
def db_prep(session: nox.Session) -> None:
    """Find or start PostgreSQL and build (or reuse) the test template; say what it did."""
    _sync(session, "test")
    session.run("python", "-m", "pgsandbox", "prep", *session.posargs)


@nox.session(name="db-stop")
def db_stop(session: nox.Session) -> None:
    """Stop the ephemeral PostgreSQL cluster pgsandbox started (if any)."""
    _sync(session, "test")
    session.run("python", "-m", "pgsandbox", "stop")


@nox.session
def unit(session: nox.Session) -> None:
    """Run the unit tests (no database, no subprocesses) in parallel."""
    _sync(session, "test")
    session.run(
        "pytest", "tests/unit", "-p", "no:pgsandbox", *_xdist_args(session), *session.posargs
    )


@nox.session(name="regen-fixtures")
def regen_fixtures(session: nox.Session) -> None:
    """Rebuild fixtures/generated with LibreOffice; `-- --check` only checks (no LibreOffice)."""
    _sync(session, "test")
    session.run("python", "-m", "glossator.importers._regen", *session.posargs)


@nox.session(name="fixtures-check")
def fixtures_check(session: nox.Session) -> None:
    """Fail if a fixture source changed without regeneration, or an output was hand-edited."""
    _sync(session, "test")
    session.run("python", "-m", "glossator.importers._regen", "--check")


@nox.session(requires=["db-prep"])
def integration(session: nox.Session) -> None:
    """Run the database tests (glossator's and pgsandbox's own) in parallel."""
    _sync(session, "test")
    env = {"CI": os.environ.get("CI", "")}
    session.run(
        "pytest",
        "tests/integration",
        "tests/plugin",
        *_xdist_args(session),
        *session.posargs,
        env=env,
    )


@nox.session(name="verify", requires=["db-prep"])
def verify(session: nox.Session) -> None:
    """Prove the database tests spread across workers (default -n 4); write .reports/."""
    _verify(session)


@nox.session(name="verify-distribution", requires=["db-prep"])
def verify_distribution(session: nox.Session) -> None:
    """Alias of `verify`."""
    _verify(session)


def _verify(session: nox.Session) -> None:
    _sync(session, "test")
    workers = [] if "-n" in " ".join(session.posargs) else ["-n", "4"]
    session.run(
        "pytest",
        "tests/integration",
        *workers,
        "--pgsandbox-report=.reports/distribution.json",
        "--pgsandbox-verify",
        *session.posargs,
    )


@nox.session(requires=["db-prep"])
def stress(session: nox.Session) -> None:
    """Run the integration suite at -n 1, 2, 4 and 8; table of time, speed-up, connections."""
    _sync(session, "test")
    session.run(
        "python",
        "-m",
        "pgsandbox",
        "stress",
        "--workers=1,2,4,8",
        "--",
        *(session.posargs or ["tests/integration"]),
    )
