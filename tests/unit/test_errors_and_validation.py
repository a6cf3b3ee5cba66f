"""Errors and input validation that need no database."""

from __future__ import annotations

import pytest

from glossator.errors import (
    AlreadyExists,
    Conflict,
    DuplicateEnrollment,
    GlossatorError,
    InvalidRange,
    NotFound,
    ValidationError,
)
from glossator.services import normalise_email
from glossator.services._common import clean_text


class TestErrorHierarchy:
    def test_duplicate_enrollment_is_a_conflict(self) -> None:
        """Callers can catch DuplicateEnrollment as AlreadyExists, Conflict or GlossatorError."""
        assert issubclass(DuplicateEnrollment, AlreadyExists)
        assert issubclass(AlreadyExists, Conflict)
        assert issubclass(Conflict, GlossatorError)

    def test_invalid_range_is_a_validation_error(self) -> None:
        """InvalidRange is reported like any other invalid argument."""
        assert issubclass(InvalidRange, ValidationError)

    def test_not_found_names_entity_and_key(self) -> None:
        """NotFound keeps what was looked for and says it in its message."""
        error = NotFound("course", 42)
        assert (error.entity, error.key) == ("course", 42)
        assert str(error) == "course 42 does not exist"


class TestEmailNormalisation:
    def test_strips_and_lowercases(self) -> None:
        """Addresses are compared case-insensitively, without surrounding spaces."""
        assert normalise_email("  Ada.Lovelace@Example.ORG ") == "ada.lovelace@example.org"

    @pytest.mark.parametrize(
        "address",
        ["", "ada", "ada@", "@example.org", "ada@example", "ada lovelace@example.org", "a@b@c.org"],
    )
    def test_rejects_non_addresses(self, address: str) -> None:
        """Strings that are not e-mail addresses raise ValidationError."""
        with pytest.raises(ValidationError, match="e-mail"):
            normalise_email(address)

    def test_rejects_overlong_addresses(self) -> None:
        """Addresses longer than 320 characters do not fit the column."""
        with pytest.raises(ValidationError):
            normalise_email("a" * 310 + "@example.org")


class TestCleanText:
    def test_strips(self) -> None:
        """Surrounding whitespace is removed."""
        assert clean_text("  Essay 1 \n", "title", max_length=10) == "Essay 1"

    @pytest.mark.parametrize("value", ["", "   "])
    def test_rejects_blank(self, value: str) -> None:
        """Blank text is rejected, naming the field."""
        with pytest.raises(ValidationError, match="title must not be empty"):
            clean_text(value, "title", max_length=10)

    def test_rejects_too_long(self) -> None:
        """Text longer than the column allows is rejected."""
        with pytest.raises(ValidationError, match="at most 3"):
            clean_text("abcd", "code", max_length=3)
