"""Alembic walls: a relative script_location, a framework's Config, an env.py that looks elsewhere.

Each test builds a throw-away project through pytester and checks what the adopter sees:
the run works, or it stops with pgsandbox's message and leaves nothing cached.
"""

from __future__ import annotations

import secrets
import shutil
import textwrap
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import make_url

from pgsandbox.__main__ import main
from pgsandbox._admin import AdminConnection, connect
from pgsandbox._naming import quote_ident
from pgsandbox._template import SchemaSource
from sandbox_projects import drop_templates, make_project, server_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sandbox_projects import Project

TEST_ITEMS = """
from sqlalchemy import text

def test_items_exist(pgsandbox_sync_session):
    assert pgsandbox_sync_session.execute(text("SELECT count(*) FROM items")).scalar() == 0
"""


def _output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def _templates_of(admin: AdminConnection, source: SchemaSource) -> list[str]:
    key = source.project_key()
    return [
        db.name
        for db in admin.owned_databases()
        if db.kind == "template" and db.meta.get("project") == key
    ]


def _edit_env_py(project: Project, after: str, insert: str) -> None:
    env_py = project.root / "migrations" / "env.py"
    text = env_py.read_text()
    assert after in text, text
    env_py.write_text(text.replace(after, after + "\n" + textwrap.dedent(insert), 1))


class TestScriptLocation:
    @pytest.fixture
    def nested(self, project: Project, admin: AdminConnection) -> Iterator[Project]:
        """The project with alembic.ini and migrations/ moved into db/, as many repos have."""
        root = project.root
        (root / "db").mkdir()
        shutil.move(root / "migrations", root / "db" / "migrations")
        ini = root / "alembic.ini"
        text = ini.read_text()
        lines = [
            "script_location = migrations" if line.startswith("script_location") else line
            for line in text.splitlines()
        ]
        (root / "db" / "alembic.ini").write_text("\n".join(lines) + "\n")
        ini.unlink()
        project.pytester.makeini(
            "[pytest]\npgsandbox_alembic_ini = db/alembic.ini\n"
            "asyncio_default_fixture_loop_scope = function\n"
        )
        yield project
        source = SchemaSource(rootdir=root, alembic_ini=(root / "db" / "alembic.ini").resolve())
        for name in _templates_of(admin, source):
            admin.drop(name)

    def test_relative_to_the_ini_folder_just_works(self, nested: Project) -> None:
        """script_location = migrations next to db/alembic.ini works from the rootdir.

        alembic alone resolves it against the current directory and fails with
        "Path doesn't exist: migrations"; pgsandbox resolves it as a user running alembic
        beside alembic.ini does.
        """
        nested.pytester.makepyfile(test_items=TEST_ITEMS)
        result = nested.run()
        result.assert_outcomes(passed=1)
        assert len(nested.migrations_run()) == 1

    def test_a_missing_folder_stops_with_the_paths_tried_and_the_fix(self, nested: Project) -> None:
        """No INTERNALERROR traceback: one message naming the paths and %(here)s."""
        ini = nested.root / "db" / "alembic.ini"
        ini.write_text(
            ini.read_text().replace("script_location = migrations", "script_location = nowhere")
        )
        nested.pytester.makepyfile(test_items=TEST_ITEMS)
        result = nested.run()
        output = _output(result)
        assert "INTERNALERROR" not in output
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        tried = nested.root / "db" / "nowhere"
        assert (
            "pgsandbox: alembic's script_location = 'nowhere' (from alembic.ini) does not "
            f"exist; pgsandbox looked in {tried}, "
        ) in output
        assert "write script_location = %(here)s/nowhere in alembic.ini" in output


class TestConfigFactory:
    def test_an_env_py_that_needs_its_frameworks_config_subclass(self, project: Project) -> None:
        """pgsandbox_alembic_config names the factory of the Config subclass env.py needs.

        Without it, alembic's plain Config has no ``db_url`` and the build fails with the
        AttributeError adopters of advanced-alchemy saw; with it, the run passes.
        """
        _edit_env_py(
            project,
            "config = context.config",
            """\
            # Like advanced-alchemy: only the framework's Config subclass has db_url.
            assert config.db_url.startswith("postgresql")
            """,
        )
        project.pytester.makepyfile(
            appconfig="""
            from alembic.config import Config

            class AppConfig(Config):
                @property
                def db_url(self):
                    return self.get_main_option("sqlalchemy.url")

            def make_config(ini_path):
                return AppConfig(ini_path)
            """,
            test_items=TEST_ITEMS,
        )
        without = project.run()
        assert "'Config' object has no attribute 'db_url'" in _output(without)
        assert without.ret == pytest.ExitCode.INTERRUPTED

        ini = project.root / "tox.ini"  # pytester.makeini writes tox.ini
        ini.write_text(ini.read_text() + "\npgsandbox_alembic_config = appconfig:make_config\n")
        result = project.run()
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*Config from appconfig:make_config*"])

    def test_a_config_that_fixes_its_url_when_made_is_given_the_build_url(
        self, project: Project
    ) -> None:
        """A Config carrying its database in an attribute of its own (as advanced-alchemy's
        ``db_url``): a factory with a ``url`` parameter is given the build database's."""
        _edit_env_py(
            project,
            "config = context.config",
            """\
            # Like advanced-alchemy's: it migrates the Config's own database.
            config.set_main_option("sqlalchemy.url", config.db_url)
            """,
        )
        project.pytester.makepyfile(
            appconfig="""
            from alembic.config import Config

            class AppConfig(Config):
                def __init__(self, ini_path, db_url):
                    super().__init__(ini_path)
                    self.db_url = db_url

            def make_config(ini_path, url=None):
                return AppConfig(ini_path, url or "postgresql+psycopg://app@127.0.0.1:1/app")
            """,
            test_items=TEST_ITEMS,
        )
        ini = project.root / "tox.ini"
        ini.write_text(ini.read_text() + "\npgsandbox_alembic_config = appconfig:make_config\n")
        project.run().assert_outcomes(passed=1)

        # The same factory without the parameter cannot know the build database.
        factory = project.root / "appconfig.py"
        factory.write_text(factory.read_text().replace(", url=None", ""))
        factory.write_text(factory.read_text().replace("url or ", ""))
        result = project.run()
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert "Fix: give appconfig:make_config a `url` parameter" in " ".join(
            _output(result).split()
        )


