"""A server with auth on: nothing without a token, the token's user is the actor.

Every route of the OpenAPI document (and the blob routes) is called without a token and
with each kind of bad token; each answers 401 before anything else happens. A valid
token's user is who the audit log records, whatever ``X-Modelyard-User`` claims.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from modelyard.client.client import Client
from modelyard.config import Settings
from modelyard.core.backend import LocalBackend
from modelyard.core.credentials import store_token, stored_token
from modelyard.core.remote import RemoteBackend
from modelyard.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from modelyard.server.serve import auth_mode, build_app
from modelyard.storage.db.tables import api_tokens, audit_records
from tests.conftest import ServerThread, make_settings

BLOB = "0" * 64


@dataclass
class AuthServer:
    url: str
    backend: LocalBackend
    settings: Settings
    admin_token: str

    def client(self, token: str | None, user: str = "mallory") -> Client:
        remote = RemoteBackend(self.url, user=user, token=token, retries=0)
        return Client(settings=self.settings, backend=remote)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    tmp = tmp_path_factory.mktemp("auth")
    settings = make_settings(tmp)
    from modelyard.core.backend import open_local_backend

    backend = open_local_backend(settings)
    admin = Client(settings=settings, backend=backend)  # embedded: the store's owner
    admin.accounts.create_user("root", admin=True)
    token = admin.accounts.create_token(user="root", name="tests").token
    try:
        with ServerThread(backend, settings, auth=True) as thread:
            yield AuthServer(thread.url, backend, settings, token)
    finally:
        backend.close()


def _routes(url: str) -> list[tuple[str, str]]:
    """Every API route of the server's document, its path parameters filled in."""
    document = httpx.get(url + "/openapi.json").json()
    found = []
    for path, methods in document["paths"].items():
        if not path.startswith("/api/"):
            continue  # the health routes answer anyone
        filled = re.sub(r"\{[^}]+\}", BLOB if "/blobs/" in path else "x", path)
        found.extend((method.upper(), filled) for method in methods)
    return found


BAD_TOKENS = {
    "no token": None,
    "garbage": "Bearer not-a-token",
    "wrong scheme": "Basic cm9vdDpwYXNzd29yZA==",
    "unknown": "Bearer myd_0123456789ab_" + "A" * 43,
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_every_route_answers_401_without_a_valid_token(server: AuthServer, kind: str) -> None:
    routes = _routes(server.url)
    assert len(routes) > 60, "the document lists every operation"
    headers = {"X-Modelyard-User": "root"}
    if BAD_TOKENS[kind] is not None:
        headers["Authorization"] = str(BAD_TOKENS[kind])
    with httpx.Client(base_url=server.url, headers=headers) as http:
        for method, path in routes:
            body = {} if method in ("POST", "PUT", "PATCH") else None
            answer = http.request(method, path, json=body)
            assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            if method != "HEAD":  # a HEAD answer has no body
                assert answer.json()["error"]["code"] == "unauthenticated"


def test_the_tokens_user_is_the_actor_whatever_the_header_says(server: AuthServer) -> None:
    client = server.client(server.admin_token, user="mallory")
    who = client.accounts.whoami()
    assert (who.name, who.authenticated, who.admin) == ("root", True, True)
    experiment = client.create_experiment("authed", reason="with a token")
    with server.backend.db.read() as conn:
        actor = conn.execute(
            select(audit_records.c.actor).where(audit_records.c.target_id == experiment.id)
        ).scalar_one()
    assert actor == "root"
    # Artifacts too: the blob routes are behind the same gate.
    assert client.backend.put_blob_bytes(b"weights").size == 7  # type: ignore[attr-defined]
    with pytest.raises(Unauthenticated):
        server.client(None).backend.put_blob_bytes(b"weights")  # type: ignore[attr-defined]


def test_revoked_expired_and_disabled_tokens_are_refused_saying_why(server: AuthServer) -> None:
    admin = server.client(server.admin_token)
    admin.accounts.create_user("dana")
    tokens = {n: admin.accounts.create_token(user="dana", name=n) for n in ("r", "e", "d", "ok")}
    assert server.client(tokens["ok"].token).accounts.whoami().name == "dana"

    server.client(tokens["r"].token).accounts.revoke_token(tokens["r"].id)
    with server.backend.db.write() as conn:
        expired = update(api_tokens).where(api_tokens.c.id == tokens["e"].id)
        conn.execute(expired.values(expires_at=1))
    for name, why in (("r", "was revoked"), ("e", "has expired")):
        with pytest.raises(Unauthenticated, match=f"token {tokens[name].id} {why}"):
            server.client(tokens[name].token).accounts.whoami()
    admin.accounts.disable_user("dana")
    with pytest.raises(Unauthenticated, match="user 'dana' is disabled"):
        server.client(tokens["d"].token).accounts.whoami()
    with server.backend.db.read() as conn:
        used = conn.execute(
            select(api_tokens.c.last_used_at).where(api_tokens.c.id == tokens["ok"].id)
        ).scalar_one()
    assert used is not None


def test_managing_users_needs_a_server_admin(server: AuthServer) -> None:
    admin = server.client(server.admin_token)
    admin.accounts.create_user("erin")
    erin = server.client(admin.accounts.create_token(user="erin").token)
    with pytest.raises(PermissionDenied, match="needs the permission users:admin"):
        erin.accounts.create_user("erins-friend")
    with pytest.raises(PermissionDenied, match="users:admin"):
        erin.accounts.create_token(user="root")
    # Their own tokens are theirs to manage; work needs a role in the workspace.
    own = erin.accounts.create_token(name="second")
    assert own.user == "erin"
    with pytest.raises(NotFound, match="not a member of it"):
        erin.create_experiment("erins")
    admin.accounts.set_member("erin", "contributor", reason="joins the churn team")
    assert erin.create_experiment("erins").name == "erins"
    with pytest.raises(PermissionDenied, match="the admin role or above"):
        erin.accounts.set_member("erin", "admin")


def test_the_first_start_with_auth_prints_a_one_time_admin_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path)
    build_app(settings, auth=True)
    printed = capsys.readouterr().err
    [token] = re.findall(r"myd_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", printed)
    assert "valid for 24 hours" in printed
    build_app(settings, auth=True)
    assert "myd_" not in capsys.readouterr().err, "only the first start makes one"
    with ServerThread(build_app_backend(settings), settings, auth=True) as thread:
        remote = RemoteBackend(thread.url, user="x", token=token, retries=0)
        who = Client(settings=settings, backend=remote).accounts.whoami()
    assert (who.name, who.admin) == ("admin", True)


