"""Inserts that concurrent writers cannot break: ``ON CONFLICT`` on SQLite and PostgreSQL.

A get-or-create written as "select, then insert if missing" races on PostgreSQL: two
transactions both see nothing, both insert, and the second dies on the unique key (and
aborts its whole transaction). ``insert_if_absent`` lets the database decide instead: the
row is inserted, or the key already exists and nothing happens, and the caller reads the
row that won.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An ``INSERT`` for ``table`` that supports ``on_conflict_do_*`` on this connection."""
    # The dialect modules load on first use: importing the PostgreSQL one costs ~30 ms
    # that an embedded SQLite user should not pay.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def insert_if_absent(conn: Connection, table: Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless a row with the same primary or unique key exists: True if it
    was inserted by this call."""
    # RETURNING, not rowcount: psycopg reports -1 rows for INSERT ... ON CONFLICT.
    key = next(iter(table.primary_key.columns))
    stmt = dialect_insert(conn, table).on_conflict_do_nothing().returning(key)
    return conn.execute(stmt, row).first() is not None
