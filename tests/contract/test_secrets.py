"""Stored secrets behave the same on every backend; a value is kept only as ciphertext.

What the store keeps is read from its tables directly: the value is in no row, no audit
record and no event, and a listing holds names and times only. The value comes back only
through ``reveal_secret``, the internal read other areas use.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from modelyard.client.client import Client
from modelyard.core.secret_box import SecretBox, generate_key, reveal_secret
from modelyard.errors import InvalidInput, NotFound, SecretUnreadable
from modelyard.governance.secrets import NOT_RECORDED
from modelyard.storage.db.tables import audit_records, outbox, secrets
from tests.contract.conftest import Store

VALUE = "whsec_3f9a-not-a-real-signing-secret"


def _reveal(store: Store, name: str) -> str:
    with store.local.db.read() as conn:
        return reveal_secret(conn, store.local.secret_box, name)


def _with_keys(store: Store, keys: str) -> None:
    """The store's (for REST, the server's) keys become ``keys``."""
    assert store.local.secret_box is not None
    store.local.secret_box = SecretBox(keys, store.local.secret_box.key_file)


def test_a_secret_is_set_listed_replaced_and_deleted(store: Store, client: Client) -> None:
    made = client.secrets.set("slack-webhook", VALUE, reason="alerts channel")
    assert (made.workspace, made.name, made.created_by, made.updated_by) == (
        "default",
        "slack-webhook",
        "tester",
        "tester",
    )
    assert "value" not in made.model_dump()
    assert _reveal(store, "slack-webhook") == VALUE
    replaced = client.secrets.set("slack-webhook", "rotated-by-slack")
    assert (replaced.created_at, replaced.created_by) == (made.created_at, made.created_by)
    assert replaced.updated_at >= made.updated_at
    assert _reveal(store, "slack-webhook") == "rotated-by-slack"
    client.secrets.set("aws-prod", "AKIA-not-real")
    listed = client.secrets.list()
    assert [s.name for s in listed] == ["aws-prod", "slack-webhook"]
    assert all(set(s.model_dump()) == set(made.model_dump()) for s in listed)
    client.secrets.delete("aws-prod", reason="account closed")
    assert [s.name for s in client.secrets.list()] == ["slack-webhook"]
    with pytest.raises(NotFound, match="secret 'aws-prod' does not exist"):
        client.secrets.delete("aws-prod")
    with pytest.raises(NotFound, match="secret 'aws-prod' does not exist"):
        _reveal(store, "aws-prod")
    actions = [r.action for r in client.audit.records(action="secret.*")]
    assert actions == ["secret.set", "secret.set", "secret.set", "secret.deleted"]


def test_the_value_is_kept_only_as_ciphertext(store: Store, client: Client) -> None:
    client.secrets.set("signing", VALUE)
    client.secrets.set("signing", VALUE + "-2")
    client.secrets.delete("signing")
    client.secrets.set("signing", VALUE)
    with store.local.db.read() as conn:
        rows = [dict(r) for r in conn.execute(select(secrets)).mappings()]
        audit = [dict(r) for r in conn.execute(select(audit_records)).mappings()]
        events = [dict(r) for r in conn.execute(select(outbox)).mappings()]
    assert len(rows) == 1
    assert VALUE not in str(rows), "the table holds the value"
    assert rows[0]["ciphertext"].startswith("gAAAAA"), "a Fernet token"
    for text in [*map(str, audit), *map(str, events)]:
        assert VALUE not in text
        assert rows[0]["ciphertext"] not in text
    kept = [(r["action"], r["before"], r["after"]) for r in audit]
    marker = {"workspace": "default", "name": "signing", "value": NOT_RECORDED}
    assert kept == [
        ("secret.set", None, marker),
        ("secret.set", marker, marker),
        ("secret.deleted", marker, None),
        ("secret.set", None, marker),
    ]
    assert [(e["type"], e["subject"]) for e in events] == [
        ("secret.set", "workspaces/default/secrets/signing"),
        ("secret.set", "workspaces/default/secrets/signing"),
        ("secret.deleted", "workspaces/default/secrets/signing"),
        ("secret.set", "workspaces/default/secrets/signing"),
    ]
    assert [e["payload"].get("created") for e in events] == [True, False, None, True]


@pytest.mark.parametrize("name", ["../etc", "a b", "-dash", "", "x" * 251, "a/b", "é"])
def test_bad_names_are_refused(client: Client, name: str) -> None:
    with pytest.raises(InvalidInput, match="name"):
        client.secrets.set(name, VALUE)
    with pytest.raises(InvalidInput, match="name"):
        client.secrets.delete(name)


def test_bad_values_are_refused_without_being_repeated(client: Client) -> None:
    for value in ["", "x" * 65_537, "nul\x00" + VALUE]:
        with pytest.raises(InvalidInput, match="value") as caught:
            client.secrets.set("ok", value)
        assert VALUE not in caught.value.message
        assert "x" * 100 not in caught.value.message
    assert client.secrets.list() == []


def test_rotation_reencrypts_every_secret_under_the_first_key(store: Store, client: Client) -> None:
    old, new = generate_key(), generate_key()
    _with_keys(store, old)
    client.secrets.set("a", "value-a")
    client.secrets.set("b", "value-b")
    _with_keys(store, f"{new},{old}")
    assert _reveal(store, "a") == "value-a"  # the old key still decrypts
    assert client.secrets.reencrypt(reason="yearly rotation") == 2
    _with_keys(store, new)  # the old key dropped: every secret still reads
    assert [_reveal(store, n) for n in ("a", "b")] == ["value-a", "value-b"]
    [record] = client.audit.records(action="secrets.reencrypted")
    assert (record.after, record.reason) == ({"reencrypted": 2}, "yearly rotation")


def test_a_wrong_key_is_a_clear_error_and_reencrypting_changes_nothing(
    store: Store, client: Client
) -> None:
    _with_keys(store, generate_key())
    client.secrets.set("a", "value-a")
    with store.local.db.read() as conn:
        before = conn.execute(select(secrets.c.ciphertext)).scalar_one()
    _with_keys(store, generate_key())
    with pytest.raises(SecretUnreadable, match=r"secret 'a' .* cannot be decrypted") as caught:
        _reveal(store, "a")
    assert "MODELYARD_SECRET_KEY to the key it was written with" in caught.value.message
    with pytest.raises(SecretUnreadable, match=r"nothing was re-encrypted: 1 of 1 .*default/a"):
        client.secrets.reencrypt()
    with store.local.db.read() as conn:
        assert conn.execute(select(secrets.c.ciphertext)).scalar_one() == before
    assert list(client.audit.records(action="secrets.reencrypted")) == []


def test_concurrent_writers_of_one_name_leave_one_consistent_value(
    store: Store, client: Client
) -> None:
    writers = 6
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            start.wait(timeout=10)
            client.secrets.set("shared", f"value-{n}")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    [listed] = client.secrets.list()
    assert _reveal(store, "shared") in {f"value-{n}" for n in range(writers)}
    records = list(client.audit.records(action="secret.set"))
    assert len(records) == writers
    assert [r.before is None for r in records].count(True) == 1, "exactly one created it"
    assert listed.created_by == "tester"
