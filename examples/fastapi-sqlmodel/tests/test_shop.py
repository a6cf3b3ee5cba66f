"""The shop's API on a real PostgreSQL, through an async client and FastAPI's TestClient."""

import asyncio

import pytest
from shop.main import app
from shop.models import Product
from sqlmodel import select

import pgsandbox


@pytest.fixture
async def client():
    async with pgsandbox.asgi.lifespan_client(app) as client:
        yield client


async def add(client, name, stock=1):
    response = await client.post("/products", json={"name": name, "stock": stock})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize("n", range(4))
async def test_each_test_starts_with_no_products(client, n):
    for i in range(n + 1):
        await add(client, f"item {i}")
    assert len((await client.get("/products")).json()) == n + 1


async def test_products_are_listed_by_name(client):
    for name in ("pear", "apple", "fig"):
        await add(client, name)
    names = [p["name"] for p in (await client.get("/products")).json()]
    assert names == ["apple", "fig", "pear"]


async def test_a_duplicate_name_is_409_and_the_session_goes_on(client):
    await add(client, "kiwi")
    again = await client.post("/products", json={"name": "kiwi", "stock": 1})
    assert again.status_code == 409
    assert await add(client, "lime") > 0


async def test_negative_stock_is_refused_by_the_database(client):
    response = await client.post("/products", json={"name": "ghost", "stock": -1})
    assert response.status_code == 409
    assert (await client.get("/products")).json() == []


async def test_ordering_takes_one_from_stock(client):
    product = await add(client, "plum", stock=2)
    assert (await client.post(f"/products/{product}/orders")).status_code == 201
    assert (await client.get("/products")).json() == [{"name": "plum", "stock": 1}]


async def test_a_sold_out_product_is_409(client):
    product = await add(client, "quince", stock=0)
    response = await client.post(f"/products/{product}/orders")
    assert response.status_code == 409
    assert "sold out" in response.json()["detail"]


async def test_an_unknown_product_is_404(client):
    assert (await client.post("/products/999999/orders")).status_code == 404


async def test_the_test_session_sees_what_the_app_committed(client, pgsandbox_session):
    await add(client, "date")
    products = (await pgsandbox_session.exec(select(Product))).all()
    assert [p.name for p in products] == ["date"]


async def test_two_buyers_race_for_the_last_one_and_one_wins(client):
    """transaction mode: the two requests' sessions take turns on the test's connection."""
    product = await add(client, "last cake", stock=1)
    first, second = await asyncio.gather(
        client.post(f"/products/{product}/orders"),
        client.post(f"/products/{product}/orders"),
    )
    assert sorted([first.status_code, second.status_code]) == [201, 409]


@pytest.mark.pgsandbox(isolation="database")
async def test_the_same_race_with_real_commits(client):
    product = await add(client, "last pie", stock=1)
    results = await asyncio.gather(*(client.post(f"/products/{product}/orders") for _ in range(5)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]


def test_the_sync_test_client_works_through_the_portal(pgsandbox_portal):
    with pgsandbox.asgi.portal_client(app, pgsandbox_portal) as client:
        assert client.post("/products", json={"name": "bun", "stock": 3}).status_code == 201
        assert client.get("/products").json() == [{"name": "bun", "stock": 3}]


def test_the_sync_test_client_sees_a_fresh_schema(pgsandbox_portal):
    client = pgsandbox.asgi.portal_client(app, pgsandbox_portal)
    assert client.get("/products").json() == []
