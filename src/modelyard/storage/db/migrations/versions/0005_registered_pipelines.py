"""registered pipelines: code snapshots that schedules and triggers run

Revision ID: 0005
Revises: 0004

Schedules made before this revision name a file or a module (``pipeline_ref``) that the
scheduler imported from wherever it ran. Schedulers now run only registered pipelines, so
those schedules are disabled, with a ``last_error`` that says how to point them at a
registered one; nothing is deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LEGACY = (
    "disabled by the upgrade to registered pipelines: schedulers run only pipelines "
    "registered with their code (`modelyard pipeline register FILE`); register this one "
    "and create the schedule again with its name"
)


def upgrade() -> None:
    op.create_table(
        "pipeline_versions",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("snapshot", sa.String(length=64), nullable=False),
        sa.Column("entry", sa.String(length=1000), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("definition_hash", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_pipeline_versions")),
    )
    schedules = sa.table(
        "schedules",
        sa.column("enabled", sa.Boolean()),
        sa.column("last_error", sa.Text()),
    )
    op.execute(schedules.update().values(enabled=False, last_error=LEGACY))


def downgrade() -> None:
    op.drop_table("pipeline_versions")
