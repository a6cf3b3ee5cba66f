"""Litestar + advanced-alchemy walls: Litestar's test clients, advanced-alchemy's alembic Config.

The inner projects import Litestar and advanced-alchemy; this process never does (the
tests share it with other suites, and ``require_installed`` only looks them up).
"""

from __future__ import annotations

import sys
import uuid
from typing import TYPE_CHECKING

import pytest

from sandbox_projects import INI, MIGRATION, Project, drop_templates, require_installed

# The compat cells of `nox -s compat` install only pgsandbox's own dependencies.
for _framework in ("litestar", "advanced_alchemy", "httpx", "anyio"):
    require_installed(_framework, "the Litestar tests' inner projects use it", module_level=True)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pgsandbox._admin import AdminConnection

#: A Litestar app whose error handling swallows database errors, as real apps' do.
LITESTAR_APP = """
from litestar import Litestar, Response, get, post
from litestar.params import FromPath
from sqlalchemy import text

SESSIONS = {"maker": None}


@post("/add/{name:str}")
async def add(name: FromPath[str]) -> Response:
    try:
        async with SESSIONS["maker"]() as session:
            await session.execute(text("INSERT INTO items (name) VALUES (:n)"), {"n": name})
            await session.commit()
    except Exception:
        return Response({"error": "database"}, status_code=500)
    return Response({"added": name}, status_code=201)


@get("/count")
async def count() -> dict:
    async with SESSIONS["maker"]() as session:
        return {"count": await session.scalar(text("SELECT count(*) FROM items"))}


app = Litestar(route_handlers=[add, count])
"""

CONFTEST = """
import pytest

import webapp


@pytest.fixture
def db(pgsandbox_sessionmaker, monkeypatch):
    monkeypatch.setitem(webapp.SESSIONS, "maker", pgsandbox_sessionmaker)
"""


def _litestar_project(project: Project) -> None:
    project.pytester.makepyfile(webapp=LITESTAR_APP)
    project.pytester.makeconftest(CONFTEST)


class TestLitestarTestClients:
    def test_async_test_client_in_transaction_mode_fails_at_teardown_with_the_fix(
        self, project: Project
    ) -> None:
        """Litestar's AsyncTestClient serves the app in a portal thread; the app answers
        500 (it swallowed the error) and the test fails anyway, naming the fix."""
        _litestar_project(project)
        project.pytester.makepyfile(
            test_client="""
            import pytest
            from litestar.testing import AsyncTestClient

            from webapp import app

            @pytest.mark.anyio
            async def test_post(db):
                async with AsyncTestClient(app) as client:
                    assert (await client.post("/add/a")).status_code == 500
            """
        )
        result = project.run()
        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines(
            [
                (
                    "*the test's database connection (test_client.py::test_post*) was used "
                    "from another thread*"
                ),
                (
                    "*Litestar's TestClient or AsyncTestClient: set client.blocking_portal = "
                    "pgsandbox_portal before entering it*"
                ),
            ]
        )

    def test_litestar_clients_given_the_portal_just_work(self, project: Project) -> None:
        """With ``blocking_portal = pgsandbox_portal`` both clients serve the app in the
        loop that holds the test's connection, in transaction mode, and roll back."""
        _litestar_project(project)
        project.pytester.makepyfile(
            test_portal="""
            import pytest
            from litestar.testing import AsyncTestClient, TestClient

            from webapp import app

            @pytest.mark.anyio
            async def test_1_async_client(db, pgsandbox_portal):
                client = AsyncTestClient(app)
                client.blocking_portal = pgsandbox_portal
                async with client:
                    assert (await client.post("/add/a")).status_code == 201
                    assert (await client.get("/count")).json() == {"count": 1}

            def test_2_sync_client(db, pgsandbox_portal):
                client = TestClient(app)
                client.blocking_portal = pgsandbox_portal
                with client:
                    assert client.get("/count").json() == {"count": 0}  # rolled back
                    assert client.post("/add/b").status_code == 201
                    assert client.get("/count").json() == {"count": 1}
            """
        )
        project.run().assert_outcomes(passed=2)


