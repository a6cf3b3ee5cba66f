"""Real web frameworks and async runners: anyio's plugin, TestClient, httpx, FastAPI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from sandbox_projects import require_installed

# The inner projects are Starlette, FastAPI and SQLModel apps; the compat cells of
# `nox -s compat` install only pgsandbox's own dependencies.
for _framework in ("starlette", "fastapi", "sqlmodel", "httpx", "anyio"):
    require_installed(_framework, "the framework tests' inner projects use it", module_level=True)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sandbox_projects import Project

#: A Starlette app whose error handling swallows database errors, as real apps' do.
STARLETTE_APP = """
import contextlib

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

SESSIONS = {"maker": None}


async def add(request):
    try:
        async with SESSIONS["maker"]() as session:
            await session.execute(
                text("INSERT INTO items (name) VALUES (:n)"), {"n": request.path_params["name"]}
            )
            await session.commit()
    except Exception:
        return JSONResponse({"error": "database"}, status_code=500)
    return JSONResponse({"added": request.path_params["name"]})


async def count(request):
    async with SESSIONS["maker"]() as session:
        n = await session.scalar(text("SELECT count(*) FROM items"))
    return JSONResponse({"count": n, "started": request.state.started})


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"started": True}


app = Starlette(
    routes=[Route("/add/{name}", add, methods=["POST"]), Route("/count", count)],
    lifespan=lifespan,
)
"""

CONFTEST = """
import pytest

import webapp


@pytest.fixture
def db(pgsandbox_sessionmaker, monkeypatch):
    monkeypatch.setitem(webapp.SESSIONS, "maker", pgsandbox_sessionmaker)


@pytest.fixture
def anyio_backend():
    return {backend!r}
"""

ANYIO_TESTS = """
import asyncio

import pytest

import pgsandbox
from webapp import app

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("n", range(3))
async def test_request_after_request(db, pgsandbox_connection, n):
    driver = pgsandbox_connection.sync_connection.connection.driver_connection
    assert driver._loop is asyncio.get_running_loop()
    async with pgsandbox.asgi.lifespan_client(app) as client:
        assert (await client.post(f"/add/item{n}")).status_code == 200
        assert (await client.get("/count")).json() == {"count": 1, "started": True}
"""


def _project(project: Project, backend: str = "asyncio") -> None:
    project.pytester.makepyfile(webapp=STARLETTE_APP)
    project.pytester.makeconftest(CONFTEST.format(backend=backend))


def _set_asyncio_mode(project: Project, mode: str) -> None:
    ini = project.root / "tox.ini"
    ini.write_text(ini.read_text().replace("asyncio_mode = auto", f"asyncio_mode = {mode}"))


class TestAnyio:
    @pytest.mark.parametrize(
        ("mode", "args"),
        [("auto", ()), ("strict", ()), ("strict", ("-p", "no:asyncio"))],
        ids=["pytest-asyncio-auto", "pytest-asyncio-strict", "without-pytest-asyncio"],
    )
    def test_anyio_tests_get_the_sandbox_in_their_own_loop(
        self, project: Project, mode: str, args: tuple[str, ...]
    ) -> None:
        """Every ``@pytest.mark.anyio`` test, not only the first, shares the sandbox's loop."""
        _project(project)
        _set_asyncio_mode(project, mode)
        project.pytester.makepyfile(test_anyio=ANYIO_TESTS)
        result = project.run(*args)
        result.assert_outcomes(passed=3)
        assert "different loop" not in result.stdout.str()

    def test_trio_backend_is_told_to_use_asyncio(self, project: Project) -> None:
        """The trio backend cannot drive asyncpg; the test says how to pick asyncio."""
        _project(project, backend="trio")
        _set_asyncio_mode(project, "strict")
        project.pytester.makepyfile(
            test_trio="""
            import pytest

            @pytest.mark.anyio
            async def test_on_trio(pgsandbox_session):
                pass
            """
        )
        result = project.run()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            ["*runs on anyio's 'trio' backend*define `anyio_backend` returning \"asyncio\"*"]
        )


