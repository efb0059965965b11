"""Users and API tokens behave the same on every backend; a token's secret is never kept."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from modelyard.client.client import Client
from modelyard.errors import AlreadyExists, InvalidInput, NotFound
from modelyard.storage.db.tables import api_tokens, audit_records, outbox
from tests.contract.conftest import Store


def test_users_are_created_listed_and_disabled(client: Client) -> None:
    alice = client.accounts.create_user("alice", admin=True, reason="first admin")
    assert (alice.name, alice.kind, alice.admin, alice.created_by) == (
        "alice",
        "user",
        True,
        "tester",
    )
    client.accounts.create_user("ci-bot", kind="service")
    with pytest.raises(AlreadyExists, match="user 'alice' already exists"):
        client.accounts.create_user("alice")
    assert [(u.name, u.kind) for u in client.accounts.users()] == [
        ("alice", "user"),
        ("ci-bot", "service"),
    ]
    disabled = client.accounts.disable_user("ci-bot", reason="job retired")
    assert disabled.disabled_at is not None
    assert client.accounts.disable_user("ci-bot").disabled_at == disabled.disabled_at
    with pytest.raises(NotFound, match="user 'nobody' does not exist"):
        client.accounts.disable_user("nobody")
    with pytest.raises(InvalidInput, match="is not a valid name"):
        client.accounts.create_user("-bad name")


def test_a_token_is_shown_once_and_kept_only_as_a_hash(store: Store, client: Client) -> None:
    with pytest.raises(NotFound, match="user 'tester' does not exist"):
        client.accounts.create_token()
    client.accounts.create_user("tester")
    made = client.accounts.create_token(name="laptop", expires_in_days=30)
    assert made.token.startswith(f"myd_{made.id}_")
    assert len(made.token) >= 4 + 12 + 1 + 43  # 32 random bytes in the secret
    assert made.expires_at is not None
    assert made.expires_at - made.created_at == 30 * 86_400_000
    listed = client.accounts.tokens()
    assert [t.id for t in listed] == [made.id]
    assert "token" not in listed[0].model_dump()
    secret = made.token.removeprefix(f"myd_{made.id}_")  # (the secret may hold a "_")
    with store.local.db.read() as conn:
        rows = [dict(r) for r in conn.execute(select(api_tokens)).mappings()]
        audit = [str(dict(r)) for r in conn.execute(select(audit_records)).mappings()]
        events = [str(dict(r)) for r in conn.execute(select(outbox)).mappings()]
    assert rows[0]["secret_sha256"] != secret
    for text in [str(rows), *audit, *events]:
        assert secret not in text, "the secret was stored"
        assert rows[0]["secret_sha256"] not in text or text == str(rows)
    never = client.accounts.create_token(name="ci", expires_in_days=None)
    assert never.expires_at is None


def test_tokens_are_revoked_by_their_owner_and_issued_by_admins(client: Client) -> None:
    client.accounts.create_user("tester")
    client.accounts.create_user("bot", kind="service")
    mine = client.accounts.create_token()
    revoked = client.accounts.revoke_token(mine.id, reason="laptop lost")
    assert revoked.revoked_at is not None
    assert client.accounts.revoke_token(mine.id).revoked_at == revoked.revoked_at
    issued = client.accounts.create_token(user="bot", name="deploy job")
    assert issued.user == "bot"
    # Someone else's token is as unknown to you as one that never was.
    with pytest.raises(NotFound, match=f"you have no token {issued.id}"):
        client.accounts.revoke_token(issued.id)
    assert [t.id for t in client.accounts.tokens()] == [mine.id]
    with pytest.raises(InvalidInput, match="id"):
        client.accounts.revoke_token("not-an-id")
    client.accounts.disable_user("bot")
    with pytest.raises(InvalidInput, match="user 'bot' is disabled"):
        client.accounts.create_token(user="bot")


def test_whoami_without_auth_is_the_actor_unauthenticated(client: Client) -> None:
    who = client.accounts.whoami()
    assert (who.name, who.authenticated, who.admin, who.kind) == ("tester", False, False, None)
    client.accounts.create_user("tester", kind="service")
    assert client.accounts.whoami().kind == "service"


def test_members_are_given_a_role_changed_and_removed(client: Client) -> None:
    client.accounts.create_user("alice")
    added = client.accounts.set_member("alice", "viewer", reason="joins")
    assert (added.workspace, added.user, added.role, added.added_by) == (
        "default",
        "alice",
        "viewer",
        "tester",
    )
    changed = client.accounts.set_member("alice", "approver")
    assert (changed.role, changed.added_at) == ("approver", added.added_at)
    assert [(m.user, m.role) for m in client.accounts.members()] == [("alice", "approver")]
    client.accounts.remove_member("alice", reason="left")
    client.accounts.remove_member("alice")  # already gone: nothing to do
    assert client.accounts.members() == []
    with pytest.raises(InvalidInput, match="role"):
        client.accounts.set_member("alice", "owner")
    with pytest.raises(NotFound, match="user 'bob' does not exist"):
        client.accounts.set_member("bob", "viewer")
    with pytest.raises(NotFound, match="workspace 'nope' does not exist"):
        client.accounts.set_member("alice", "viewer", workspace="nope")
    actions = [r.action for r in client.audit.records(target="workspaces:/default")]
    assert actions.count("member.set") == 2
