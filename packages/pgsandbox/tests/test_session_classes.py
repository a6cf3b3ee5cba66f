"""The project's own session classes: SQLModel's out of the box, any other by configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox_projects import add_ini, require_installed

if TYPE_CHECKING:
    from sandbox_projects import Project

MODELS = """
from sqlmodel import Field, SQLModel


class Item(SQLModel, table=True):
    __tablename__ = "items"
    id: int | None = Field(default=None, primary_key=True)
    name: str
"""

CUSTOM = """
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session


class AppSyncSession(Session):
    def app_marker(self):
        return "sync"


class AppSession(AsyncSession):
    sync_session_class = AppSyncSession

    def app_marker(self):
        return "async"
"""


class TestSQLModel:
    def test_sqlmodel_sessions_work_out_of_the_box_and_keep_leak_tracking(
        self, project: Project
    ) -> None:
        """A project that imports SQLModel gets its sessions: ``exec()``, still rolled back."""
        # The compat cells of `nox -s compat` install only pgsandbox's own dependencies.
        require_installed("sqlmodel", "the inner project's models are SQLModel's")
        project.pytester.makepyfile(models=MODELS)
        project.pytester.makepyfile(
            test_sqlmodel="""
            from sqlmodel import select
            from sqlmodel.ext.asyncio.session import AsyncSession as SQLModelAsyncSession
            from sqlmodel.orm.session import Session as SQLModelSession

            from models import Item

            async def test_1_async_exec(pgsandbox_sessionmaker):
                async with pgsandbox_sessionmaker() as session:
                    assert isinstance(session, SQLModelAsyncSession)
                    assert isinstance(session.sync_session, SQLModelSession)
                    session.add(Item(name="a"))
                    await session.commit()
                async with pgsandbox_sessionmaker() as session:
                    names = (await session.exec(select(Item.name))).all()
                assert names == ["a"]

            async def test_2_rolled_back(pgsandbox_session):
                assert (await pgsandbox_session.exec(select(Item))).all() == []

            def test_3_sync_exec(pgsandbox_sync_session):
                assert isinstance(pgsandbox_sync_session, SQLModelSession)
                pgsandbox_sync_session.add(Item(name="b"))
                pgsandbox_sync_session.commit()
                assert pgsandbox_sync_session.exec(select(Item.name)).all() == ["b"]

            async def test_4_leak_is_still_reported(pgsandbox_sessionmaker):
                session = pgsandbox_sessionmaker()
                await session.exec(select(Item))
            """
        )
        result = project.run()
        result.assert_outcomes(passed=4, errors=1)
        result.stdout.fnmatch_lines(
            ["*test_4_leak_is_still_reported*1 connection(s) or transaction(s) still open*"]
        )


class TestConfiguredClasses:
    def test_ini_keys_name_the_classes(self, project: Project) -> None:
        """``pgsandbox_session_class`` / ``pgsandbox_sync_session_class`` take module:Class."""
        project.pytester.makepyfile(appsessions=CUSTOM)
        add_ini(
            project,
            "pgsandbox_session_class = appsessions:AppSession",
            "pgsandbox_sync_session_class = appsessions:AppSyncSession",
        )
        project.pytester.makepyfile(
            test_custom="""
            from sqlalchemy import text

            async def test_async(pgsandbox_sessionmaker):
                async with pgsandbox_sessionmaker() as session:
                    assert session.app_marker() == "async"
                    assert session.sync_session.app_marker() == "sync"
                    await session.execute(text("INSERT INTO items (name) VALUES ('x')"))
                    await session.commit()

            def test_sync(pgsandbox_sync_session):
                assert pgsandbox_sync_session.app_marker() == "sync"
                assert pgsandbox_sync_session.scalar(text("SELECT count(*) FROM items")) == 0
            """
        )
        project.run().assert_outcomes(passed=2)

    def test_fixture_override_and_a_wrong_class_is_named(self, project: Project) -> None:
        """A conftest may override the fixture; an ini value that is no session class fails."""
        project.pytester.makepyfile(appsessions=CUSTOM)
        project.pytester.makepyfile(
            test_override="""
            import pytest
            from sqlalchemy import text

            import appsessions

            @pytest.fixture
            def pgsandbox_session_class():
                return appsessions.AppSession

            async def test_override(pgsandbox_session):
                assert pgsandbox_session.app_marker() == "async"
                assert await pgsandbox_session.scalar(text("SELECT 1")) == 1
            """
        )
        project.run().assert_outcomes(passed=1)
        add_ini(project, "pgsandbox_session_class = appsessions:AppSyncSession")
        project.pytester.makepyfile(
            test_override="""
            async def test_wrong(pgsandbox_session):
                pass
            """
        )
        result = project.run()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            [
                (
                    "*pgsandbox_session_class = 'appsessions:AppSyncSession' is not a subclass of "
                    "SQLAlchemy's sqlalchemy.ext.asyncio.session.AsyncSession*"
                )
            ]
        )