class TestMigrationsThatLookElsewhere:
    @pytest.fixture
    def app_database(self, admin: AdminConnection) -> Iterator[str]:
        """A database of the project's own (not pgsandbox's), with a table of its own."""
        name = f"appdb_{secrets.token_hex(4)}"
        admin.conn.execute(f"CREATE DATABASE {quote_ident(name)}".encode())
        url = server_url().url.set(drivername="postgresql+psycopg", database=name)
        try:
            with connect(url, source="test") as conn:
                conn.execute("CREATE TABLE app_data (id int)")
            yield url.render_as_string(hide_password=False)
        finally:
            admin.conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)".encode())

    @staticmethod
    def _tables(url: str) -> list[str]:
        with connect(make_url(url), source="test") as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' ORDER BY 1"
            ).fetchall()
        return [row[0] for row in rows]

    def test_env_py_that_migrates_another_database_is_stopped_before_it_changes_it(
        self,
        project: Project,
        admin: AdminConnection,
        app_database: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """env.py takes DATABASE_URL over sqlalchemy.url: the run stops, nothing is cached.

        The other database keeps exactly its tables (no alembic_version, no items), no
        template is left for the project and the build database is gone.
        """
        _edit_env_py(
            project,
            "config = context.config",
            """\
            import os
            if os.environ.get("APP_DATABASE_URL"):
                config.set_main_option("sqlalchemy.url", os.environ["APP_DATABASE_URL"])
            """,
        )
        monkeypatch.setenv("APP_DATABASE_URL", app_database)
        run_id = f"wrong{secrets.token_hex(3)}"
        monkeypatch.setenv("PGSANDBOX_RUN_ID", run_id)
        before = self._tables(app_database)
        project.pytester.makepyfile(test_items=TEST_ITEMS)
        result = project.run()
        output = _output(result)
        app_name = make_url(app_database).database
        assert "INTERNALERROR" not in output
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert (
            f"pgsandbox: while building the template, the migrations connected to database "
            f"'{app_name}' instead of the build database 'pgsb_build_{run_id}'"
        ) in output
        assert "env.py ignores the sqlalchemy.url pgsandbox gives it" in output
        assert self._tables(app_database) == before == ["app_data"]
        assert _templates_of(admin, project.schema_source()) == []
        assert not admin.exists(f"pgsb_build_{run_id}")
        assert project.migrations_run() == []

    def test_a_build_that_is_not_at_head_is_not_cached(
        self, project: Project, admin: AdminConnection
    ) -> None:
        """An env.py that never runs the migrations leaves no version table: no template."""
        (project.root / "migrations" / "env.py").write_text(
            "# A broken env.py: it never runs the migrations.\n"
        )
        project.pytester.makepyfile(test_items=TEST_ITEMS)
        result = project.run()
        output = _output(result)
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert "is not at head (0001_items): it has no alembic version table" in output
        assert "nothing was cached" in output
        assert _templates_of(admin, project.schema_source()) == []


class TestRebuild:
    def test_rebuild_flag_builds_the_template_again(self, project: Project) -> None:
        """--pgsandbox-rebuild drops the cached template and migrates again."""
        project.pytester.makepyfile(test_items=TEST_ITEMS)
        project.run().assert_outcomes(passed=1)
        result = project.run("--pgsandbox-rebuild", "-v", "-v")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["pgsandbox: template pgsb_tpl_* built in *"])
        assert len(project.migrations_run()) == 2


class TestTemplatesCommand:
    def test_lists_and_drops_pgsandbox_templates_only(
        self,
        pytester: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch,
        cluster_url: str,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """``templates`` lists project, hash, age and size; ``--drop`` drops only ours."""
        made = make_project(pytester, monkeypatch)
        (made.root / "pyproject.toml").write_text(
            '[tool.pytest.ini_options]\npgsandbox_alembic_ini = "alembic.ini"\n'
        )
        assert main(["--url", cluster_url, "prep", "--rootdir", str(made.root)]) == 0
        capsys.readouterr()
        assert main(["--url", cluster_url, "templates"]) == 0
        listing = capsys.readouterr().out
        key = made.schema_source().project_key()
        rows = [line.split() for line in listing.splitlines() if key in line]
        assert len(rows) == 1, listing
        name = rows[0][0]
        assert name.startswith("pgsb_tpl_")
        assert "MB" in listing
        assert "python -m pgsandbox templates --drop NAME" in listing

        assert main(["--url", cluster_url, "templates", "--drop", "postgres"]) == 2
        assert (
            "'postgres' is not a pgsandbox template; nothing was dropped" in capsys.readouterr().err
        )

        assert main(["--url", cluster_url, "templates", "--drop", name]) == 0
        assert f"pgsandbox: dropped template {name}" in capsys.readouterr().out
        admin = AdminConnection(connect(make_url(cluster_url), source="test"))
        try:
            assert not admin.exists(name)
            assert admin.exists("postgres")
            drop_templates(admin, made)
        finally:
            admin.close()
