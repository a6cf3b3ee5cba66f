"""Users: addresses normalised, found again, validated; concurrent sign-ups (database mode)."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.realistic_suite._counts import cases
from glossator import services
from glossator.errors import NotFound, ValidationError

DATABASE = pytest.mark.pgsandbox(isolation="database")


@pytest.mark.parametrize("n", cases(__file__, "users_normalised"))
async def test_creates_user_with_normalised_address(n: int, uid: str) -> None:
    """The address is stored stripped and lowercased; the name defaults to its local part."""
    user = await services.find_or_create_user(f"  Ada.{uid}.{n}@Example.ORG ")
    assert user.email == f"ada.{uid}.{n}@example.org"
    assert user.display_name == f"ada.{uid}.{n}"
    assert await services.get_user(user.id) == user


@pytest.mark.parametrize("n", cases(__file__, "users_found_again"))
async def test_same_address_finds_the_same_user(n: int, uid: str) -> None:
    """A second call with the address in other case returns the first user, name unchanged."""
    first = await services.find_or_create_user(f"grace-{uid}-{n}@example.org", " Grace ")
    again = await services.find_or_create_user(f"GRACE-{uid}-{n}@Example.org", "Someone Else")
    assert again == first
    assert again.display_name == "Grace"


@pytest.mark.parametrize("n", cases(__file__, "users_invalid"))
async def test_invalid_input_creates_nothing(n: int, uid: str) -> None:
    """A bad address or a blank name is refused; the next valid call still works."""
    with pytest.raises(ValidationError):
        await services.find_or_create_user(f"not-an-address-{uid}-{n}")
    with pytest.raises(ValidationError, match="display name"):
        await services.find_or_create_user(f"blank-{uid}-{n}@example.org", "   ")
    created = await services.find_or_create_user(f"blank-{uid}-{n}@example.org", "Named")
    assert created.display_name == "Named"
    with pytest.raises(NotFound, match="user"):
        await services.get_user(987_654_321 + n)


@DATABASE
@pytest.mark.parametrize("n", cases(__file__, "users_concurrent_sign_up"))
async def test_concurrent_sign_ups_get_one_user(n: int, uid: str) -> None:
    """Four sessions creating the same address at once all get the same user."""
    address = f"race-{uid}-{n}@example.org"
    users = await asyncio.gather(
        *(services.find_or_create_user(address, f"Racer {k}") for k in range(4))
    )
    assert len({user.id for user in users}) == 1
    assert await services.get_user(users[0].id) == users[0]
