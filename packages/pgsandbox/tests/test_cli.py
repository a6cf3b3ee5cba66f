"""``python -m pgsandbox``: what each command prints and returns, against a real server.

The commands run in-process through :func:`pgsandbox.__main__.main`. ``reap`` drops
databases and ``stop`` stops a server, which would disturb the other tests if they ran
against the server those use, so every command here runs against a private cluster of
this module's own (one per xdist worker), started from the machine's binaries in a
throw-away folder.
"""

from __future__ import annotations

import re
import secrets
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
import pytest
from sqlalchemy.engine import make_url

from pgsandbox.__main__ import main
from pgsandbox._admin import AdminConnection, connect
from pgsandbox._cluster import Cluster
from pgsandbox._errors import ServerUnavailable
from pgsandbox._naming import (
    advisory_key,
    new_run_id,
    shared_database_name,
    template_name,
    worker_database_name,
)
from pgsandbox._stress import connection_bound
from pgsandbox._template import SchemaSource, fingerprint
from sandbox_projects import drop_templates, make_project
from test_stress import TABLE_HEADER

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sandbox_projects import Project

ALEMBIC_PYPROJECT = '[tool.pytest.ini_options]\npgsandbox_alembic_ini = "alembic.ini"\n'
NOTHING_LISTENS = "postgresql://postgres@127.0.0.1:1/postgres"


@dataclass(frozen=True)
class CliResult:
    """What one ``python -m pgsandbox`` command returned and printed."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    """Run the command line in-process and capture what it printed."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return CliResult(code, out, err)


@pytest.fixture
def cluster_admin(cluster_url: str) -> Iterator[AdminConnection]:
    """A maintenance connection to the private cluster, for setting up and checking."""
    admin = _admin_connection(cluster_url)
    try:
        yield admin
    finally:
        admin.close()


def _admin_connection(url: str) -> AdminConnection:
    return AdminConnection(connect(make_url(url), source="test"))


def _owned(admin: AdminConnection) -> dict[str, str]:
    return {db.name: db.kind for db in admin.owned_databases()}


def _fake_template(admin: AdminConnection) -> str:
    name = template_name(secrets.token_hex(10))
    admin.create(name, meta={"kind": "template", "project": "test-cli"})
    admin.make_template(name)
    return name


@pytest.fixture
def cli_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cluster_admin: AdminConnection,
    admin: AdminConnection,
) -> Iterator[Project]:
    """A project on alembic's generic template whose pyproject.toml names its alembic.ini.

    Its templates are dropped afterwards from the private cluster, and from the shared
    server too, where a command that ignored ``--url`` would have built them.
    """
    project = make_project(pytester, monkeypatch)
    # prep reads pyproject.toml (the project's pytest.ini is for its pytest runs).
    pytester.makepyprojecttoml(ALEMBIC_PYPROJECT)
    capsys.readouterr()  # alembic's "Creating directory ..." lines are not the CLI's output
    yield project
    drop_templates(cluster_admin, project)
    drop_templates(admin, project)