class TestAppsServedInAnotherThread:
    def test_sync_test_client_in_transaction_mode_fails_with_the_fix(
        self, project: Project
    ) -> None:
        """The app's 500 is not the end of it: the test fails, naming the portal fixture.

        In ``transaction`` isolation the app used the test's connection; in ``database``
        isolation it checked connections out of the test's engine, whose pool belongs to
        the test's loop.
        """
        _project(project)
        project.pytester.makepyfile(
            test_client="""
            import pytest
            from starlette.testclient import TestClient

            from webapp import app

            def test_post(db):
                with TestClient(app) as client:
                    assert client.post("/add/a").status_code == 500

            @pytest.mark.pgsandbox(isolation="database")
            def test_post_database(db):
                with TestClient(app) as client:
                    assert client.post("/add/a").status_code == 500
            """
        )
        result = project.run()
        result.assert_outcomes(passed=2, errors=2)
        for test in ("test_post", "test_post_database"):
            result.stdout.fnmatch_lines(
                [
                    (
                        f"*the test's database connection (test_client.py::{test}) was used from "
                        "another thread*"
                    ),
                    "*request the pgsandbox_portal fixture*pgsandbox.asgi.portal_client*",
                ]
            )

    def test_portal_client_makes_the_sync_test_client_just_work(self, project: Project) -> None:
        """Starlette's and FastAPI's TestClient run the app in pgsandbox's portal: it works."""
        _project(project)
        project.pytester.makepyfile(
            fastapp="""
            from typing import Annotated

            from fastapi import Depends, FastAPI
            from sqlmodel import Field, SQLModel, select
            from sqlmodel.ext.asyncio.session import AsyncSession

            import webapp


            class Item(SQLModel, table=True):
                __tablename__ = "items"
                id: int | None = Field(default=None, primary_key=True)
                name: str


            async def session():
                async with webapp.SESSIONS["maker"]() as s:
                    yield s


            app = FastAPI()


            @app.post("/items/{name}")
            async def add(name: str, s: Annotated[AsyncSession, Depends(session)]):
                s.add(Item(name=name))
                await s.commit()
                return {"added": name}


            @app.get("/items")
            async def names(s: Annotated[AsyncSession, Depends(session)]):
                return [item.name for item in (await s.exec(select(Item))).all()]
            """
        )
        project.pytester.makepyfile(
            test_portal="""
            import pgsandbox
            import fastapp
            import webapp

            def test_1_starlette(db, pgsandbox_portal):
                with pgsandbox.asgi.portal_client(webapp.app, pgsandbox_portal) as client:
                    assert client.post("/add/a").status_code == 200
                    assert client.get("/count").json() == {"count": 1, "started": True}
                assert client.post("/add/b").status_code == 200  # outside `with`, too

            def test_2_fastapi_sqlmodel(db, pgsandbox_portal):
                client = pgsandbox.asgi.portal_client(fastapp.app, pgsandbox_portal)
                assert client.get("/items").json() == []  # the last test rolled back
                assert client.post("/items/x").status_code == 200
                assert client.get("/items").json() == ["x"]
            """
        )
        project.run().assert_outcomes(passed=2)


class TestEngineRecipe:
    def test_global_engine_replaced_by_pgsandbox_bind(self, project: Project) -> None:
        """Code that makes sessions from a module-global engine works on ``pgsandbox_bind``."""
        project.pytester.makepyfile(
            service="""
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncSession

            engine = None  # create_async_engine(...) in production


            async def add(name):
                async with AsyncSession(engine) as session:
                    await session.execute(text("INSERT INTO items (name) VALUES (:n)"), {"n": name})
                    await session.commit()


            async def count():
                async with AsyncSession(engine) as session:
                    return await session.scalar(text("SELECT count(*) FROM items"))
            """
        )
        project.pytester.makeconftest(
            """
            import pytest

            import service

            @pytest.fixture(autouse=True)
            def _engine(pgsandbox_bind, monkeypatch):
                monkeypatch.setattr(service, "engine", pgsandbox_bind)
            """
        )
        project.pytester.makepyfile(
            test_recipe="""
            import pytest

            import service

            @pytest.mark.parametrize("n", range(2))
            async def test_transaction(n):
                await service.add("a")
                assert await service.count() == 1  # the other run's row was rolled back

            @pytest.mark.pgsandbox(isolation="database")
            async def test_database():
                await service.add("b")
                assert await service.count() == 1
            """
        )
        project.run().assert_outcomes(passed=3)


class TestSummary:
    def test_skipped_tests_are_not_counted_as_database_tests(self, project: Project) -> None:
        """``main 3 (1 db, ...)``: two skipped database tests are tests, not database tests."""
        project.pytester.makepyfile(
            test_skips="""
            import pytest

            @pytest.mark.skip(reason="not today")
            @pytest.mark.parametrize("n", range(2))
            def test_skipped(pgsandbox_sync_session, n):
                pass

            def test_ran(pgsandbox_sync_session):
                pass
            """
        )
        result = project.run()
        result.assert_outcomes(passed=1, skipped=2)
        result.stdout.fnmatch_lines(["pgsandbox: tests per worker: main 3 (1 db, *"])


class TestLifespanClient:
    async def test_failed_startup_is_raised(self) -> None:
        """An app whose startup fails does not get a client; the failure is raised."""
        import contextlib

        from starlette.applications import Starlette

        import pgsandbox

        @contextlib.asynccontextmanager
        async def lifespan(_app: object) -> AsyncIterator[None]:
            if not getattr(_app, "database_configured", False):
                raise RuntimeError("no database configured")
            yield

        app = Starlette(lifespan=lifespan)
        with pytest.raises(pgsandbox.asgi.LifespanFailed, match="no database configured"):
            async with pgsandbox.asgi.lifespan_client(app):
                pytest.fail("the client must not be handed out")

    async def test_app_without_lifespan_is_served(self) -> None:
        """A bare ASGI app that refuses the lifespan scope is served without one."""
        import pgsandbox

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                raise RuntimeError("no lifespan here")
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async with pgsandbox.asgi.lifespan_client(app) as client:
            assert (await client.get("/")).status_code == 204
