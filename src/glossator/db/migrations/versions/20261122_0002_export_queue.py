"""Export queue: queue name, retry back-off, worker, start and finish times on export_jobs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:10:00
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "export_jobs",
        sa.Column("queue", sa.String(length=64), server_default="default", nullable=False),
    )
    op.add_column(
        "export_jobs",
        sa.Column(
            "run_after", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
    )
    op.add_column("export_jobs", sa.Column("worker_id", sa.String(length=200), nullable=True))
    op.add_column("export_jobs", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "export_jobs", sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_export_jobs_claimable",
        "export_jobs",
        ["queue", "id"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(
        "ix_export_jobs_claimable",
        table_name="export_jobs",
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.drop_column("export_jobs", "finished_at")
    op.drop_column("export_jobs", "started_at")
    op.drop_column("export_jobs", "worker_id")
    op.drop_column("export_jobs", "run_after")
    op.drop_column("export_jobs", "queue")
