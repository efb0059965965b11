"""Workspaces are namespaces, the same on every backend: names are unique per workspace,
what one holds the other does not see, and a workspace exists only once made."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.core.remote import RemoteBackend
from modelyard.errors import NotFound
from tests.contract.conftest import Calling, Store


def in_workspace(store: Store, workspace: str) -> Client:
    settings = store.client.settings.model_copy(update={"workspace": workspace})
    if store.kind == "rest":
        remote = store.client.backend
        assert isinstance(remote, RemoteBackend)
        backend = RemoteBackend(remote.base_url, user="tester", retries=1, workspace=workspace)
        return Client(settings=settings, backend=backend)
    return Client(settings=settings, backend=Calling(store.local, workspace=workspace))  # type: ignore[arg-type]


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights of team a")
    return folder


def test_the_same_names_live_apart_in_two_workspaces(
    store: Store, client: Client, model_folder: Path
) -> None:
    client.accounts.create_workspace("team-a", reason="a second team")
    team = in_workspace(store, "team-a")
    client.registry.register("churn", model_folder)
    client.registry.register("churn", model_folder)
    assert team.registry.register("churn", model_folder).version == 1
    client.serving.create_endpoint("churn")
    team.serving.create_endpoint("churn", description="team a's")
    exp = client.create_experiment("exp")
    team_exp = team.create_experiment("exp")
    assert team_exp.workspace == "team-a"
    assert team_exp.id != exp.id

    assert [m.latest_version for m in client.registry.list()] == [2]
    assert [m.latest_version for m in team.registry.list()] == [1]
    assert team.serving.endpoint("churn").description == "team a's"
    assert [e.id for e in team.list_experiments()] == [team_exp.id]
    # An id names something in its own workspace only.
    with pytest.raises(NotFound):
        team.get_experiment(exp.id)
    with pytest.raises(NotFound):
        team.registry.version("churn", 2)
    # Each workspace keeps its own audit log.
    targets = {r.target_id for r in team.audit.records(target="models:/churn")}
    assert targets == {"churn", "churn/1"}
    assert {r.action for r in client.audit.records(action="workspace.created")} == {
        "workspace.created"
    }
    assert [w.name for w in client.accounts.workspaces()] == ["default", "team-a"]
    # Secrets too: each workspace keeps its own.
    team.secrets.set("webhook", "team a's secret")
    assert [s.name for s in team.secrets.list()] == ["webhook"]
    assert client.secrets.list() == []


def test_a_workspace_exists_only_once_made(store: Store) -> None:
    nowhere = in_workspace(store, "nowhere")
    with pytest.raises(NotFound, match="workspace 'nowhere' does not exist"):
        nowhere.registry.list()
    with pytest.raises(NotFound, match="workspace 'nowhere' does not exist"):
        nowhere.create_experiment("exp")
    made = store.client.accounts.create_workspace("nowhere")
    assert made.name == "nowhere"
    assert store.client.accounts.create_workspace("nowhere") == made  # made once
    assert nowhere.registry.list() == []


def test_gc_keeps_what_any_workspace_names(
    store: Store, client: Client, model_folder: Path
) -> None:
    client.accounts.create_workspace("team-a")
    team = in_workspace(store, "team-a")
    version = team.registry.register("churn", model_folder)
    report = client.collect_garbage(min_age_seconds=0)
    assert report.deleted == 0
    team.registry.download(version.uri, model_folder.parent / "back")
    assert (model_folder.parent / "back" / "model.bin").read_bytes() == b"weights of team a"
