"""The command line's argument handling and configuration errors (no database)."""

from __future__ import annotations

import pytest

from glossator.cli import alembic_config, main


class TestArguments:
    def test_db_needs_an_action(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`glossator db` without an action is a usage error (exit 2)."""
        with pytest.raises(SystemExit) as exited:
            main(["db"])
        assert exited.value.code == 2
        assert "ACTION" in capsys.readouterr().err

    def test_downgrade_needs_a_revision(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Downgrading has no default target: the user must say how far."""
        with pytest.raises(SystemExit):
            main(["db", "downgrade"])
        assert "revision" in capsys.readouterr().err

    def test_bad_url_is_reported_without_traceback(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A GLOSSATOR_DATABASE_URL with the wrong driver exits 2 with a one-line reason."""
        monkeypatch.setenv("GLOSSATOR_DATABASE_URL", "postgresql://app@db/prod")
        assert main(["db", "current"]) == 2
        err = capsys.readouterr().err
        assert "GLOSSATOR_DATABASE_URL must use the asyncpg driver" in err
        assert "Traceback" not in err


class TestAlembicConfig:
    def test_url_is_set_and_percent_signs_survive(self) -> None:
        """The URL is stored escaped for configparser and read back unchanged."""
        url = "postgresql+asyncpg://app:p%40ss@db:5432/glossator"
        config = alembic_config(url, configure_logger=False)
        assert config.get_main_option("sqlalchemy.url") == url
        assert config.attributes["configure_logger"] is False
