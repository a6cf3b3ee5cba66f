"""The unit of work every benchmark test performs, written like an application service.

Like glossator's services, it opens its own sessions from a session factory it is given,
so each strategy decides only what that factory connects to.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from benchmarks.benchapp.models import Address, Customer, Order

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

__all__ = ["place_order"]


async def place_order(sessions: async_sessionmaker[AsyncSession], quantity: int) -> int:
    """Insert a customer, an address and an order; read the order back; mark it paid.

    Three inserts and a commit, a joined read, one update and a commit: the small
    realistic unit of work of an integration test. Data is unique per call (a UUID in the
    e-mail), so strategies that share one database across tests work too.

    Returns:
        The order's id.
    """
    tag = uuid.uuid4().hex
    async with sessions() as session:
        customer = Customer(email=f"{tag}@example.org", name=f"Customer {quantity}")
        session.add(customer)
        await session.flush()
        address = Address(customer_id=customer.id, street="1 Main St", city="Bern", country="CH")
        session.add(address)
        await session.flush()
        order = Order(
            customer_id=customer.id,
            shipping_address_id=address.id,
            status="new",
            total_cents=quantity * 1250,
        )
        session.add(order)
        await session.commit()
        order_id = order.id
    async with sessions() as session:
        row = (
            await session.execute(
                select(Order, Customer.email, Address.city)
                .join(Customer, Customer.id == Order.customer_id)
                .join(Address, Address.id == Order.shipping_address_id)
                .where(Order.id == order_id)
            )
        ).one()
        assert row.email == f"{tag}@example.org"
        assert row.Order.status == "new"
        row.Order.status = "paid"
        await session.commit()
    return order_id
