"""The store contract suite runs every test on SQLite, PostgreSQL and the REST backend.

``client`` is a ``modelyard.Client`` on a fresh, empty store; ``store.local`` is the backend
behind it (for the REST backend, the server's), for tests that check what was committed.
``module_store`` is one store per backend for the tests of a module that only read what
its fixture wrote there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.core.operations import Operation, Req, Resp
from modelyard.core.remote import RemoteBackend
from modelyard.core.unit_of_work import Actor
from tests.conftest import ServerThread, from_empty_sqlite, make_settings, reset_postgres

BACKENDS = ["sqlite", "postgresql", "rest"]


@dataclass
class Store:
    kind: str
    client: Client
    local: LocalBackend  # the backend that owns the database (the server's, for REST)
    root: Path  # the folder it was made in (the test's tmp_path for ``store``)


@contextmanager
def open_store(
    kind: str, root: Path, request: pytest.FixtureRequest, *, shared: bool = False
) -> Iterator[Store]:
    """A new, empty store of ``kind`` under ``root``. ``shared`` for one that outlives a
    test: PostgreSQL's is then another database, and REST's server one of its own."""
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_url_shared" if shared else "postgres_url")
        reset_postgres(url)
        settings = make_settings(root, uri=url)
    else:
        # A copy of an empty store's database: the migrations run once per process.
        settings = from_empty_sqlite(request.getfixturevalue("empty_sqlite_db"), root)
    backend = open_local_backend(settings)
    try:
        if kind != "rest":
            yield Store(kind, Client(settings=settings, backend=backend), backend, root)
            return
        # A test's store is served by one server for the process's tests (the app and
        # uvicorn take ~0.6 s to start; see tests/conftest.py's SharedServer).
        with (
            ServerThread(backend, settings)
            if shared
            else request.getfixturevalue("shared_server").serving(backend)
        ) as server:
            remote = RemoteBackend(server.url, user="tester", retries=1)
            try:
                yield Store(kind, Client(settings=settings, backend=remote), backend, root)
            finally:
                remote.close()
    finally:
        backend.close()


@pytest.fixture(params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    # Each test works in its own folder, as a user works in a project: a local file or
    # folder is registered from the working folder's tree only.
    monkeypatch.chdir(tmp_path)
    with open_store(request.param, tmp_path, request) as store:
        yield store


@pytest.fixture(scope="module", params=BACKENDS)
def module_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """A store per backend shared by a module's tests, for tests that only read (what a
    module-scoped fixture of theirs wrote): filling a store per test would cost more than
    the tests. PostgreSQL's is a database of its own, so ``store`` may empty its own."""
    root = tmp_path_factory.mktemp(f"module-store-{request.param}")
    with open_store(request.param, root, request, shared=True) as store:
        yield store


@pytest.fixture
def client(store: Store) -> Client:
    return store.client


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A saved model's folder: one file."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.skops").write_bytes(b"model-bytes")
    return folder


class Calling:
    """The store's own local backend, making every call as ``actor`` and/or in
    ``workspace`` (what a caller with that identity, or that workspace set, would do)."""

    def __init__(
        self, local: LocalBackend, *, actor: str | None = None, workspace: str | None = None
    ) -> None:
        self.local, self.actor, self.workspace = local, actor, workspace

    def call(
        self,
        op: Operation[Req, Resp],
        request: Req,
        *,
        reason: str | None = None,
        workspace: str | None = None,
    ) -> Resp:
        who = Actor(self.actor) if self.actor is not None else None
        where = workspace or self.workspace
        return self.local.call(op, request, reason=reason, actor=who, workspace=where)

    def __getattr__(self, attr: str) -> object:
        return getattr(self.local, attr)
