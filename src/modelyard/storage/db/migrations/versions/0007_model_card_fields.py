"""model card fields: a model's owner, intended use and limitations

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=250), nullable=True))
        batch_op.add_column(sa.Column("intended_use", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("limitations", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.drop_column("limitations")
        batch_op.drop_column("intended_use")
        batch_op.drop_column("owner")
