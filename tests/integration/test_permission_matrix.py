"""Every operation x every kind of caller, against a table: the one permission check decides.

With auth on, each operation of the REST server (and the blob routes) is called by a
caller with no token, an expired one, a revoked one, a viewer, a contributor, an approver,
a workspace admin, a server admin, and an admin of another workspace. ``NEEDS`` says who
each operation is for; an operation added without a row fails
``test_every_operation_has_a_row``, so none can ship unplaced.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from modelyard.client.client import Client
from modelyard.core.backend import open_local_backend
from modelyard.core.http_api import API_PREFIX
from modelyard.server.app import ALL_OPERATIONS, create_app
from modelyard.storage.db.tables import api_tokens, workspaces
from tests.conftest import make_settings

# Who each operation is for: "token" (anyone authenticated), a role in the workspace (and
# every role above it), or "server-admin".
NEEDS = {
    "tracking.ensure_workspace": "server-admin",
    "tracking.list_workspaces": "token",
    "tracking.create_experiment": "contributor",
    "tracking.ensure_experiment": "contributor",
    "tracking.get_experiment": "viewer",
    "tracking.find_experiment": "viewer",
    "tracking.list_experiments": "viewer",
    "tracking.create_run": "contributor",
    "tracking.get_run": "viewer",
    "tracking.update_run": "contributor",
    "tracking.delete_run": "admin",
    "tracking.log_batch": "contributor",
    "tracking.get_metric_history": "viewer",
    "tracking.search_runs": "viewer",
    "tracking.log_input": "contributor",
    "tracking.log_artifact": "contributor",
    "tracking.list_artifacts": "viewer",
    "pipelines.start_pipeline_run": "contributor",
    "pipelines.lookup_cache": "viewer",
    "pipelines.record_step_run": "contributor",
    "pipelines.finish_pipeline_run": "contributor",
    "pipelines.get_pipeline_run": "viewer",
    "pipelines.list_pipeline_runs": "viewer",
    "pipelines.list_pipelines": "viewer",
    "pipelines.get_pipeline": "viewer",
    "pipelines.register_pipeline": "contributor",
    "pipelines.get_pipeline_version": "viewer",
    "pipelines.list_pipeline_versions": "viewer",
    "pipelines.resolve_pipeline_ref": "viewer",
    "registry.create_model": "contributor",
    "registry.get_model": "viewer",
    "registry.update_model": "contributor",
    "registry.list_models": "viewer",
    "registry.register_version": "contributor",
    "registry.get_version": "viewer",
    "registry.list_versions": "viewer",
    "registry.set_alias": "contributor",
    "registry.delete_alias": "contributor",
    "registry.get_alias_history": "viewer",
    "registry.resolve_uri": "viewer",
    "registry.archive_version": "contributor",
    "registry.delete_version": "admin",
    "registry.record_evaluation": "contributor",
    "registry.list_evaluations": "viewer",
    "schedules.create_schedule": "contributor",
    "schedules.trigger_pipeline": "contributor",
    "schedules.list_schedules": "viewer",
    "schedules.get_schedule": "viewer",
    "schedules.set_schedule_enabled": "contributor",
    "schedules.delete_schedule": "contributor",
    "schedules.claim_due_schedule": "contributor",
    "schedules.record_schedule_result": "contributor",
    "environments.register_environment": "contributor",
    "environments.get_environment": "viewer",
    "environments.find_environment_by_hash": "viewer",
    "environments.list_environments": "viewer",
    "serving.create_endpoint": "contributor",
    "serving.get_endpoint": "viewer",
    "serving.list_endpoints": "viewer",
    "serving.delete_endpoint": "admin",
    "serving.create_deployment": "contributor",
    "serving.update_deployment": "contributor",
    "serving.get_deployment": "viewer",
    "serving.list_deployments": "viewer",
    "serving.delete_deployment": "admin",
    "serving.set_traffic": "contributor",
    "serving.start_rollout": "contributor",
    "serving.get_rollout": "viewer",
    "serving.pause_rollout": "contributor",
    "serving.resume_rollout": "contributor",
    "serving.abort_rollout": "contributor",
    "serving.advance_rollout": "contributor",
    "serving.endpoint_history": "viewer",
    "governance.list_audit_records": "approver",
    "governance.verify_audit": "approver",
    "governance.create_checkpoint": "admin",
    "accounts.create_user": "server-admin",
    "accounts.list_users": "server-admin",
    "accounts.disable_user": "server-admin",
    "accounts.create_token": "token",
    "accounts.issue_token": "server-admin",
    "accounts.list_tokens": "token",
    "accounts.revoke_token": "token",
    "accounts.whoami": "token",
    "members.set_member": "admin",
    "members.remove_member": "admin",
    "members.list_members": "viewer",
    "approvals.create_protection_rule": "admin",
    "approvals.list_protection_rules": "viewer",
    "approvals.delete_protection_rule": "admin",
    "approvals.list_approvals": "viewer",
    "approvals.get_approval": "viewer",
    "approvals.approve": "approver",
    "approvals.reject": "approver",
    "secrets.set_secret": "contributor",
    "secrets.list_secrets": "viewer",
    "secrets.delete_secret": "admin",
    "secrets.reencrypt_secrets": "server-admin",
    "cards.get_model_card": "viewer",
    "lineage.get_lineage": "viewer",
    "lineage.list_run_events": "viewer",
    "housekeeping.collect": "server-admin",
    "retention.set_rule": "admin",
    "retention.list_rules": "viewer",
    "retention.delete_rule": "admin",
    "retention.apply_retention": "admin",
    "blobs.head": "viewer",
    "blobs.get": "viewer",
    "blobs.put": "contributor",
}
LADDER = ["viewer", "contributor", "approver", "admin"]
MEMBERS = {
    "viewer": "viewer",
    "contributor": "contributor",
    "approver": "approver",
    "wsadmin": "admin",
}
BLOB = "0" * 64


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str


def _filled(path: str) -> str:
    """A route's path with every parameter filled: its workspace is the callers' one."""
    return re.sub(r"\{[^}]+\}", "x", path.replace("{workspace}", "default"))


ROUTES = [Route(op.name, op.method, API_PREFIX + _filled(op.path)) for op in ALL_OPERATIONS] + [
    Route("blobs.head", "HEAD", f"{API_PREFIX}/blobs/{BLOB}"),
    Route("blobs.get", "GET", f"{API_PREFIX}/blobs/{BLOB}"),
    Route("blobs.put", "PUT", f"{API_PREFIX}/blobs/{BLOB}"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = make_settings(tmp_path_factory.mktemp("matrix"))
    backend = open_local_backend(settings)
    owner = Client(settings=settings, backend=backend)  # embedded: the store's owner
    tokens: dict[str, str] = {}
    owner.accounts.create_user("root", admin=True)
    tokens["server-admin"] = owner.accounts.create_token(user="root").token
    for user, role in MEMBERS.items():
        owner.accounts.create_user(user)
        owner.accounts.set_member(user, role)
        tokens[user] = owner.accounts.create_token(user=user).token
    with backend.db.write() as conn:
        conn.execute(workspaces.insert().values(name="other", created_at=1))
    owner.accounts.create_user("outsider")
    owner.accounts.set_member("outsider", "admin", workspace="other")
    tokens["outsider"] = owner.accounts.create_token(user="outsider").token
    expired = owner.accounts.create_token(user="contributor", name="old")
    with backend.db.write() as conn:
        conn.execute(update(api_tokens).where(api_tokens.c.id == expired.id).values(expires_at=1))
    tokens["expired"] = expired.token
    revoked = owner.accounts.create_token(user="root", name="gone")
    tokens["revoked"] = revoked.token  # revoked by its owner once the server runs
    app = create_app(backend, settings, auth=True)
    with TestClient(app) as http:
        http.delete(
            f"{API_PREFIX}/tokens/{revoked.id}",
            headers={"Authorization": f"Bearer {revoked.token}"},
        ).raise_for_status()
        yield http, tokens
    backend.close()


def test_every_operation_has_a_row() -> None:
    assert {r.name for r in ROUTES} == set(NEEDS), "place each operation in NEEDS"


def _expected(needs: str, caller: str) -> str:
    """allowed, 401, 403 or 404 (no member: the workspace is not there for them)."""
    if caller in ("no token", "expired", "revoked"):
        return "401"
    if needs == "token" or caller == "server-admin":
        return "allowed"
    if needs == "server-admin":
        return "403"
    if caller == "outsider":
        return "404"
    held = LADDER.index(MEMBERS[caller])
    return "allowed" if held >= LADDER.index(needs) else "403"


CALLERS = ["no token", "expired", "revoked", *MEMBERS, "server-admin", "outsider"]


@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_gets_what_the_table_says(
    server: tuple[TestClient, dict[str, str]], caller: str
) -> None:
    http, tokens = server
    headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller in tokens else {}
    wrong = []
    for route in ROUTES:
        body = (
            {} if route.method in ("POST", "PUT", "PATCH") and "blobs" not in route.path else None
        )
        answer = http.request(route.method, route.path, json=body, headers=headers)
        error = answer.json().get("error", {}) if answer.content else {}
        gate_404 = answer.status_code == 404 and "not a member" in error.get("message", "")
        got = (
            "401" if answer.status_code == 401
            else "403" if answer.status_code == 403 and error.get("code") == "permission_denied"
            else "404" if gate_404
            else "allowed"
        )  # fmt: skip
        if route.method == "HEAD" and answer.status_code == 404:
            got = "allowed"  # a HEAD answer has no body to tell the gate's 404 apart
            if caller == "outsider":
                got = "404"
        want = _expected(NEEDS[route.name], caller)
        if got != want:
            wrong.append(
                f"{route.method} {route.path}: {got} (expected {want}): {answer.text[:120]}"
            )
    assert wrong == []
