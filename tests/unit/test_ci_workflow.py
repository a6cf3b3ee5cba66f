"""The GitHub Actions workflow runs what the project defines, with the least it needs.

What GitHub alone would tell us (after a push) is checked here on every run: the nox
sessions the workflow names exist (`nox -l --json`), the matrix is the sparse one
docs/ci.md describes and its shards are complete, every job's coverage data reaches the
final job, and the security habits hold (no token permissions beyond reading, no
persisted credentials, actions pinned to commits). `nox -s lint` adds actionlint, zizmor
and GitHub's workflow schema.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_PATH = REPO_ROOT / ".github" / "workflows" / "ci.yml"
PYTHONS = ("3.11", "3.12", "3.13")
POSTGRES_VERSIONS = ("14", "15", "16", "17")
#: The PostgreSQL every Python runs on, and the Python every PostgreSQL runs on.
PRIMARY_POSTGRES = "16"
PRIMARY_PYTHON = "3.11"
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")

Job = dict[str, Any]


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW_PATH.read_text())
    return loaded


@pytest.fixture(scope="module")
def jobs(workflow: dict[str, Any]) -> dict[str, Job]:
    found: dict[str, Job] = workflow["jobs"]
    return found


def _steps(job: Job) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job.get("steps", [])
    return steps


def _scripts(jobs: dict[str, Job]) -> list[str]:
    return [step["run"] for job in jobs.values() for step in _steps(job) if "run" in step]


def nox_sessions_in(script: str) -> list[str]:
    """The session names of every `nox ... -s NAME [NAME ...]` command in a shell script."""
    names: list[str] = []
    # `>-` blocks arrive as one line; `|` blocks continue lines with a backslash.
    words = shlex.split(script.replace("\\\n", " "), comments=True)
    for start, word in enumerate(words):
        if word != "nox":
            continue
        rest = words[start + 1 :]
        for position, option in enumerate(rest):
            if option in {"--", "&&", "||", ";"}:
                break
            if option in {"-s", "--session", "--sessions"}:
                for name in rest[position + 1 :]:
                    if name.startswith("-") or name in {"&&", "||", ";"}:
                        break
                    names.append(name)
    return names


class TestNoxSessions:
    def test_parser_reads_session_names(self) -> None:
        """The helper finds names after -s up to the next option or the end of the command."""
        script = 'uvx --from "nox==1" nox -s unit integration --force-python 3.12 -- --splits 2'
        assert nox_sessions_in(script) == ["unit", "integration"]
        assert nox_sessions_in("nox -s lint && nox --session e2e\n") == ["lint", "e2e"]
        assert nox_sessions_in("echo nox is great -- -s not-a-session") == []

    def test_every_session_the_workflow_runs_exists(self, jobs: dict[str, Job]) -> None:
        """Each `nox -s NAME` in the workflow is a session `nox -l --json` lists.

        `--json` lists the selected sessions, so nox is asked to select exactly the ones
        the workflow uses; a name it does not know fails the listing ("Sessions not found").
        """
        used = sorted({name for script in _scripts(jobs) for name in nox_sessions_in(script)})
        assert set(used) >= {"lint", "typecheck", "unit", "integration", "e2e", "coverage-report"}
        listed = subprocess.run(
            [sys.executable, "-m", "nox", "--list", "--json", "-f", "noxfile.py", "-s", *used],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert listed.returncode == 0, listed.stderr
        # The listing adds what they require (db-prep).
        assert set(used) <= {session["session"] for session in json.loads(listed.stdout)}

    def test_ci_runs_the_nox_that_uv_lock_pins(self, workflow: dict[str, Any]) -> None:
        """The workflow's NOX_VERSION is uv.lock's nox, so CI and developers agree."""
        lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
        # Workspace members with a dynamic version (pgsandbox) carry none in the lock.
        locked = {p["name"]: p["version"] for p in lock["package"] if "version" in p}
        assert workflow["env"]["NOX_VERSION"] == locked["nox"]


class TestLeastPrivilege:
    def test_token_may_do_nothing_by_default(self, workflow: dict[str, Any]) -> None:
        """Workflow-level permissions are empty: each job asks for what it needs."""
        assert workflow["permissions"] == {}

    def test_jobs_only_read_contents(self, jobs: dict[str, Job]) -> None:
        """No job asks for more than reading the repository."""
        for name, job in jobs.items():
            assert job.get("permissions", {}) in ({}, {"contents": "read"}), name

    def test_checkouts_keep_no_credentials(self, jobs: dict[str, Job]) -> None:
        """Every actions/checkout step sets persist-credentials: false."""
        checkouts = [
            step
            for job in jobs.values()
            for step in _steps(job)
            if str(step.get("uses", "")).startswith("actions/checkout@")
        ]
        assert len(checkouts) == len(jobs)
        for step in checkouts:
            assert step["with"]["persist-credentials"] is False

    def test_actions_are_pinned_to_commits(self) -> None:
        """Every `uses:` names a full commit SHA and, in a comment, the release it is."""
        uses = [
            line.strip().removeprefix("- ").removeprefix("uses: ")
            for line in WORKFLOW_PATH.read_text().splitlines()
            if re.match(r"^\s*(- )?uses: ", line)
        ]
        assert uses
        for reference in uses:
            assert SHA_PINNED.match(reference), reference

    def test_setup_uv_is_the_pinned_action(self, jobs: dict[str, Job]) -> None:
        """uv comes from astral-sh/setup-uv (a full release, by commit) with a fixed uv."""
        setups = [
            step
            for job in jobs.values()
            for step in _steps(job)
            if str(step.get("uses", "")).startswith("astral-sh/setup-uv@")
        ]
        assert len(setups) == len(jobs)
        for step in setups:
            assert step["with"]["version"] == "${{ env.UV_VERSION }}"


class TestMatrix:
    def test_matrix_is_sparse(self, jobs: dict[str, Job]) -> None:
        """Every Python on one PostgreSQL, every PostgreSQL on one Python, nothing else."""
        include = jobs["tests"]["strategy"]["matrix"]["include"]
        pairs = {(entry["python"], entry["postgres"]) for entry in include}
        expected = {(python, PRIMARY_POSTGRES) for python in PYTHONS} | {
            (PRIMARY_PYTHON, postgres) for postgres in POSTGRES_VERSIONS
        }
        assert pairs == expected

    def test_oldest_python_is_the_projects_floor(self) -> None:
        """The matrix starts at requires-python's minimum."""
        project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
        assert project["requires-python"] == f">={PYTHONS[0]}"

    def test_every_shard_of_every_combination_is_listed(self, jobs: dict[str, Job]) -> None:
        """For each (Python, PostgreSQL), the groups are exactly 1..splits."""
        groups: dict[tuple[str, str], list[int]] = {}
        splits: dict[tuple[str, str], set[int]] = {}
        for entry in jobs["tests"]["strategy"]["matrix"]["include"]:
            pair = (entry["python"], entry["postgres"])
            groups.setdefault(pair, []).append(entry["group"])
            splits.setdefault(pair, set()).add(entry["splits"])
        for pair, counts in splits.items():
            assert len(counts) == 1, pair
            assert sorted(groups[pair]) == list(range(1, counts.pop() + 1)), pair

    def test_shards_run_integration_with_their_group(self, jobs: dict[str, Job]) -> None:
        """The integration step passes the matrix's splits and group to pytest-split."""
        job = jobs["tests"]
        assert job["env"]["SPLITS"] == "${{ matrix.splits }}"
        assert job["env"]["GROUP"] == "${{ matrix.group }}"
        (script,) = [s for s in _scripts({"tests": job}) if "integration" in s]
        assert '--splits "$SPLITS" --group "$GROUP"' in script
        assert '--randomly-seed "$RANDOMLY_SEED"' in script


