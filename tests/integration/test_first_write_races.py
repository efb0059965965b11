"""Concurrent first writers on a fresh store: every one succeeds, and they share one row.

Eight writers start their first run in the same new experiment of a new database, register
the first version of the same new model, and create the same experiment, at the same
moment, on SQLite, PostgreSQL and through the REST server. Before get-or-create was decided
by the database, PostgreSQL lost two of eight processes to ``UniqueViolation`` (and their
metrics), and the REST server answered 500.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from modelyard.client.client import Client
from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.storage.db.tables import experiments, registered_models, workspaces
from modelyard.tracking.models import Metric, RunStatus
from tests.conftest import make_settings, reset_postgres, running_server
from tests.integration import test_sqlite_concurrency as processes

pytestmark = pytest.mark.slow

WRITERS = 8
METRICS = 500


class Store:
    """A fresh store and a way to make independent clients of it (one per writer)."""

    def __init__(self, local: LocalBackend, make_client: Callable[[], Client]) -> None:
        self.local = local
        self.make_client = make_client

    def count(self, table: Any) -> int:
        with self.local.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture(params=["sqlite", "postgresql", "rest"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    overrides: dict[str, Any] = {}
    # The REST server in front of PostgreSQL: SQLite's one writer would hide the race.
    if request.param in ("postgresql", "rest"):
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
        overrides["uri"] = url
    settings = make_settings(tmp_path, **overrides)
    if request.param == "rest":
        with running_server(settings) as (server, local):
            remote = make_settings(tmp_path, uri=server.url)
            yield Store(local, lambda: Client(settings=remote))
        return
    local = open_local_backend(settings)
    try:
        yield Store(local, lambda: Client(settings=settings, backend=open_local_backend(settings)))
    finally:
        local.close()


def together(body: Callable[[Client], Any], store: Store) -> list[Any]:
    """Run ``body`` in WRITERS threads, each with its own client, released at once."""
    clients = [store.make_client() for _ in range(WRITERS)]
    barrier = threading.Barrier(WRITERS)

    def writer(client: Client) -> Any:
        barrier.wait(timeout=30)
        return body(client)

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            return list(pool.map(writer, clients))
    finally:
        for client in clients:
            client.close()


def first_run(client: Client) -> str:
    experiment = client.get_or_create_experiment("raced")
    run = client.create_run(experiment.id)
    client.log_batch(run.id, metrics=[Metric(key="m", value=i, step=i) for i in range(METRICS)])
    client.set_terminated(run.id, RunStatus.FINISHED)
    return run.id


def test_first_runs_in_a_new_experiment_all_land(store: Store) -> None:
    run_ids = together(first_run, store)
    assert len(set(run_ids)) == WRITERS
    assert store.count(workspaces) == 1
    assert store.count(experiments) == 1
    client = store.make_client()
    try:
        for run_id in run_ids:
            assert len(client.get_metric_history(run_id, "m")) == METRICS
    finally:
        client.close()


def test_the_same_experiment_created_at_once_is_one_experiment(store: Store) -> None:
    ids = together(lambda c: c.get_or_create_experiment("shared").id, store)
    assert len(set(ids)) == 1
    assert store.count(experiments) == 1


def test_first_versions_of_a_new_model_number_themselves(store: Store, tmp_path: Path) -> None:
    model_file = tmp_path / "model.txt"
    model_file.write_text("weights")
    versions = together(
        lambda c: c.registry.register("raced", str(model_file), allow_outside_cwd=True).version,
        store,
    )
    assert sorted(versions) == list(range(1, WRITERS + 1))
    assert store.count(registered_models) == 1


@pytest.fixture
def postgres_processes(postgres_url: str, tmp_path: Path) -> processes.Store:
    reset_postgres(postgres_url)
    env = {
        "MODELYARD_URI": postgres_url,
        "MODELYARD_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "MODELYARD_HOME": str(tmp_path / ".modelyard"),
        "MODELYARD_USER": "tester",
    }
    return processes.Store(postgres_url, env, tmp_path)


def test_eight_processes_start_their_first_run_on_a_fresh_postgresql(
    postgres_processes: processes.Store,
) -> None:
    results = processes.run_together(postgres_processes, processes.log_with_fluent_api)
    processes.assert_all_succeeded(results)
    processes.assert_store_complete(postgres_processes, results)
