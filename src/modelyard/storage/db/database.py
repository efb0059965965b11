"""Connections to the metadata database: SQLite (embedded) or PostgreSQL.

SQLite runs in WAL mode so readers never block the writer, and every write transaction
starts with ``BEGIN IMMEDIATE``: a writer takes the write lock up front and waits on the
busy timeout, instead of upgrading a read lock mid-transaction and failing with "database
is locked" when another process got there first.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool

from modelyard.errors import BackendUnavailable, Conflict, InvalidInput

log = logging.getLogger(__name__)

_WRITE = "modelyard_write"
# Held while a workspace's schema is made (any constant all Modelyard processes share).
SCHEMA_LOCK_KEY = 0x6D6F64656D


def normalize_db_url(uri: str) -> str:
    """Map the user-facing URI onto the SQLAlchemy URL with our chosen driver."""
    if uri.startswith("postgres://"):
        return "postgresql+psycopg://" + uri.removeprefix("postgres://")
    if uri.startswith("postgresql://"):
        return "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    if uri.startswith(("postgresql+psycopg://", "sqlite:")):
        return uri
    raise InvalidInput(
        f"'{uri}' is not a database URI: use sqlite:///path or postgresql://user@host/db"
    )


def _constraint_name(exc: Exception) -> str | None:
    """The violated constraint's name, when the driver says it (psycopg does)."""
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    return getattr(diag, "constraint_name", None)


def workspace_schema(workspace: str) -> str:
    """The PostgreSQL schema that holds a workspace's tables (``default``'s are in the
    database's own default schema). PostgreSQL cuts names at 63 bytes, so a long name is
    shortened with a hash of the whole, keeping two long names apart."""
    name = f"modelyard_ws_{workspace}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(workspace.encode()).hexdigest()[:16]
    return f"modelyard_ws_{workspace[:32]}_{digest}"


class Database:
    """An engine plus the two ways we use it: read transactions and write transactions.

    ``schema`` (PostgreSQL) puts every table in that schema: the connection's search path
    starts there, so each statement, and the migrations, find their tables in it.
    """

    def __init__(
        self, uri: str, *, busy_timeout_ms: int = 60_000, schema: str | None = None
    ) -> None:
        self.uri = uri
        self.schema = schema
        self.busy_timeout_ms = busy_timeout_ms
        url = normalize_db_url(uri)
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            self.engine: Engine = self._sqlite_engine(url, busy_timeout_ms)
        else:
            args = {} if schema is None else {"options": f'-csearch_path="{schema}"'}
            self.engine = create_engine(
                url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=args
            )

    def for_workspace(self, workspace: str) -> Database:
        """The database of another workspace than ``default``: a SQLite file beside this
        one (``<name>.workspaces/<workspace>.db``), or a schema of this PostgreSQL
        database (``modelyard_ws_<workspace>``, made if missing). Its tables are the same
        as every workspace's; the server-wide ones (users, tokens, members) are used only
        in the ``default`` database."""
        if self.dialect == "sqlite":
            path = Path(self.engine.url.database or "")
            if not path.name or str(path) == ":memory:":
                raise InvalidInput("an in-memory SQLite store has only the default workspace")
            target = path.with_name(f"{path.name}.workspaces") / f"{workspace}.db"
            return Database(f"sqlite:///{target}", busy_timeout_ms=self.busy_timeout_ms)
        schema = workspace_schema(workspace)
        with self.write() as conn:
            # Two processes making one schema at once would race in pg_namespace (IF NOT
            # EXISTS does not serialise them): the migrators' lock does.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        return Database(self.uri, busy_timeout_ms=self.busy_timeout_ms, schema=schema)

    @staticmethod
    def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            # A fresh connection per checkout would re-run the pragmas; a small pool keeps
            # them, and SQLite connections are cheap to hold.
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            poolclass=None if path != ":memory:" else NullPool,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control away from pysqlite so BEGIN IMMEDIATE is ours to emit.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # NORMAL in WAL mode survives a process crash (SIGKILL); only an OS crash or
            # power loss can drop the last transactions, which FULL would pay for on every
            # commit.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any exception."""
        with self._connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with self._unavailable_on_operational_error(), conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot; never blocks writers).

        On PostgreSQL a snapshot needs REPEATABLE READ: under its default, READ COMMITTED,
        each statement sees the commits made since the one before, so a walk over many
        queries (the audit chain's, in pages) would see a prune or an append half-way
        through. A read-only transaction at that level never fails to serialise.
        """
        with self._connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with self._unavailable_on_operational_error(), conn.begin():
                yield conn

    @contextmanager
    def _unavailable_on_operational_error(self) -> Iterator[None]:
        """A lost connection, a lock wait past the busy timeout: the store, not the request,
        failed, and the same request may succeed later. A key another writer took first is
        a conflict with stored state (every get-or-create avoids it with ON CONFLICT; this
        keeps a race we did not foresee a 409, not a 500)."""
        from sqlalchemy.exc import IntegrityError, OperationalError

        try:
            yield
        except OperationalError as exc:
            raise BackendUnavailable(
                f"the metadata database {self.safe_uri} failed: {exc.orig}; retry later"
            ) from exc
        except IntegrityError as exc:
            log.warning("a write conflicted with stored state: %s", exc.orig)
            raise Conflict(
                "the change conflicts with one another writer made at the same time "
                "(a key it needs is taken); read the current state and retry",
                details={"constraint": _constraint_name(exc)},
            ) from exc

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        from sqlalchemy.exc import OperationalError

        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            raise BackendUnavailable(
                f"cannot open the metadata database {self.safe_uri}: {exc.orig}",
            ) from exc
        with conn:
            yield conn

    @property
    def safe_uri(self) -> str:
        """The URI with any password masked, for messages and `modelyard config`."""
        shown = str(self.engine.url.render_as_string(hide_password=True))
        return shown if self.schema is None else f"{shown} (schema {self.schema})"

    def dispose(self) -> None:
        self.engine.dispose()