class TestPrep:
    def test_builds_the_template_then_reuses_it(
        self,
        cli_project: Project,
        capsys: pytest.CaptureFixture[str],
        cluster_url: str,
        cluster_admin: AdminConnection,
    ) -> None:
        """The first prep migrates into a new template; the second finds it and runs nothing."""
        project = cli_project
        root = project.root.resolve()
        fp, inputs = fingerprint(SchemaSource(root, alembic_ini=root / "alembic.ini"))
        expected = template_name(fp)
        first = run_cli(capsys, "--url", cluster_url, "prep", "--rootdir", str(project.root))
        assert first.code == 0, first.err
        assert len(first.lines) == 3, first.out
        assert first.lines[0].startswith(
            f"pgsandbox prep: server   {cluster_url} (--url, configured in "
        )
        assert re.fullmatch(
            rf"pgsandbox prep: template {expected} built in \d+\.\d\ds from alembic "
            r"\(alembic\.ini\) \(4 input files\)",
            first.lines[1],
        ), first.lines[1]
        assert inputs == 4  # alembic.ini, env.py, script.py.mako, the revision
        assert re.fullmatch(r"pgsandbox prep: done in \d+\.\d\ds", first.lines[2])
        assert _owned(cluster_admin).get(expected) == "template"
        assert [line.split()[1] for line in project.migrations_run()] == ["controller"]

        second = run_cli(capsys, "--url", cluster_url, "prep", "--rootdir", str(project.root))
        assert second.code == 0, second.err
        assert re.fullmatch(
            rf"pgsandbox prep: template {expected} reused in \d+\.\d\ds from .*",
            second.lines[1],
        ), second.lines[1]
        assert len(project.migrations_run()) == 1
        assert "build" not in _owned(cluster_admin).values()

    def test_without_pyproject_the_template_has_an_empty_schema(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        cluster_url: str,
        cluster_admin: AdminConnection,
    ) -> None:
        """A folder without pyproject.toml gets a template with no schema, and says so."""
        expected = template_name(fingerprint(SchemaSource(tmp_path.resolve()))[0])
        try:
            result = run_cli(capsys, "--url", cluster_url, "prep", "--rootdir", str(tmp_path))
            assert result.code == 0, result.err
            assert re.fullmatch(
                rf"pgsandbox prep: template {expected} (built|reused) in \d+\.\d\ds from empty "
                r"schema \(no pgsandbox_alembic_ini or pgsandbox_schema set\) \(0 input files\)",
                result.lines[1],
            ), result.lines[1]
            assert _owned(cluster_admin).get(expected) == "template"
        finally:
            cluster_admin.drop(expected)

    def test_a_reap_during_prep_leaves_the_template_being_built_alone(
        self,
        pytester: pytest.Pytester,
        capsys: pytest.CaptureFixture[str],
        cluster_url: str,
        cluster_admin: AdminConnection,
    ) -> None:
        """prep holds a run lock like a test run, so a concurrent reap skips its build database.

        The schema callable runs ``reap`` in the middle of the build, then keeps building.
        """
        pytester.makepyprojecttoml(
            '[tool.pytest.ini_options]\npgsandbox_schema = "reaping_schema:build"\n'
        )
        pytester.makepyfile(
            reaping_schema=f"""
            import psycopg

            from pgsandbox.__main__ import main

            def build(url):
                assert main(["--url", {cluster_url!r}, "reap"]) == 0
                with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
                    conn.execute("CREATE TABLE survived (id int)")
            """
        )
        source = SchemaSource(pytester.path.resolve(), schema_callable="reaping_schema:build")
        expected = template_name(fingerprint(source)[0])
        try:
            result = run_cli(capsys, "--url", cluster_url, "prep", "--rootdir", str(pytester.path))
            assert result.code == 0, result.err
            assert f"template {expected} built" in result.out
            # Templates refuse connections: look at a clone of it.
            clone = f"pgsb_{new_run_id()}_check"
            cluster_admin.create(clone, meta={"kind": "test"}, template=expected)
            try:
                with psycopg.connect(cluster_url, dbname=clone) as conn:
                    row = conn.execute("SELECT to_regclass('survived') IS NOT NULL").fetchone()
                assert row == (True,)
            finally:
                cluster_admin.drop(clone)
        finally:
            cluster_admin.drop(expected)


class TestStatus:
    def test_lists_pgsandbox_databases_and_nothing_else(
        self,
        capsys: pytest.CaptureFixture[str],
        cluster_url: str,
        cluster_admin: AdminConnection,
    ) -> None:
        """Each database with pgsandbox's comment is listed with kind and run; others are not."""
        run_id = new_run_id()
        worker = worker_database_name(run_id, "gw0")
        shared = shared_database_name(run_id)
        template = _fake_template(cluster_admin)
        foreign = f"pgsb_{run_id}_not_ours"  # pgsandbox's prefix, but no pgsandbox comment
        cluster_admin.create(worker, meta={"kind": "worker", "run": run_id})
        cluster_admin.create(shared, meta={"kind": "shared", "run": run_id})
        cluster_admin.conn.execute(f'CREATE DATABASE "{foreign}"'.encode())
        try:
            result = run_cli(capsys, "--url", cluster_url, "status")
            assert result.code == 0, result.err
            assert result.lines[0].startswith(f"server: {cluster_url} (--url, ")
            listed = {line.split()[0]: line.split()[1:] for line in result.lines[1:]}
            assert listed[worker] == ["worker", f"run={run_id}"]
            assert listed[shared] == ["shared", f"run={run_id}"]
            assert listed[template] == ["template", "run=-"]
            assert foreign not in listed
            assert set(listed) == set(_owned(cluster_admin))
        finally:
            for name in (worker, shared, template):
                cluster_admin.drop(name)
            cluster_admin.conn.execute(f'DROP DATABASE "{foreign}"'.encode())


