"""Users: found or created by normalised e-mail address."""

from __future__ import annotations

import pytest

from glossator import services
from glossator.errors import NotFound, ValidationError


class TestFindOrCreateUser:
    async def test_creates_user_with_normalised_address(self) -> None:
        """A new address creates a user stored lowercase, named after the local part."""
        user = await services.find_or_create_user("  Ada.Lovelace@Example.ORG ")
        assert user.email == "ada.lovelace@example.org"
        assert user.display_name == "ada.lovelace"
        assert user.id > 0

    async def test_same_address_finds_the_same_user(self) -> None:
        """A second call, in any case, returns the existing user and keeps their name."""
        first = await services.find_or_create_user("ada@example.org", "Ada")
        again = await services.find_or_create_user("ADA@example.org", "Someone Else")
        assert again == first
        assert again.display_name == "Ada"

    async def test_display_name_is_stripped(self) -> None:
        """The given display name is stored without surrounding spaces."""
        user = await services.find_or_create_user("grace@example.org", "  Grace Hopper ")
        assert user.display_name == "Grace Hopper"

    async def test_invalid_address_creates_nothing(self) -> None:
        """An invalid address raises ValidationError before touching the database."""
        with pytest.raises(ValidationError):
            await services.find_or_create_user("not-an-address")

    async def test_blank_display_name_is_rejected(self) -> None:
        """An explicitly blank display name is an error, not a silent default."""
        with pytest.raises(ValidationError, match="display name"):
            await services.find_or_create_user("blank@example.org", "   ")


class TestGetUser:
    async def test_returns_the_user(self) -> None:
        """get_user returns the same record find_or_create_user did."""
        created = await services.find_or_create_user("linus@example.org")
        assert await services.get_user(created.id) == created

    async def test_unknown_id_is_not_found(self) -> None:
        """An id nobody has raises NotFound naming the user."""
        with pytest.raises(NotFound, match="user"):
            await services.get_user(987_654_321)