class TestPostgresService:
    def test_service_is_postgres_of_the_matrix_with_a_health_check(
        self, jobs: dict[str, Job]
    ) -> None:
        """The service runs the matrix's PostgreSQL; its health check names its user."""
        service = jobs["tests"]["services"]["postgres"]
        assert service["image"] == "postgres:${{ matrix.postgres }}"
        user = service["env"]["POSTGRES_USER"]
        assert f'--health-cmd "pg_isready -U {user}"' in service["options"]

    def test_tests_use_the_service(self, jobs: dict[str, Job]) -> None:
        """PGSANDBOX_URL points pgsandbox at the service's published port."""
        job = jobs["tests"]
        service = job["services"]["postgres"]
        user, password = service["env"]["POSTGRES_USER"], service["env"]["POSTGRES_PASSWORD"]
        assert service["ports"] == ["5432:5432"]
        assert job["env"]["PGSANDBOX_URL"] == (
            f"postgresql://{user}:{password}@127.0.0.1:5432/postgres"
        )

    def test_service_is_tuned_like_pgsandboxs_own_cluster(self, jobs: dict[str, Job]) -> None:
        """fsync, synchronous_commit, full_page_writes off and max_connections raised."""
        (script,) = [s for s in _scripts({"tests": jobs["tests"]}) if "ALTER SYSTEM" in s]
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            assert f"ALTER SYSTEM SET {setting} = off" in script
        assert "ALTER SYSTEM SET max_connections = 300" in script
        # max_connections only changes on restart.
        assert 'docker restart "$PG_CONTAINER"' in script


