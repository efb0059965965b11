"""Experiments behave the same on every backend."""

from __future__ import annotations

import pytest

from modelyard.client.client import Client
from modelyard.errors import AlreadyExists, InvalidInput, NotFound


def test_create_get_and_find_by_name(client: Client) -> None:
    created = client.create_experiment("churn", description="churn model", tags={"team": "ds"})
    assert created.workspace == "default"
    assert client.get_experiment(created.id) == created
    assert client.get_experiment_by_name("churn") == created
    assert created.tags == {"team": "ds"}


def test_names_are_unique_per_workspace(client: Client) -> None:
    client.create_experiment("churn")
    with pytest.raises(AlreadyExists, match="churn"):
        client.create_experiment("churn")
    # A workspace is made on purpose, never by naming it.
    with pytest.raises(NotFound, match="workspace 'team-b' does not exist"):
        client.create_experiment("churn", workspace="team-b")
    client.accounts.create_workspace("team-b")
    other = client.create_experiment("churn", workspace="team-b")
    assert other.workspace == "team-b"
    assert client.get_experiment_by_name("churn", workspace="team-b") == other
    # An id names an experiment in its own workspace only.
    with pytest.raises(NotFound):
        client.get_experiment(other.id)


def test_list_shows_one_workspace_in_creation_order(client: Client) -> None:
    a = client.create_experiment("a")
    b = client.create_experiment("b")
    client.accounts.create_workspace("other")
    c = client.create_experiment("c", workspace="other")
    assert [e.id for e in client.list_experiments(workspace="default")] == [a.id, b.id]
    assert [e.id for e in client.list_experiments()] == [a.id, b.id]
    assert [e.id for e in client.list_experiments(workspace="other")] == [c.id]


def test_unknown_experiment_is_not_found_naming_it(client: Client) -> None:
    with pytest.raises(NotFound, match="nope123"):
        client.get_experiment("nope123")
    with pytest.raises(NotFound, match="missing"):
        client.get_experiment_by_name("missing")


def test_empty_name_is_invalid(client: Client) -> None:
    with pytest.raises(InvalidInput):
        client.create_experiment("")


def test_get_or_create_is_idempotent(client: Client) -> None:
    first = client.get_or_create_experiment("x")
    assert client.get_or_create_experiment("x") == first