class TestReap:
    def test_drops_the_databases_of_dead_runs_only(
        self,
        capsys: pytest.CaptureFixture[str],
        cluster_url: str,
        cluster_admin: AdminConnection,
    ) -> None:
        """A run whose lock is free is over: its databases go; live runs and templates stay."""
        dead, live = new_run_id(), new_run_id()
        dead_dbs = [worker_database_name(dead, "gw0"), shared_database_name(dead)]
        live_db = worker_database_name(live, "gw0")
        cluster_admin.create(dead_dbs[0], meta={"kind": "worker", "run": dead})
        cluster_admin.create(dead_dbs[1], meta={"kind": "shared", "run": dead})
        cluster_admin.create(live_db, meta={"kind": "worker", "run": live})
        template = _fake_template(cluster_admin)
        live_run = _admin_connection(cluster_url)
        live_run.lock(advisory_key(f"run:{live}"))
        try:
            before = set(_owned(cluster_admin))
            result = run_cli(capsys, "--url", cluster_url, "reap")
            after = set(_owned(cluster_admin))
            assert result.code == 0, result.err
            listed = [line.strip() for line in result.lines[1:]]
            assert result.lines[0] == (
                f"pgsandbox: dropped {len(listed)} leftover database(s) of finished or crashed runs"
            )
            assert set(listed) == before - after
            assert set(dead_dbs) <= set(listed)
            assert live_db in after
            assert template in after
        finally:
            live_run.close()
            for name in (*dead_dbs, live_db, template):
                cluster_admin.drop(name)

    def test_templates_flag_drops_only_templates_no_run_holds(
        self,
        capsys: pytest.CaptureFixture[str],
        cluster_url: str,
        cluster_admin: AdminConnection,
    ) -> None:
        """``--templates`` drops every template nobody uses; one a run holds stays."""
        unused, held = _fake_template(cluster_admin), _fake_template(cluster_admin)
        holder = _admin_connection(cluster_url)
        holder.lock(advisory_key(f"use:{held}"), shared=True)
        try:
            result = run_cli(capsys, "--url", cluster_url, "reap", "--templates")
            assert result.code == 0, result.err
            assert result.lines[0].endswith(" of finished or crashed runs and unused templates")
            listed = [line.strip() for line in result.lines[1:]]
            assert unused in listed
            assert held not in listed
            owned = _owned(cluster_admin)
            assert unused not in owned
            assert owned[held] == "template"
        finally:
            holder.close()
            for name in (unused, held):
                cluster_admin.drop(name)


class TestStop:
    def test_stops_the_ephemeral_cluster_then_says_none_is_running(
        self,
        private_cluster: Cluster,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        cluster_url: str,
    ) -> None:
        """``stop`` stops the cluster in PGSANDBOX_CLUSTER_DIR; a second ``stop`` finds none."""
        monkeypatch.setenv("PGSANDBOX_CLUSTER_DIR", str(private_cluster.root))
        # Never the cluster the rest of the run uses.
        assert Cluster.default().root == private_cluster.root
        url = make_url(cluster_url)
        try:
            first = run_cli(capsys, "stop")
            assert first.code == 0
            assert (
                first.out == f"pgsandbox: stopped the ephemeral cluster in {private_cluster.root}\n"
            )
            with pytest.raises(ServerUnavailable, match="cannot reach PostgreSQL"):
                connect(url, source="the ephemeral cluster").close()
            second = run_cli(capsys, "stop")
            assert second.code == 0
            assert second.out == (
                f"pgsandbox: no ephemeral cluster running in {private_cluster.root}\n"
            )
        finally:
            assert private_cluster.ensure_running().action in {"started", "reused"}


