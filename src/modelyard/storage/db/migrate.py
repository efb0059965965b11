"""Create and upgrade the metadata schema with Alembic.

Checking the schema on every open must be cheap, so we read ``alembic_version`` directly
and compare it with ``HEAD_REVISION``; Alembic itself is imported only when an upgrade is
due. Upgrades run inside one write transaction that also serialises concurrent migrators
(SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-level advisory lock).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from modelyard.errors import Conflict
from modelyard.storage.db.database import Database

log = logging.getLogger(__name__)

HEAD_REVISION = "0011"
_MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK_KEY = 0x6D6F64656C  # "model": any constant shared by all Modelyard processes


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def current_revision(db: Database) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    with db.read() as conn:
        return _revision(conn)


def _run_alembic_upgrade(conn: Connection, target: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, target)


def upgrade(db: Database, target: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the schema; returns (revision before, revision after)."""
    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
        before = _revision(conn)
        if before != HEAD_REVISION or target != "head":
            log.info("upgrading metadata schema of %s from %s", db.safe_uri, before or "empty")
            _run_alembic_upgrade(conn, target)
        return before, _revision(conn)


def ensure_schema(db: Database, *, auto_upgrade: bool) -> None:
    """Make sure the schema is at head: upgrade it when allowed, else say how."""
    revision = current_revision(db)
    if revision == HEAD_REVISION:
        return
    if revision is not None and revision > HEAD_REVISION:
        raise Conflict(
            f"the database {db.safe_uri} is at schema {revision}, newer than this Modelyard "
            f"({HEAD_REVISION}): upgrade Modelyard"
        )
    if auto_upgrade or revision is None:
        upgrade(db)
        return
    raise Conflict(
        f"the database {db.safe_uri} is at schema {revision}, this Modelyard needs "
        f"{HEAD_REVISION}: run `modelyard db upgrade`"
    )
