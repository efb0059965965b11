"""Two processes' first use of a new workspace at once: both get the one workspace."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.core.backend import open_local_backend
from tests.conftest import make_settings, reset_postgres

WRITERS = 4


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_first_uses_of_a_workspace_race_to_one_database(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    overrides: dict[str, object] = {"workspace": "team-a"}
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
        overrides["uri"] = url
    settings = make_settings(tmp_path, **overrides)
    owner = open_local_backend(settings.model_copy(update={"workspace": "default"}))
    Client(settings=settings, backend=owner).accounts.create_workspace("team-a")
    # Each writer is its own backend, as separate processes are: none has opened team-a.
    backends = [open_local_backend(settings) for _ in range(WRITERS)]
    try:

        def create(index: int) -> str:
            client = Client(settings=settings, backend=backends[index])
            return client.create_experiment(f"exp-{index}").workspace

        with ThreadPoolExecutor(WRITERS) as pool:
            assert list(pool.map(create, range(WRITERS))) == ["team-a"] * WRITERS
        names = [e.name for e in Client(settings=settings, backend=backends[0]).list_experiments()]
        assert sorted(names) == [f"exp-{i}" for i in range(WRITERS)]
        assert Client(settings=settings, backend=owner).list_experiments() == []
    finally:
        for backend in [*backends, owner]:
            backend.close()