class TestAudit:
    def test_clean_suite_exits_zero(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No findings: exit 0 and one line saying what was checked."""
        (tmp_path / "test_good.py").write_text("def test_sum():\n    assert 1 + 1 == 2\n")
        result = run_cli(capsys, "audit", str(tmp_path))
        assert result.code == 0
        assert result.out == f"pgsandbox audit: no findings in {tmp_path}\n"

    def test_findings_are_printed_and_exit_one(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each finding gets a line with file, line and rule; the command exits 1."""
        bad = tmp_path / "test_bad.py"
        bad.write_text(
            textwrap.dedent(
                """
                from sqlalchemy import create_engine

                def test_nothing():
                    x = 1

                def test_engine():
                    assert create_engine("postgresql://x/y")
                """
            )
        )
        result = run_cli(capsys, "audit", str(tmp_path))
        assert result.code == 1
        assert result.lines[0].startswith(f"{bad}:4: test-asserts-nothing: ")
        assert result.lines[1].startswith(f"{bad}:8: engine-in-test: ")
        assert result.lines[2] == f"pgsandbox audit: 2 finding(s) in {tmp_path}"

    def test_missing_path_exits_two(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A path that does not exist is a usage error naming it; nothing is audited."""
        missing = tmp_path / "no_such_tests"
        result = run_cli(capsys, "audit", str(tmp_path), str(missing))
        assert result.code == 2
        assert result.out == ""
        assert result.err == f"pgsandbox audit: no such file or folder: {missing}\n"


STRESS_TESTS = """
def test_{n}(pgsandbox_sync_session):
    from sqlalchemy import text

    assert pgsandbox_sync_session.execute(text("SELECT count(*) FROM items")).scalar() == 0
"""


class TestStress:
    def test_runs_the_suite_at_each_worker_count_on_the_given_server(
        self,
        cli_project: Project,
        capsys: pytest.CaptureFixture[str],
        cluster_url: str,
        cluster_admin: AdminConnection,
    ) -> None:
        """``stress --workers 1,2`` runs pytest twice on ``--url``'s server and prints the table.

        The sampler watches ``--url``'s server, so the runs must use it too: peak
        connections above zero show they did, and one migration shows the second run
        reused the first one's template there.
        """
        project = cli_project
        project.pytester.makepyfile(**{f"test_s{n}": STRESS_TESTS.format(n=n) for n in range(2)})
        result = run_cli(
            capsys,
            "--url",
            cluster_url,
            "stress",
            "--workers",
            "1,2",
            "--",
            "-p",
            "no:randomly",
        )
        assert result.code == 0, result.out
        assert result.lines[0].startswith(f"pgsandbox stress: server {cluster_url} (--url, ")
        assert "pgsandbox stress: -n 1: -q -n 1 -p no:randomly" in result.lines
        assert "pgsandbox stress: -n 2: -q -n 2 -p no:randomly" in result.lines
        peaks = {}
        for workers in (1, 2):
            (line,) = [
                x for x in result.lines if x.startswith(f"pgsandbox stress: -n {workers}: 2 passed")
            ]
            match = re.search(r" in \d+\.\ds, peak (\d+) connections$", line)
            assert match, line
            peaks[workers] = int(match.group(1))
            assert 0 < peaks[workers] <= connection_bound(workers)
        header = next(i for i, x in enumerate(result.lines) if x.split()[:1] == ["workers"])
        assert result.lines[header].split() == TABLE_HEADER
        # workers, wall s, speed-up (against the first count), peak, bound, failures
        rows = [line.split() for line in result.lines[header + 1 : header + 3]]
        assert [(r[0], r[3], r[4], r[5]) for r in rows] == [
            ("1", str(peaks[1]), str(connection_bound(1)), "0"),
            ("2", str(peaks[2]), str(connection_bound(2)), "0"),
        ]
        assert rows[0][2] == "1.00x"
        assert re.fullmatch(r"\d+\.\d\dx", rows[1][2])
        assert result.lines[-1] == (
            "pgsandbox stress: PASSED: no failures, connections within bounds"
        )
        assert len(project.migrations_run()) == 1
        assert set(_owned(cluster_admin).values()) <= {"template"}


class TestErrors:
    @pytest.mark.parametrize(
        "command",
        [["status"], ["reap"], ["prep", "--rootdir", "{tmp}"], ["stress", "--", "x.py"]],
        ids=["status", "reap", "prep", "stress"],
    )
    def test_unreachable_server_exits_two_naming_the_fix(
        self, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Nothing listens at ``--url``: exit 2 with a message, not a traceback."""
        argv = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
        result = run_cli(capsys, "--url", NOTHING_LISTENS, *argv)
        assert result.code == 2
        assert f"cannot reach PostgreSQL at {NOTHING_LISTENS}" in result.err
        assert "Start the server or fix" in result.err
        assert "Traceback" not in result.err

    def test_malformed_url_exits_two_showing_the_expected_form(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``--url`` that is not a URL is refused before anything connects."""
        result = run_cli(capsys, "--url", "not a url", "status")
        assert result.code == 2
        assert "is not a database URL: 'not a url'" in result.err
        assert "postgresql://user:password@host:port/postgres" in result.err

    def test_a_command_is_required(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a command argparse prints the usage and exits 2."""
        with pytest.raises(SystemExit) as exited:
            main([])
        assert exited.value.code == 2
        assert "usage: python -m pgsandbox" in capsys.readouterr().err
