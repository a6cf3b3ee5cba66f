"""The web app refuses to start without a usable secret key, and says how to make one."""

from __future__ import annotations

import logging

import pytest

from glossator.errors import ConfigurationError
from glossator.settings import Settings
from glossator.web import create_app
from glossator.web._app import DEV_SECRET_KEY, MIN_SECRET_KEY_LENGTH

GOOD_KEY = "k" * MIN_SECRET_KEY_LENGTH


def test_a_missing_key_is_refused_with_the_command_that_makes_one() -> None:
    """Outside development mode there is no fallback: the message names the fix."""
    with pytest.raises(ConfigurationError) as raised:
        create_app(Settings(secret_key=""))
    message = str(raised.value)
    assert "GLOSSATOR_SECRET_KEY is not set" in message
    assert "secrets.token_urlsafe(48)" in message
    assert "GLOSSATOR_DEV=1" in message


def test_development_mode_uses_the_built_in_key_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GLOSSATOR_DEV=1 without a key starts, with a warning in the log."""
    with caplog.at_level(logging.WARNING, logger="glossator.web"):
        app = create_app(Settings(secret_key="", dev_mode=True))
    assert app is not None
    assert any("insecure development key" in record.getMessage() for record in caplog.records)


def test_the_published_development_key_is_refused_in_production() -> None:
    """Setting the documented development key by hand is no way around the check."""
    with pytest.raises(ConfigurationError, match="published development key"):
        create_app(Settings(secret_key=DEV_SECRET_KEY))
    assert create_app(Settings(secret_key=DEV_SECRET_KEY, dev_mode=True)) is not None


@pytest.mark.parametrize("length", [1, MIN_SECRET_KEY_LENGTH - 1])
def test_a_short_key_is_refused_with_its_length(length: int) -> None:
    """A key shorter than the minimum is refused, and the message says how short it was."""
    with pytest.raises(ConfigurationError) as raised:
        create_app(Settings(secret_key="k" * length))
    assert f"at least {MIN_SECRET_KEY_LENGTH} characters long, got {length}" in str(raised.value)


def test_a_key_of_the_minimum_length_is_accepted() -> None:
    """The boundary itself is fine; nothing connects to a database at build time."""
    assert create_app(Settings(secret_key=GOOD_KEY)) is not None
