"""The benchmark shop schema: twelve tables with foreign keys and indexes.

Revision ID: bench0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "bench0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)


def _created() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _fk(column: str, target: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(
        column, sa.BigInteger, sa.ForeignKey(f"{target}.id", ondelete="CASCADE"), nullable=nullable
    )


def upgrade() -> None:
    """Create the twelve tables, their foreign keys and indexes."""
    op.create_table(
        "customers",
        _id(),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        _created(),
    )
    op.create_table(
        "addresses",
        _id(),
        _fk("customer_id", "customers"),
        sa.Column("street", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
    )
    op.create_index("ix_addresses_customer_id", "addresses", ["customer_id"])
    op.create_table(
        "categories",
        _id(),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        _fk("parent_id", "categories", nullable=True),
    )
    op.create_table(
        "suppliers",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
    )
    op.create_table(
        "products",
        _id(),
        sa.Column("sku", sa.String(40), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        _fk("category_id", "categories"),
        _fk("supplier_id", "suppliers"),
    )
    op.create_index("ix_products_category_id", "products", ["category_id"])
    op.create_table(
        "warehouses",
        _id(),
        sa.Column("code", sa.String(20), nullable=False, unique=True),
        sa.Column("city", sa.String(100), nullable=False),
    )
    op.create_table(
        "stock_levels",
        _id(),
        _fk("product_id", "products"),
        _fk("warehouse_id", "warehouses"),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.UniqueConstraint("product_id", "warehouse_id"),
    )
    op.create_table(
        "orders",
        _id(),
        _fk("customer_id", "customers"),
        _fk("shipping_address_id", "addresses"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total_cents", sa.Integer, nullable=False),
        _created(),
    )
    op.create_index("ix_orders_customer_id_status", "orders", ["customer_id", "status"])
    op.create_table(
        "order_lines",
        _id(),
        _fk("order_id", "orders"),
        _fk("product_id", "products"),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
    )
    op.create_index("ix_order_lines_order_id", "order_lines", ["order_id"])
    op.create_table(
        "payments",
        _id(),
        _fk("order_id", "orders"),
        sa.Column("amount_cents", sa.Integer, nullable=False),
        sa.Column("provider_ref", sa.String(100), nullable=False, unique=True),
        _created(),
    )
    op.create_table(
        "shipments",
        _id(),
        _fk("order_id", "orders"),
        _fk("warehouse_id", "warehouses"),
        sa.Column("tracking", sa.String(60), nullable=True),
        _created(),
    )
    op.create_index("ix_shipments_order_id", "shipments", ["order_id"])
    op.create_table(
        "audit_events",
        _id(),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        _created(),
    )
    op.create_index("ix_audit_events_entity", "audit_events", ["entity", "entity_id"])


def downgrade() -> None:
    """Drop every table, dependants first."""
    for table in (
        "audit_events",
        "shipments",
        "payments",
        "order_lines",
        "orders",
        "stock_levels",
        "warehouses",
        "products",
        "suppliers",
        "categories",
        "addresses",
        "customers",
    ):
        op.drop_table(table)