class TestCoverageFlow:
    def test_test_jobs_measure_and_upload_their_data(self, jobs: dict[str, Job]) -> None:
        """Jobs that run tests do so under coverage and upload every .coverage.* file."""
        for name in ("tests", "e2e"):
            job = jobs[name]
            assert job["env"]["NOX_COVERAGE"] == "1", name
            uploads = [
                step["with"]
                for step in _steps(job)
                if str(step.get("uses", "")).startswith("actions/upload-artifact@")
                and step["with"]["name"].startswith("coverage-data-")
            ]
            assert len(uploads) == 1, name
            assert uploads[0]["path"] == ".coverage.*"
            # upload-artifact skips dot files unless told otherwise.
            assert uploads[0]["include-hidden-files"] is True
            assert uploads[0]["if-no-files-found"] == "error"

    def test_final_job_combines_everything_and_enforces_the_floor(
        self, jobs: dict[str, Job]
    ) -> None:
        """The coverage job waits for every test job, downloads all data, runs the report."""
        job = jobs["coverage"]
        assert set(job["needs"]) == {"tests", "e2e"}
        (download,) = [
            step["with"]
            for step in _steps(job)
            if str(step.get("uses", "")).startswith("actions/download-artifact@")
        ]
        assert download == {"pattern": "coverage-data-*", "merge-multiple": True}
        sessions = [
            name for script in _scripts({"coverage": job}) for name in nox_sessions_in(script)
        ]
        assert sessions == ["coverage-report"]

    def test_coverage_measures_subprocesses(self) -> None:
        """[tool.coverage.run] measures xdist workers, the app server and the export worker."""
        pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
        run = pyproject["tool"]["coverage"]["run"]
        assert run["branch"] is True
        assert run["parallel"] is True
        assert run["patch"] == ["subprocess"]
        assert run["sigterm"] is True
        assert set(run["source_pkgs"]) == {"pgsandbox", "glossator"}

    def test_floor_does_not_drop_below_what_was_measured(self) -> None:
        """fail_under stays at or above the 90% the CI issue asks for (raise it, never lower)."""
        pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
        assert pyproject["tool"]["coverage"]["report"]["fail_under"] >= 90
