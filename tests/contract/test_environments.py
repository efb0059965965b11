"""Environments behave the same on every backend: versions by content, lookups, errors.

Every spec here carries an explicit lock, so nothing is resolved over the network.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from modelyard.client.client import Client
from modelyard.environments import operations as env_ops
from modelyard.environments.hashing import environment_hash
from modelyard.environments.models import EnvironmentSpec, RegisterEnvironment
from modelyard.errors import InvalidInput, NotFound
from modelyard.storage.db.tables import audit_records, outbox
from tests.contract.conftest import Store

LOCK = ["numpy==1.26.4", "pandas==2.2.2", "python-dateutil==2.9.0", "six==1.16.0"]


def spec(name: str = "train", lock: list[str] | None = None, **extra: object) -> EnvironmentSpec:
    return EnvironmentSpec(
        name=name,
        python="3.11",
        requirements=["pandas==2.2.2"],
        lock=LOCK if lock is None else lock,
        **extra,  # type: ignore[arg-type]
    )


def test_register_creates_version_one_with_the_content_hash(client: Client) -> None:
    env = client.environments.create(spec(description="training steps"))
    assert env.name == "train"
    assert env.version == 1
    assert env.python == "3.11"
    assert env.lock == LOCK
    assert env.requirements == ["pandas==2.2.2"]
    assert env.hash == environment_hash("3.11", LOCK)
    assert env.source == "spec"
    assert env.description == "training steps"
    assert env.created_by == "tester"
    assert env.created_at > 0


def test_same_content_returns_the_same_version_unchanged(client: Client) -> None:
    first = client.environments.create(spec(description="first"))
    # Same resolved content: other order, other spelling, other requirements and description.
    shuffled = ["Six==1.16.0", "python_dateutil==2.9.0", "PANDAS==2.2.2", "numpy==1.26.4"]
    again = client.environments.create(
        EnvironmentSpec(
            name="train", python="3.11", requirements=["pandas"], lock=shuffled, description="x"
        )
    )
    assert again == first
    assert client.environments.list("train") == [first]


def test_changed_lock_creates_the_next_version(client: Client) -> None:
    first = client.environments.create(spec())
    bumped = [line.replace("numpy==1.26.4", "numpy==2.0.0") for line in LOCK]
    second = client.environments.create(spec(lock=bumped))
    assert second.version == 2
    assert second.hash != first.hash
    assert second.lock == bumped
    # Going back to the first content is a change from the latest one: version 3.
    third = client.environments.create(spec())
    assert (third.version, third.hash) == (3, first.hash)


def test_another_python_version_is_another_environment(client: Client) -> None:
    first = client.environments.create(spec())
    other = client.environments.create(EnvironmentSpec(name="train", python="3.12", lock=LOCK))
    assert other.version == 2
    assert other.hash != first.hash


def test_get_latest_by_version_and_by_hash(client: Client) -> None:
    v1 = client.environments.create(spec())
    v2 = client.environments.create(spec(lock=["six==1.16.0"]))
    assert client.environments.get("train") == v2
    assert client.environments.get("train", 1) == v1
    assert client.environments.get("train", version=2) == v2
    assert client.environments.get_by_hash(v1.hash) == v1
    assert client.environments.get_by_hash(v2.hash.upper()) == v2
    assert client.environments.lookup("train:1") == v1
    assert client.environments.lookup("train") == v2
    assert client.environments.lookup(v1.hash) == v1


def test_create_from_a_yaml_file(client: Client, tmp_path: Path) -> None:
    (tmp_path / "train.lock").write_text("\n".join(LOCK) + "\n")
    file = tmp_path / "env.yaml"
    file.write_text('name: train\npython: "3.11"\nlock_file: train.lock\n')
    env = client.environments.create(file, resolve=False)
    assert (env.version, env.lock) == (1, LOCK)
    assert client.environments.create(str(file)) == env  # a given lock is never resolved


def test_lookup_by_reference(client: Client) -> None:
    env = client.environments.create(spec())
    assert client.environments.lookup(env) is env
    named_like_a_hash = client.environments.create(spec("c0ffee" * 10 + "c0de"))
    assert client.environments.lookup(named_like_a_hash.name) == named_like_a_hash
    for bad in ("train:x", "train:0", "train:"):
        with pytest.raises(InvalidInput, match="NAME, NAME:VERSION or a hash"):
            client.environments.lookup(bad)


def test_hash_shared_by_two_names_finds_the_first_registered(client: Client) -> None:
    first = client.environments.create(spec("alpha"))
    client.environments.create(spec("beta"))
    assert client.environments.get_by_hash(first.hash) == first


def test_list_latest_of_each_name_or_every_version_of_one(client: Client) -> None:
    client.environments.create(spec("serve", lock=["six==1.16.0"]))
    t1 = client.environments.create(spec("train"))
    t2 = client.environments.create(spec("train", lock=["six==1.16.0"]))
    s2 = client.environments.create(spec("serve", lock=["six==1.17.0"]))
    assert client.environments.list() == [s2, t2]
    assert client.environments.list("train") == [t1, t2]
    assert client.environments.list(name="serve")[-1] == s2


def test_an_empty_store_lists_nothing(client: Client) -> None:
    assert client.environments.list() == []


def test_unknown_name_version_and_hash_are_not_found_naming_them(client: Client) -> None:
    client.environments.create(spec())
    with pytest.raises(NotFound, match="'nope'"):
        client.environments.get("nope")
    with pytest.raises(NotFound, match=r"'train' has no version 7 \(its versions are 1 to 1\)"):
        client.environments.get("train", 7)
    missing = "ab" * 32
    with pytest.raises(NotFound, match=missing):
        client.environments.get_by_hash(missing)
    with pytest.raises(NotFound, match="'ghost'"):
        client.environments.list("ghost")
    with pytest.raises(NotFound, match="'ghost'"):
        client.environments.lookup("ghost:2")


def test_unpinned_lock_line_is_invalid_naming_it(client: Client) -> None:
    with pytest.raises(InvalidInput, match=r"'pandas>=2' is not pinned"):
        client.environments.create(spec(lock=["numpy==1.26.4", "pandas>=2"]))
    assert client.environments.list() == []


def test_the_store_checks_what_a_client_did_not(client: Client) -> None:
    # model_construct skips the client-side validation; the operation must still refuse.
    request = RegisterEnvironment.model_construct(
        name="raw", python="3.11", requirements=[], lock=["pandas"], source="spec", description=None
    )
    with pytest.raises(InvalidInput, match="'pandas' is not pinned"):
        client.backend.call(env_ops.register_environment, request)
    assert client.environments.list() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lock": ["six==1", "six==2"]}, "pins 'six' twice"),
        ({"python": "3"}, "not MAJOR.MINOR"),
        ({"python": "3.11.4"}, "not MAJOR.MINOR"),
        ({"name": "bad:name"}, "name"),
        ({"requirements": ["--index-url http://x"]}, "not a package requirement"),
    ],
)
def test_malformed_specs_are_invalid(
    client: Client, fields: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"name": "train", "python": "3.11", "lock": LOCK, **fields}
    with pytest.raises(InvalidInput, match=message):
        client.environments.create(EnvironmentSpec(**values))  # type: ignore[arg-type]


def test_requirements_without_a_lock_are_refused_by_the_store(client: Client) -> None:
    request = RegisterEnvironment(name="train", python="3.11", requirements=["pandas"])
    with pytest.raises(InvalidInput, match="requirements but no lock"):
        client.backend.call(env_ops.register_environment, request)


def test_no_resolve_registers_pinned_requirements_and_refuses_unpinned(client: Client) -> None:
    pinned = EnvironmentSpec(name="small", python="3.11", requirements=["Six==1.16.0"])
    env = client.environments.create(pinned, resolve=False)
    assert env.lock == ["six==1.16.0"]
    loose = EnvironmentSpec(name="small", python="3.11", requirements=["six"])
    with pytest.raises(InvalidInput, match="'six' is not pinned"):
        client.environments.create(loose, resolve=False)


def test_a_bare_python_environment_has_an_empty_lock(client: Client) -> None:
    env = client.environments.create(EnvironmentSpec(name="bare", python="3.11"), resolve=False)
    assert env.lock == []
    assert env.hash == environment_hash("3.11", [])


def test_registration_is_audited_and_announced_once(store: Store) -> None:
    environments = store.client.environments
    env = environments.create(spec(), reason="new training image")
    environments.create(spec())  # unchanged: no new record, no new event
    with store.local.db.read() as conn:
        audits = list(
            conn.execute(
                select(audit_records).where(audit_records.c.action == "environment.registered")
            ).mappings()
        )
        events = list(
            conn.execute(select(outbox).where(outbox.c.type == "environment.registered")).mappings()
        )
    assert len(audits) == 1
    assert audits[0]["target_kind"] == "environment"
    assert audits[0]["target_id"] == "train:1"
    assert audits[0]["actor"] == "tester"
    assert audits[0]["reason"] == "new training image"
    assert audits[0]["after"]["hash"] == env.hash
    assert len(events) == 1
    assert events[0]["subject"] == "train:1"
    assert events[0]["payload"] == {
        "name": "train",
        "version": 1,
        "hash": env.hash,
        "python": "3.11",
        "source": "spec",
    }


def test_concurrent_registrations_of_one_name_get_distinct_versions(client: Client) -> None:
    locks = [[f"six==1.{minor}.0"] for minor in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        registered = list(pool.map(lambda lock: client.environments.create(spec(lock=lock)), locks))
    assert sorted(e.version for e in registered) == list(range(1, 9))
    assert [e.version for e in client.environments.list("train")] == list(range(1, 9))