# ---------------------------------------------------------------- advanced-alchemy's alembic
APP_DB = """
from advanced_alchemy.alembic.commands import AlembicCommands
from advanced_alchemy.extensions.litestar import AlembicAsyncConfig, SQLAlchemyAsyncConfig

# The app's own database: pgsandbox must never migrate it (here it does not even exist).
APP_URL = "postgresql+asyncpg://nobody@127.0.0.1:1/app_of_its_own"
MIGRATIONS = AlembicAsyncConfig(script_config="alembic.ini", script_location="migrations")


def config_for(url):
    alchemy = SQLAlchemyAsyncConfig(connection_string=url, alembic_config=MIGRATIONS)
    return AlembicCommands(sqlalchemy_config=alchemy).config


def app_config(ini_path):
    return config_for(APP_URL)


def build_config(ini_path, url=None):
    return config_for(url or APP_URL)
"""


@pytest.fixture
def aa_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, admin: AdminConnection
) -> Iterator[Project]:
    """A project laid out by advanced-alchemy's own `init` (its asyncio env.py, alembic.ini)."""
    pytester.makeini(INI)
    pytester.makepyfile(appdb=APP_DB)
    init = pytester.run(
        sys.executable,
        "-c",
        "import appdb; from advanced_alchemy.alembic.commands import AlembicCommands; "
        "from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig; "
        "AlembicCommands(SQLAlchemyAsyncConfig(connection_string=appdb.APP_URL, "
        "alembic_config=appdb.MIGRATIONS)).init('migrations')",
    )
    assert init.ret == 0, init.stderr.str()
    assert "config.db_url" in (pytester.path / "migrations" / "env.py").read_text()
    (pytester.path / "migrations" / "versions" / "0001_items.py").write_text(
        MIGRATION.format(nonce=uuid.uuid4().hex)
    )
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(
        test_items="""
        from sqlalchemy import text

        def test_items_exist(pgsandbox_sync_session):
            count = pgsandbox_sync_session.execute(text("SELECT count(*) FROM items"))
            assert count.scalar() == 0
        """
    )
    made = Project(pytester, pytester.path / "migrations-ran.txt")
    yield made
    drop_templates(admin, made)


def _use_factory(project: Project, factory: str) -> None:
    ini = project.root / "tox.ini"  # pytester.makeini writes tox.ini
    ini.write_text(ini.read_text() + f"\npgsandbox_alembic_config = {factory}\n")


class TestAdvancedAlchemyAlembicConfig:
    def test_a_plain_config_fails_on_db_url(self, aa_project: Project) -> None:
        """advanced-alchemy's env.py on alembic's plain Config: the adopters' AttributeError."""
        result = aa_project.run()
        assert "'Config' object has no attribute 'db_url'" in result.stdout.str()
        assert result.ret == pytest.ExitCode.INTERRUPTED

    def test_its_config_made_for_the_apps_database_stops_naming_the_url_parameter(
        self, aa_project: Project
    ) -> None:
        """A factory that makes the Config for the app's database: env.py connects there
        (config.engine), not to the build database; the run stops naming the fix."""
        _use_factory(aa_project, "appdb:app_config")
        result = aa_project.run()
        assert result.ret == pytest.ExitCode.INTERRUPTED
        output = " ".join(result.stdout.str().split())
        assert "pgsandbox: alembic upgrade head failed" in output
        assert "Fix: give appdb:app_config a `url` parameter" in output

    def test_a_factory_with_a_url_parameter_builds_the_template(self, aa_project: Project) -> None:
        """Given the build database's URL, advanced-alchemy's own Config and env.py build it."""
        _use_factory(aa_project, "appdb:build_config")
        result = aa_project.run()
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*built*from alembic (Config from appdb:build_config)*"])
