"""ORM models of the benchmark tables the service touches (the migration creates all 12)."""

from __future__ import annotations

import datetime as dt  # noqa: TC003 - SQLAlchemy reads Mapped[...] at runtime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["TABLES", "Address", "Base", "Customer", "Order"]

#: Every table of the benchmark schema (for TRUNCATE between tests).
TABLES = (
    "customers",
    "addresses",
    "categories",
    "suppliers",
    "products",
    "warehouses",
    "stock_levels",
    "orders",
    "order_lines",
    "payments",
    "shipments",
    "audit_events",
)


class Base(DeclarativeBase):
    """Declarative base of the benchmark models."""


class Customer(Base):
    """Someone who places orders."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Address(Base):
    """Where a customer's orders go."""

    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    street: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))


class Order(Base):
    """An order of a customer, shipped to one of their addresses."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    shipping_address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    total_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
