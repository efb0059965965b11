"""The store contract suite runs every test on SQLite, PostgreSQL and the REST backend.

``client`` is a ``modelyard.Client`` on a fresh, empty store; ``store_db`` is the database
behind it (for the REST backend, the server's), for tests that check what was committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.core.remote import RemoteBackend
from tests.conftest import make_settings, reset_postgres, running_server

BACKENDS = ["sqlite", "postgresql", "rest"]


@dataclass
class Store:
    kind: str
    client: Client
    local: LocalBackend  # the backend that owns the database (the server's, for REST)


@pytest.fixture(params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    kind: str = request.param
    # Each test works in its own folder, as a user works in a project: a local file or
    # folder is registered from the working folder's tree only.
    monkeypatch.chdir(tmp_path)
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
        settings = make_settings(tmp_path, uri=url)
        backend = open_local_backend(settings)
        try:
            yield Store(kind, Client(settings=settings, backend=backend), backend)
        finally:
            backend.close()
        return
    settings = make_settings(tmp_path)
    if kind == "sqlite":
        backend = open_local_backend(settings)
        try:
            yield Store(kind, Client(settings=settings, backend=backend), backend)
        finally:
            backend.close()
        return
    with running_server(settings) as (server, backend):
        remote = RemoteBackend(server.url, user="tester", retries=1)
        try:
            yield Store(kind, Client(settings=settings, backend=remote), backend)
        finally:
            remote.close()


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
