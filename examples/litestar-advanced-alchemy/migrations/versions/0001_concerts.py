"""Concerts, tickets and the sales log."""

import sqlalchemy as sa
from alembic import op

revision = "0001_concerts"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "concerts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.String, nullable=False, unique=True),
        sa.Column("seats", sa.Integer, nullable=False),
        sa.CheckConstraint("seats >= 0", name="seats_not_negative"),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("concert_id", sa.BigInteger, sa.ForeignKey("concerts.id"), nullable=False),
        sa.Column("buyer", sa.String, nullable=False),
    )
    op.create_table(
        "sales_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("concert_id", sa.BigInteger, sa.ForeignKey("concerts.id"), nullable=False),
        sa.Column("entry", sa.String, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sales_log")
    op.drop_table("tickets")
    op.drop_table("concerts")
