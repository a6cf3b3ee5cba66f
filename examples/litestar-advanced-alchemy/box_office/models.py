"""The box office's tables, on advanced-alchemy's declarative base."""

from advanced_alchemy.base import IdentityBase
from sqlalchemy import CheckConstraint, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column


class Concert(IdentityBase):
    __tablename__ = "concerts"
    __table_args__ = (CheckConstraint("seats >= 0", name="seats_not_negative"),)
    name: Mapped[str] = mapped_column(unique=True)
    seats: Mapped[int]


class Ticket(IdentityBase):
    __tablename__ = "tickets"
    concert_id: Mapped[int] = mapped_column(ForeignKey("concerts.id"))
    buyer: Mapped[str]


class SalesLog(IdentityBase):
    """Written by the `ticket_sold` listener, in a session of its own."""

    __tablename__ = "sales_log"
    concert_id: Mapped[int] = mapped_column(ForeignKey("concerts.id"))
    entry: Mapped[str]
