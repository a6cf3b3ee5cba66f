"""The box office's HTTP API, and the listener that logs each sale in a session of its own."""

from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar, Request, get, post
from litestar.di import NamedDependency
from litestar.events import listener
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, JSONBody
from msgspec import Struct
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from box_office.db import alchemy
from box_office.models import Concert, SalesLog, Ticket

#: The request's session, from advanced-alchemy's plugin (committed before the response).
DbSession = NamedDependency[AsyncSession]


class NewConcert(Struct):
    name: str
    seats: int


class Purchase(Struct):
    buyer: str


@post("/concerts")
async def add_concert(data: JSONBody[NewConcert], db_session: DbSession) -> dict[str, int]:
    concert = Concert(name=data.name, seats=data.seats)
    db_session.add(concert)
    try:
        await db_session.flush()
    except IntegrityError:
        msg = f"{data.name!r} exists already (or seats < 0)"
        raise HTTPException(msg, status_code=409) from None
    return {"id": concert.id}


@get("/concerts")
async def list_concerts(db_session: DbSession) -> list[dict[str, Any]]:
    concerts = await db_session.scalars(select(Concert).order_by(Concert.name))
    return [{"name": c.name, "seats": c.seats} for c in concerts]


@post("/concerts/{concert_id:int}/tickets")
async def buy(
    concert_id: FromPath[int], data: JSONBody[Purchase], db_session: DbSession, request: Request
) -> dict[str, int]:
    """Sell one seat; the concert's row is locked, so the last seat is sold once."""
    query = select(Concert).where(Concert.id == concert_id).with_for_update()
    concert = await db_session.scalar(query)
    if concert is None:
        raise NotFoundException("no such concert")
    if concert.seats == 0:
        raise HTTPException(f"{concert.name!r} is sold out", status_code=409)
    concert.seats -= 1
    ticket = Ticket(concert_id=concert_id, buyer=data.buyer)
    db_session.add(ticket)
    await db_session.flush()
    # The listener runs while this request's session is still open (it commits on send).
    request.app.emit("ticket_sold", concert_id=concert_id, buyer=data.buyer)
    return {"ticket": ticket.id}


@get("/concerts/{concert_id:int}/log")
async def sales_log(concert_id: FromPath[int], db_session: DbSession) -> list[str]:
    query = select(SalesLog.entry).where(SalesLog.concert_id == concert_id).order_by(SalesLog.id)
    return list(await db_session.scalars(query))


@listener("ticket_sold")
async def log_sale(concert_id: int, buyer: str) -> None:
    """Write the sales log in a session of its own, as background work does."""
    async with alchemy.get_session() as session:
        session.add(SalesLog(concert_id=concert_id, entry=f"sold a ticket to {buyer}"))
        await session.commit()


app = Litestar(
    route_handlers=[add_concert, list_concerts, buy, sales_log],
    listeners=[log_sale],
    plugins=[SQLAlchemyPlugin(config=alchemy)],
)
