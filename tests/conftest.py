"""Fixtures shared by every test: a fresh store per test, real servers on free ports."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import create_engine, text

from modelyard.config import Settings
from modelyard.core.backend import LocalBackend, open_local_backend

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


# The longest files (a minute or more each on two cores), run first: the test command
# hands files to its two workers in collection order (--dist loadfile
# --no-loadscope-reorder), so that neither is left running one of these alone at the end
# while the other has finished. Order only: a file missing here runs in its usual place.
LONGEST_FIRST = [
    "tests/e2e/test_quickstart.py",
    "tests/integration/test_supervisor.py",
    "tests/e2e/test_cli.py",
    "tests/integration/test_scoring_server.py",
    "tests/integration/test_openapi.py",
    "tests/integration/test_attacker_inputs.py",
]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


# Ports handed out by free_port, held until the test process ends.
_HELD_PORTS: list[socket.socket] = []


def free_port() -> int:
    """A free port on 127.0.0.1, held for the rest of the run: bound (not listening) with
    SO_REUSEADDR, so no other process (the other xdist worker's servers, a deployment a
    supervisor starts) is given it before the server meant for it binds it. The servers
    tests start (uvicorn, the supervisor's routers, http.server) bind with SO_REUSEADDR
    and can take it; a client connecting before one listens is refused, as on a free port.
    """
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", 0))
    _HELD_PORTS.append(held)
    return int(held.getsockname()[1])


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for an embedded store under ``tmp_path`` (never the user's ./.modelyard)."""
    values: dict[str, object] = {
        "uri": f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}",
        "artifact_root": str(tmp_path / "store" / "artifacts"),
        "home": tmp_path / ".modelyard",
        "user": "tester",
        "metric_flush_seconds": 0.05,
        # Deployments serve from this interpreter: building a version's own environment
        # takes a minute; test_supervisor_environments.py runs that path on purpose.
        "serve_environment": "current",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class ServerThread:
    """A real uvicorn server on 127.0.0.1:<free port>, stopped when the block ends."""

    def __init__(self, backend: LocalBackend, settings: Settings, *, auth: bool = False) -> None:
        import uvicorn

        from modelyard.server.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(backend, settings, auth=auth),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def empty_sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database file of a new, empty embedded store, made once per test process: a
    test that only needs an empty store starts from a copy (``from_empty_sqlite``) instead
    of running every migration again (~0.15 s). Making a store from nothing is tested on
    its own (tests/integration/test_schema.py, test_sqlite_concurrency.py)."""
    settings = make_settings(tmp_path_factory.mktemp("empty-store"))
    open_local_backend(settings).close()
    return Path(settings.resolved_uri.removeprefix("sqlite:///"))


def from_empty_sqlite(empty_sqlite_db: Path, tmp_path: Path, **overrides: object) -> Settings:
    """``make_settings(tmp_path)``, its database a copy of ``empty_sqlite_db``."""
    settings = make_settings(tmp_path, **overrides)
    db = Path(settings.resolved_uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(empty_sqlite_db, db)
    return settings


class _Forward:
    """Forwards every attribute to what ``target()`` returns at the moment it is read."""

    def __init__(self, target: Callable[[], Any]) -> None:
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target(), name, value)


class _CurrentBackend(_Forward):
    """The backend of the test running now, for a server shared by a process's tests. The
    app keeps ``backend.blobs`` from when it was made: that forwards too."""

    @property
    def blobs(self) -> Any:
        return _Forward(lambda: self._target().blobs)


class SharedServer:
    """One REST server (app and uvicorn) for the tests of a process: making the app and
    starting uvicorn takes ~0.6 s, so a server per test would cost more than most tests.
    Each test still has its own store: ``serving(backend)`` points the server at it for the
    block. Only for servers without auth on default settings (the app keeps no state of its
    own; its backend's permissions, clock and blobs are the test's)."""

    def __init__(self, settings: Settings) -> None:
        self._backend: LocalBackend | None = None
        self._thread = ServerThread(_CurrentBackend(self._current), settings)  # type: ignore[arg-type]
        self.url = self._thread.url

    def _current(self) -> LocalBackend:
        if self._backend is None:
            raise RuntimeError("the shared test server is serving no store now")
        return self._backend

    @contextmanager
    def serving(self, backend: LocalBackend) -> Iterator[ServerThread]:
        if self._backend is not None:
            raise RuntimeError("the shared test server serves one store at a time")
        self._backend = backend
        try:
            yield self._thread
        finally:
            self._backend = None

    def __enter__(self) -> SharedServer:
        self._thread.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        # At the end of the run: no test waits for an answer, and a client a test left open
        # would hold uvicorn's graceful shutdown until the join gives up (10 s).
        self._thread.server.force_exit = True
        self._thread.__exit__(*exc)


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    with SharedServer(make_settings(tmp_path_factory.mktemp("shared-server"))) as server:
        yield server


@contextmanager
def running_server(
    settings: Settings, *, auth: bool = False
) -> Iterator[tuple[ServerThread, LocalBackend]]:
    backend = open_local_backend(settings)
    try:
        with ServerThread(backend, settings, auth=auth) as server:
            yield server, backend
    finally:
        backend.close()


SERVE_POLL_SECONDS = 0.01
"""How often a test's ``http.server`` looks whether ``shutdown()`` was called: the default,
0.5 s, is spent in the teardown of every test that starts one."""


LEAK = r"'leak' in .* is a link to '\.\./outside/secret\.txt', outside the folder"
"""What refusing ``leaky_folder``'s link says (a ``match=`` pattern)."""


def leaky_folder(tmp_path: Path, name: str) -> Path:
    """``tmp_path/name`` holding ``rows.csv`` and ``leak -> ../outside/secret.txt``."""
    (tmp_path / "outside").mkdir(exist_ok=True)
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    folder = tmp_path / name
    folder.mkdir()
    (folder / "rows.csv").write_text("a\n1\n")
    (folder / "leak").symlink_to("../outside/secret.txt")
    return folder


class _FilesAndRedirects(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``/redirect?to=URL`` answers 302 to URL, ``/loop`` to itself."""

    def do_GET(self) -> None:
        parsed = urlparse(self.path)
        if parsed.path in ("/redirect", "/loop"):
            self.send_response(302)
            to = parse_qs(parsed.query)["to"][0] if parsed.path == "/redirect" else "/loop"
            self.send_header("Location", to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def web_server(root: Path) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1:<free port> serving ``root``; yields its URL."""
    handler = functools.partial(_FilesAndRedirects, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SERVE_POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _postgres_reachable(url: str) -> str | None:
    from modelyard.storage.db.database import normalize_db_url

    try:
        engine = create_engine(normalize_db_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The PostgreSQL server for tests; skipped with the reason outside CI, failed in CI."""
    url = os.environ.get("MODELYARD_TEST_POSTGRES_URL", "")
    if not url:
        if IN_CI:
            pytest.fail("CI must set MODELYARD_TEST_POSTGRES_URL (.ci/run does)")
        url = DEFAULT_PG_URL
    problem = _postgres_reachable(url)
    if problem:
        message = f"PostgreSQL at {url} is unreachable ({problem}); set MODELYARD_TEST_POSTGRES_URL"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A database of its own for this test session, dropped at the end."""
    from sqlalchemy.engine import make_url

    from modelyard.storage.db.database import normalize_db_url

    base = make_url(normalize_db_url(postgres_server_url))
    name = f"modelyard_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        for engine in _RESET_ENGINES.values():
            engine.dispose()
        _RESET_ENGINES.clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def store_settings(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh store under ``tmp_path``: ``sqlite``, or ``postgresql`` (the
    session's database, emptied)."""
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
        return make_settings(tmp_path, uri=url)
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def postgres_url_shared(postgres_url: str) -> str:
    """The session's database, in a schema of its own: for a store that outlives one test
    (tests/contract/conftest.py's ``module_store``) while the tests beside it empty theirs.
    (Not a second database: dropping one at the end costs a checkpoint, 10 s and more.)"""
    from modelyard.storage.db.database import normalize_db_url

    engine = create_engine(normalize_db_url(postgres_url))
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS shared_store"))
    engine.dispose()
    return f"{postgres_url}?options=-csearch_path%3Dshared_store"


_RESET_ENGINES: dict[str, Any] = {}


def reset_postgres(url: str) -> None:
    """Empty every Modelyard table (keeping the schema), so each test starts clean: as
    ``TRUNCATE ... RESTART IDENTITY`` would, but by DELETE and resetting the sequences,
    which on tables of a few rows takes milliseconds where TRUNCATE takes ~0.6 s (it
    makes every table anew)."""
    from modelyard.storage.db.database import normalize_db_url
    from modelyard.storage.db.tables import metadata

    engine = _RESET_ENGINES.get(url)
    if engine is None:
        # One pool per database for the session (postgres_url drops it WITH (FORCE)).
        engine = _RESET_ENGINES[url] = create_engine(normalize_db_url(url), pool_size=1)
    with engine.begin() as conn:
        # Other workspaces' schemas go with their data; a test makes the ones it needs.
        schemas = conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'modelyard\\_ws\\_%'")
        ).scalars()
        for schema in list(schemas):
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        # The schema the URL names (public unless it sets search_path).
        if conn.execute(text("SELECT to_regclass('runs')")).scalar() is not None:
            for table in reversed(metadata.sorted_tables):  # children before parents
                conn.execute(table.delete())
            sequences = conn.execute(
                text(
                    "SELECT c.oid::regclass::text FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind = 'S' AND n.nspname = current_schema()"
                )
            ).scalars()
            for sequence in list(sequences):
                conn.execute(text("SELECT setval(:s, 1, false)"), {"s": sequence})
            conn.execute(
                text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, :h)"),
                {"h": "0" * 64},
            )
