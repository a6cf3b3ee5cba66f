"""The box office on a real PostgreSQL, in anyio tests, through httpx and Litestar's clients."""

import anyio
import pytest
from box_office.app import app
from box_office.models import Concert
from litestar.testing import AsyncTestClient, TestClient
from sqlalchemy import select

import pgsandbox

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client():
    async with pgsandbox.asgi.lifespan_client(app, base_url="http://box.office") as client:
        yield client


async def add(client, name, seats=1):
    response = await client.post("/concerts", json={"name": name, "seats": seats})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def buy(client, concert, buyer="ann"):
    return await client.post(f"/concerts/{concert}/tickets", json={"buyer": buyer})


@pytest.mark.parametrize("n", range(4))
async def test_each_test_starts_with_no_concerts(client, n):
    for i in range(n + 1):
        await add(client, f"concert {i}")
    assert len((await client.get("/concerts")).json()) == n + 1


async def test_concerts_are_listed_by_name(client):
    for name in ("verdi", "bach", "satie"):
        await add(client, name)
    names = [c["name"] for c in (await client.get("/concerts")).json()]
    assert names == ["bach", "satie", "verdi"]


async def test_a_duplicate_name_is_409_and_the_next_request_goes_on(client):
    await add(client, "ravel")
    again = await client.post("/concerts", json={"name": "ravel", "seats": 1})
    assert again.status_code == 409
    assert await add(client, "fauré") > 0


async def test_negative_seats_are_refused_by_the_database(client):
    response = await client.post("/concerts", json={"name": "ghost", "seats": -1})
    assert response.status_code == 409
    assert (await client.get("/concerts")).json() == []


async def test_buying_takes_one_seat(client):
    concert = await add(client, "mahler", seats=2)
    assert (await buy(client, concert)).status_code == 201
    assert (await client.get("/concerts")).json() == [{"name": "mahler", "seats": 1}]


async def test_a_sold_out_concert_is_409(client):
    concert = await add(client, "cage", seats=0)
    response = await buy(client, concert)
    assert response.status_code == 409
    assert "sold out" in response.json()["detail"]


async def test_an_unknown_concert_is_404(client):
    assert (await buy(client, 999_999)).status_code == 404


async def sales_log(client, concert, entries):
    """The concert's sales log once it has ``entries`` lines (the listener runs after)."""
    with anyio.fail_after(10):
        while True:
            log = (await client.get(f"/concerts/{concert}/log")).json()
            if len(log) >= entries:
                return log
            await anyio.sleep(0.01)


async def test_the_listener_logs_the_sale_in_a_session_of_its_own(client):
    """It opens its session while the request's is open: they take turns on the connection."""
    concert = await add(client, "holst", seats=2)
    assert (await buy(client, concert, "bea")).status_code == 201
    assert (await buy(client, concert, "cy")).status_code == 201
    log = await sales_log(client, concert, 2)  # the two listeners run concurrently
    assert sorted(log) == ["sold a ticket to bea", "sold a ticket to cy"]


async def test_a_refused_sale_is_not_logged(client):
    concert = await add(client, "berg", seats=1)
    assert (await buy(client, concert, "dee")).status_code == 201
    assert (await buy(client, concert, "eve")).status_code == 409
    assert await sales_log(client, concert, 1) == ["sold a ticket to dee"]


async def test_the_test_session_sees_what_the_app_committed(client, pgsandbox_session):
    await add(client, "elgar")
    concerts = (await pgsandbox_session.scalars(select(Concert))).all()
    assert [c.name for c in concerts] == ["elgar"]


async def test_two_buyers_race_for_the_last_seat_and_one_wins(client):
    """transaction mode: the two requests' sessions take turns on the test's connection."""
    concert = await add(client, "last seat", seats=1)
    codes = []

    async def buyer(name):
        codes.append((await buy(client, concert, name)).status_code)

    async with anyio.create_task_group() as group:
        group.start_soon(buyer, "fay")
        group.start_soon(buyer, "gus")
    assert sorted(codes) == [201, 409]
    assert len(await sales_log(client, concert, 1)) == 1


@pytest.mark.pgsandbox(isolation="database")
async def test_the_same_race_with_real_commits(client):
    concert = await add(client, "last box", seats=1)
    codes = []

    async def buyer(name):
        codes.append((await buy(client, concert, name)).status_code)

    async with anyio.create_task_group() as group:
        for i in range(5):
            group.start_soon(buyer, f"buyer {i}")
    assert sorted(codes) == [201, 409, 409, 409, 409]


async def test_litestars_async_test_client_through_the_portal(pgsandbox_portal):
    client = AsyncTestClient(app)
    client.blocking_portal = pgsandbox_portal
    async with client:
        new = await client.post("/concerts", json={"name": "ives", "seats": 3})
        assert new.status_code == 201
        assert (await client.get("/concerts")).json() == [{"name": "ives", "seats": 3}]


def test_litestars_sync_test_client_through_the_portal(pgsandbox_portal):
    client = TestClient(app)
    client.blocking_portal = pgsandbox_portal
    with client:
        assert client.post("/concerts", json={"name": "byrd", "seats": 1}).status_code == 201
        assert client.get("/concerts").json() == [{"name": "byrd", "seats": 1}]
