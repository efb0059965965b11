"""Rows to domain models: the one place the ``environments`` table becomes ``Environment``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, select

from modelyard.environments.models import Environment
from modelyard.storage.db.tables import environments


def environment_from_row(row: RowMapping | dict[str, Any]) -> Environment:
    return Environment(
        name=row["name"],
        version=row["version"],
        hash=row["hash"],
        python=row["python"],
        requirements=list(row["requirements"] or []),
        lock=list(row["lock"] or []),
        source=row["source"],
        description=row["description"],
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def latest_row(conn: Connection, name: str) -> RowMapping | None:
    """The newest version of an environment, or None when the name is unknown."""
    query = (
        select(environments)
        .where(environments.c.name == name)
        .order_by(environments.c.version.desc())
        .limit(1)
    )
    return conn.execute(query).mappings().first()


def version_row(conn: Connection, name: str, version: int) -> RowMapping | None:
    query = select(environments).where(
        environments.c.name == name, environments.c.version == version
    )
    return conn.execute(query).mappings().first()
