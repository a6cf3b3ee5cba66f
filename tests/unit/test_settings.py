"""Settings: read from the environment once, validated, pool sized for xdist workers."""

from __future__ import annotations

import dataclasses

import pytest

from glossator.errors import ConfigurationError
from glossator.settings import DEFAULT_DATABASE_URL, PoolLimits, Settings, pool_limits_for_workers


class TestFromEnv:
    def test_defaults_without_variables(self) -> None:
        """An empty environment gives the documented defaults."""
        settings = Settings.from_env({})
        assert settings == Settings()
        assert settings.database_url == DEFAULT_DATABASE_URL
        assert settings.worker_count == 1
        assert settings.application_name == "glossator"

    def test_reads_every_variable(self) -> None:
        """Each GLOSSATOR_* variable sets its field."""
        settings = Settings.from_env(
            {
                "GLOSSATOR_DATABASE_URL": "postgresql+asyncpg://app:secret@db:5433/prod",
                "GLOSSATOR_POOL_SIZE": "7",
                "GLOSSATOR_MAX_OVERFLOW": "3",
                "GLOSSATOR_POOL_TIMEOUT": "2.5",
                "GLOSSATOR_POOL_RECYCLE": "600",
                "GLOSSATOR_CONNECTION_BUDGET": "40",
                "GLOSSATOR_ECHO": "yes",
                "GLOSSATOR_APPLICATION_NAME": "glossator-web",
            }
        )
        assert settings == Settings(
            database_url="postgresql+asyncpg://app:secret@db:5433/prod",
            pool_size=7,
            max_overflow=3,
            pool_timeout=2.5,
            pool_recycle=600,
            connection_budget=40,
            echo=True,
            application_name="glossator-web",
        )

    def test_xdist_worker_variables_tag_and_size(self) -> None:
        """Under xdist the worker id tags application_name and the count sizes the pool."""
        settings = Settings.from_env(
            {"PYTEST_XDIST_WORKER": "gw3", "PYTEST_XDIST_WORKER_COUNT": "4"}
        )
        assert settings.application_name == "glossator[gw3]"
        assert settings.worker_count == 4

    def test_blank_values_mean_default(self) -> None:
        """A variable set to whitespace is treated as unset."""
        settings = Settings.from_env({"GLOSSATOR_DATABASE_URL": "  ", "GLOSSATOR_POOL_SIZE": ""})
        assert settings.database_url == DEFAULT_DATABASE_URL
        assert settings.pool_size == Settings().pool_size

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("GLOSSATOR_POOL_SIZE", "many"),
            ("GLOSSATOR_POOL_TIMEOUT", "soon"),
            ("GLOSSATOR_ECHO", "maybe"),
            ("PYTEST_XDIST_WORKER_COUNT", "two"),
        ],
    )
    def test_unparseable_value_names_the_variable(self, name: str, value: str) -> None:
        """A value that cannot be parsed is a ConfigurationError naming the variable."""
        with pytest.raises(ConfigurationError, match=name):
            Settings.from_env({name: value})

    @pytest.mark.parametrize("word", ["0", "false", "No", "OFF"])
    def test_echo_false_words(self, word: str) -> None:
        """GLOSSATOR_ECHO accepts the usual words for false, in any case."""
        assert Settings.from_env({"GLOSSATOR_ECHO": word}).echo is False


class TestValidation:
    def test_url_must_use_asyncpg(self) -> None:
        """A URL with another driver is rejected, and the password is not echoed."""
        with pytest.raises(ConfigurationError, match="asyncpg") as raised:
            Settings(database_url="postgresql+psycopg://app:hunter2@db/prod")
        assert "hunter2" not in str(raised.value)

    @pytest.mark.parametrize(
        "changes",
        [
            {"pool_size": 0},
            {"max_overflow": -1},
            {"pool_timeout": 0},
            {"connection_budget": 0},
            {"worker_count": 0},
        ],
    )
    def test_impossible_pool_values_are_rejected(self, changes: dict[str, float]) -> None:
        """Pool values no engine could work with are a ConfigurationError."""
        with pytest.raises(ConfigurationError):
            Settings(**changes)  # type: ignore[arg-type]  # mixed int/float test values

    def test_settings_are_frozen(self) -> None:
        """Settings cannot change after they were read."""
        settings = Settings()
        with pytest.raises(dataclasses.FrozenInstanceError):
            settings.pool_size = 99  # type: ignore[misc]  # the point of the test

    def test_redacted_url_hides_password(self) -> None:
        """redacted_database_url is safe to print."""
        settings = Settings(database_url="postgresql+asyncpg://app:hunter2@db:5432/prod")
        assert settings.redacted_database_url == "postgresql+asyncpg://app:***@db:5432/prod"


class TestPoolSizing:
    def test_single_process_keeps_configured_pool(self) -> None:
        """Without xdist the configured sizes are used unchanged."""
        limits = pool_limits_for_workers(10, 5, worker_count=1, connection_budget=8)
        assert limits == PoolLimits(pool_size=10, max_overflow=5)

    def test_workers_share_the_budget(self) -> None:
        """Eight workers with a budget of 80 get at most 10 connections each."""
        limits = pool_limits_for_workers(20, 20, worker_count=8, connection_budget=80)
        assert limits == PoolLimits(pool_size=10, max_overflow=0)
        assert limits.max_connections * 8 <= 80

    def test_small_configured_pool_is_not_grown(self) -> None:
        """Sizing only ever shrinks the pool."""
        limits = pool_limits_for_workers(2, 1, worker_count=4, connection_budget=80)
        assert limits == PoolLimits(pool_size=2, max_overflow=1)

    def test_overflow_gets_what_the_pool_leaves(self) -> None:
        """The per-worker share is filled by pool_size first, then max_overflow."""
        limits = pool_limits_for_workers(5, 5, worker_count=10, connection_budget=80)
        assert limits == PoolLimits(pool_size=5, max_overflow=3)

    def test_every_worker_gets_at_least_one_connection(self) -> None:
        """More workers than budget still leaves each worker one connection."""
        limits = pool_limits_for_workers(5, 5, worker_count=100, connection_budget=10)
        assert limits == PoolLimits(pool_size=1, max_overflow=0)

    @pytest.mark.parametrize("workers", [2, 3, 4, 8, 16])
    def test_total_stays_within_budget(self, workers: int) -> None:
        """N workers together never exceed the connection budget."""
        settings = Settings(
            pool_size=10, max_overflow=10, connection_budget=60, worker_count=workers
        )
        assert settings.pool_limits().max_connections * workers <= 60
