"""Alembic environment: runs on the connection that ``modelyard.storage.db.migrate`` passes in."""

from __future__ import annotations

from alembic import context

from modelyard.storage.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table copies to alter
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
