"""The client a CLI command talks through: the backend MODELYARD_URI names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.errors import NotFound

if TYPE_CHECKING:
    from modelyard.client.client import Client


def open_client() -> Client:
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.client.client import Client

    return Client()


def resolve_experiment_ids(client: Client, names_or_ids: list[str] | None) -> list[str]:
    """Experiment ids for names or ids given on the command line (all when none given)."""

    if not names_or_ids:
        return [e.id for e in client.list_experiments()]
    ids = []
    for value in names_or_ids:
        try:
            ids.append(client.get_experiment_by_name(value).id)
        except NotFound:
            try:
                ids.append(client.get_experiment(value).id)
            except NotFound:
                raise NotFound(
                    f"no experiment named or with id '{value}': see `modelyard experiments list`",
                    details={"kind": "experiment", "id": value},
                ) from None
    return ids
