"""The schema is pinned: migrations must produce exactly the checked-in schema.

A change to ``tables.py`` without a migration, or a migration that changes the schema by
accident, fails here. After an intended change, regenerate the pinned copies with
``MODELYARD_UPDATE_SCHEMA=1 pytest tests/integration/test_schema.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from modelyard.errors import Conflict
from modelyard.storage.db.database import Database
from modelyard.storage.db.migrate import HEAD_REVISION, current_revision, ensure_schema, upgrade
from modelyard.storage.db.tables import metadata
from tests.conftest import reset_postgres

PINNED = Path(__file__).parent.parent / "schema"
UPDATE = os.environ.get("MODELYARD_UPDATE_SCHEMA") == "1"


def dump_sqlite(conn: Connection) -> str:
    rows = conn.execute(
        text(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type DESC, name"
        )
    )
    return "\n\n".join(f"-- {kind} {name}\n{sql};" for kind, name, sql in rows) + "\n"


def dump_postgresql(conn: Connection) -> str:
    """A deterministic description of every table: columns, keys, indexes."""
    insp = inspect(conn)
    lines = []
    for table in sorted(insp.get_table_names()):
        lines.append(f"TABLE {table}")
        for col in insp.get_columns(table):
            default = f" DEFAULT {col['default']}" if col.get("default") else ""
            null = "NULL" if col["nullable"] else "NOT NULL"
            lines.append(f"  {col['name']} {col['type']} {null}{default}")
        pk = insp.get_pk_constraint(table)
        lines.append(f"  PRIMARY KEY {pk['name']} ({', '.join(pk['constrained_columns'])})")
        for fk in sorted(insp.get_foreign_keys(table), key=lambda f: f["name"] or ""):
            lines.append(
                f"  FOREIGN KEY {fk['name']} ({', '.join(fk['constrained_columns'])}) -> "
                f"{fk['referred_table']} ({', '.join(fk['referred_columns'])})"
            )
        for uq in sorted(insp.get_unique_constraints(table), key=lambda u: u["name"] or ""):
            lines.append(f"  UNIQUE {uq['name']} ({', '.join(uq['column_names'])})")
        for ix in sorted(insp.get_indexes(table), key=lambda i: i["name"] or ""):
            unique = "UNIQUE " if ix["unique"] else ""
            lines.append(
                f"  {unique}INDEX {ix['name']} ({', '.join(map(str, ix['column_names']))})"
            )
    return "\n".join(lines) + "\n"


def check_pinned(name: str, dumped: str) -> None:
    path = PINNED / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(dumped)
    assert path.exists(), f"{path} is missing: run with MODELYARD_UPDATE_SCHEMA=1 to create it"
    assert dumped == path.read_text(), (
        f"the schema after `alembic upgrade head` differs from {path}: if the change is "
        "intended, add a migration and regenerate with MODELYARD_UPDATE_SCHEMA=1"
    )


def assert_migrations_match_tables(conn: Connection) -> None:
    diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"tables.py and the migrations disagree: {diff}"


def test_sqlite_schema_is_pinned(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    assert current_revision(db) is None
    assert upgrade(db) == (None, HEAD_REVISION)
    with db.read() as conn:
        check_pinned("sqlite.sql", dump_sqlite(conn))
        assert_migrations_match_tables(conn)
    db.dispose()


def test_postgresql_schema_is_pinned(postgres_url: str) -> None:
    reset_postgres(postgres_url)
    db = Database(postgres_url)
    upgrade(db)
    assert current_revision(db) == HEAD_REVISION
    with db.read() as conn:
        check_pinned("postgresql.txt", dump_postgresql(conn))
        assert_migrations_match_tables(conn)
    db.dispose()


def test_upgrade_at_head_is_a_no_op(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db)
    with db.write() as conn:
        conn.execute(text("INSERT INTO workspaces (name, created_at) VALUES ('kept', 1)"))
    assert upgrade(db) == (HEAD_REVISION, HEAD_REVISION)
    with db.read() as conn:
        assert conn.execute(text("SELECT name FROM workspaces")).scalars().all() == ["kept"]
    db.dispose()


def test_a_database_from_a_newer_modelyard_is_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db)
    with db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(Conflict, match="newer than this Modelyard"):
        ensure_schema(db, auto_upgrade=True)
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db)
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_from_the_previous_schema_keeps_data(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        with Database(url).write() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    assert upgrade(db, "0001") == (None, "0001")
    with db.write() as conn:
        conn.execute(text("INSERT INTO workspaces (name, created_at) VALUES ('default', 1)"))
        conn.execute(
            text(
                "INSERT INTO experiments (id, workspace, name, tags, lifecycle, created_at,"
                " updated_at) VALUES ('e1', 'default', 'old', '{}', 'active', 1, 1)"
            )
        )
    with pytest.raises(Conflict, match="modelyard db upgrade"):
        ensure_schema(db, auto_upgrade=False)
    assert upgrade(db) == ("0001", HEAD_REVISION)
    with db.read() as conn:
        assert conn.execute(text("SELECT name FROM experiments")).scalars().all() == ["old"]
        assert inspect(conn).has_table("environments")
    db.dispose()
    if backend == "postgresql":
        reset_postgres(url)


def test_schedules_that_named_files_are_disabled_by_the_upgrade_not_deleted(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    assert upgrade(db, "0004") == (None, "0004")
    with db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO schedules (name, pipeline_ref, params, cron, executor, enabled,"
                " next_run_at, created_at) VALUES ('nightly', '/srv/flows/train.py:train',"
                " '{}', '0 3 * * *', 'inline', 1, 1, 1)"
            )
        )
    assert upgrade(db) == ("0004", HEAD_REVISION)
    with db.read() as conn:
        row = conn.execute(text("SELECT * FROM schedules")).mappings().one()
    assert (row["name"], row["pipeline_ref"]) == ("nightly", "/srv/flows/train.py:train")
    assert not row["enabled"]
    assert "modelyard pipeline register FILE" in row["last_error"]
    db.dispose()
