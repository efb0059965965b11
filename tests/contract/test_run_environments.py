"""A run records the environment it runs in, registered once, on every backend."""

from __future__ import annotations

from collections import Counter
from typing import Any

from modelyard.client.client import Client
from modelyard.core.backend import Backend
from modelyard.core.operations import Operation
from modelyard.environments.current import current_hash, current_spec
from modelyard.environments.models import EnvironmentSpec
from tests.contract.conftest import Store


class CountingBackend:
    """A backend that counts the operations it is asked to run."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def call(
        self,
        op: Operation[Any, Any],
        request: Any,
        *,
        reason: str | None = None,
        workspace: str | None = None,
    ) -> Any:
        self.calls[op.name] += 1
        return self.inner.call(op, request, reason=reason, workspace=workspace)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_run_records_the_interpreters_environment_and_the_store_knows_it(
    client: Client,
) -> None:
    run = client.create_run(client.create_experiment("exp").id)
    assert run.environment_hash == current_hash()
    environment = client.environments.get_by_hash(run.environment_hash)
    assert environment.source == "capture"
    assert (environment.python, environment.lock) == (current_spec().python, current_spec().lock)
    assert client.get_run(run.id).environment_hash == current_hash()


def test_a_given_environment_is_recorded_as_given(client: Client) -> None:
    other = client.environments.create(
        EnvironmentSpec(name="train", python="3.11", lock=["six==1.16.0"])
    )
    run = client.create_run(client.create_experiment("exp").id, environment_hash=other.hash)
    assert run.environment_hash == other.hash


def test_the_environment_is_registered_once_per_backend(store: Store) -> None:
    counting = CountingBackend(store.client.backend)
    client = Client(settings=store.client.settings, backend=counting)  # type: ignore[arg-type]
    experiment = client.create_experiment("exp").id
    runs = [client.create_run(experiment) for _ in range(5)]
    assert {r.environment_hash for r in runs} == {current_hash()}
    assert counting.calls["environments.find_environment_by_hash"] == 1
    assert counting.calls["environments.register_environment"] == 1
    assert len(client.environments.list("captured")) == 1


def test_processes_with_other_environments_do_not_make_new_versions(client: Client) -> None:
    # This interpreter's environment was registered first, then another process's.
    mine = client.environments.capture()
    theirs = client.environments.create(
        EnvironmentSpec(name="captured", python="3.11", lock=["six==1.16.0"])
    )
    assert (mine.version, theirs.version) == (1, 2)
    run = client.create_run(client.create_experiment("exp").id)
    # Found by its hash: no third version of 'captured' with this interpreter's packages.
    assert run.environment_hash == mine.hash
    assert [e.version for e in client.environments.list("captured")] == [1, 2]