def build_app_backend(settings: Settings) -> LocalBackend:
    from modelyard.core.backend import open_local_backend

    return open_local_backend(settings)


@pytest.mark.parametrize(
    ("host", "auth", "insecure", "expected"),
    [
        ("127.0.0.1", None, False, False),
        ("localhost", None, False, False),
        ("::1", None, False, False),
        ("0.0.0.0", None, False, True),
        ("10.1.2.3", None, False, True),
        ("modelyard.internal", None, False, True),
        ("127.0.0.1", True, False, True),
        ("0.0.0.0", None, True, False),
        ("0.0.0.0", False, True, False),
    ],
)
def test_auth_is_on_unless_the_address_is_loopback(
    host: str, auth: bool | None, insecure: bool, expected: bool
) -> None:
    assert auth_mode(host, auth, insecure) is expected


def test_an_open_server_on_a_public_address_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"refusing to serve 0\.0\.0\.0 without authentication"):
        auth_mode("0.0.0.0", False, False)


def test_stored_credentials_are_owner_only_and_per_server(tmp_path: Path) -> None:
    path = tmp_path / "config" / "modelyard" / "credentials.json"
    store_token("https://a.example:8750/", "myd_a", path)
    store_token("https://b.example:8750", "myd_b", path)
    assert stored_token("https://a.example:8750", path) == "myd_a"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    store_token("https://a.example:8750", None, path)
    assert stored_token("https://a.example:8750", path) is None
    assert stored_token("https://b.example:8750", path) == "myd_b"
    path.write_text("{broken")
    with pytest.raises(InvalidInput, match="cannot read the stored credentials"):
        stored_token("https://b.example:8750", path)


def test_a_contributors_protected_change_answers_202_with_the_request(
    server: AuthServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    owner = server.client(server.admin_token)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    owner.registry.register("guarded", folder)
    owner.registry.register("guarded", folder)
    owner.registry.set_alias("guarded", "production", 1)
    owner.approvals.protect_alias("guarded", "production", require_approval=True)
    tokens = {}
    for name, role in (("cara", "contributor"), ("abe", "approver")):
        owner.accounts.create_user(name)
        owner.accounts.set_member(name, role)
        tokens[name] = owner.accounts.create_token(user=name).token
    answer = httpx.put(
        f"{server.url}/api/v1/models/guarded/aliases/production",
        json={"version": 2},
        headers={"Authorization": f"Bearer {tokens['cara']}", "X-Modelyard-Reason": "v2"},
    )
    assert answer.status_code == 202
    error = answer.json()["error"]
    assert error["code"] == "approval_requested"
    approval = error["details"]["approval"]
    assert (approval["requested_by"], approval["state"], approval["reason"]) == (
        "cara",
        "pending",
        "v2",
    )
    # The X-Modelyard-User header names nobody: the approver is the token's user.
    approver = server.client(tokens["abe"], user="cara")
    assert approver.approvals.approve(approval["id"]).decided_by == "abe"
    assert owner.registry.version("guarded", 2).aliases == ["production"]
    documented = httpx.get(f"{server.url}/openapi.json").json()
    responses = documented["paths"]["/api/v1/models/{model}/aliases/{alias}"]["put"]["responses"]
    assert "202" in responses


def test_a_member_sees_their_own_workspace_and_nothing_of_the_others(
    server: AuthServer,
) -> None:
    owner = server.client(server.admin_token)
    owner.accounts.create_workspace("fraud-team")
    owner.accounts.create_user("fay")
    owner.accounts.set_member("fay", "contributor", workspace="fraud-team")
    token = owner.accounts.create_token(user="fay").token
    owner.create_experiment("default-only")

    def as_fay(workspace: str) -> Client:
        remote = RemoteBackend(server.url, user="fay", token=token, retries=0, workspace=workspace)
        return Client(settings=server.settings, backend=remote)

    mine = as_fay("fraud-team")
    made = mine.create_experiment("fraud")
    assert made.workspace == "fraud-team"
    assert [e.name for e in mine.list_experiments()] == ["fraud"]
    assert [w.name for w in mine.accounts.workspaces()] == ["fraud-team"]
    # Listing their workspaces needs no role in the one a call names.
    assert [w.name for w in as_fay("default").accounts.workspaces()] == ["fraud-team"]
    # Another workspace, and one that does not exist, answer alike: names do not leak.
    for elsewhere in ("default", "no-such-team"):
        with pytest.raises(NotFound, match="does not exist or you are not a member"):
            as_fay(elsewhere).list_experiments()
    with pytest.raises(NotFound, match="does not exist or you are not a member"):
        mine.get_experiment_by_name("default-only", workspace="default")
