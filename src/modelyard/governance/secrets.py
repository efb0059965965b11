"""Stored secrets: named values Modelyard uses later, kept encrypted (``core/secret_box.py``).

Setting a secret is a contributor's (``secrets:write``), seeing which exist a viewer's
(``secrets:read``: names and times, never values), deleting one an admin's
(``secrets:delete``). No operation returns a value: areas that use one read it inside their
own transaction with ``core.secret_box.reveal_secret``. Audit records and events name the
secret and mark its value as not recorded (no hash of it either: a hash of a short secret
gives it away). Re-encrypting every secret under the first key is a server admin's, since
the key is the store's (``store:admin``).

A secret belongs to the workspace it was set in (each workspace keeps its own, in its own
database); re-encrypting works on one workspace's secrets at a time
(``modelyard -w NAME secrets reencrypt``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import bindparam, delete, select, update

from modelyard.core.fields import name_field
from modelyard.core.operations import Done, Model, OperationContext, OperationSet, Request
from modelyard.core.secret_box import require_box
from modelyard.errors import NotFound, SecretUnreadable
from modelyard.governance.members import require_workspace
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import secrets

ops = OperationSet("secrets")

# What audit records hold where a value would be: the same for every value.
NOT_RECORDED = "(encrypted; not recorded)"
MAX_SECRET_LENGTH = 65_536

SecretName = Annotated[
    str,
    name_field(
        r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=250,
        rule="letters, digits, '.', '_' and '-', starting with a letter or digit",
        example="slack-webhook",
    ),
]
# repr=False: a request's repr (in a log line, a traceback) never shows the value.
SecretValue = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_SECRET_LENGTH,
        repr=False,
        description="the value, stored encrypted and never returned",
        json_schema_extra={"format": "password", "writeOnly": True},
    ),
]


class Secret(Model):
    """A secret as listed: never its value."""

    workspace: str
    name: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str


class SecretList(Model):
    secrets: list[Secret]


class SetSecret(Request):
    """Store ``value`` as secret ``name`` (a new secret, or a new value for it)."""

    name: SecretName
    value: SecretValue


class DeleteSecret(Request):
    name: SecretName


class ListSecrets(Request):
    pass


class ReencryptSecrets(Request):
    pass


class Reencrypted(Model):
    reencrypted: int


def _kept(workspace: str, name: str) -> dict[str, Any]:
    """A secret as the audit log keeps it: which one, and no trace of its value."""
    return {"workspace": workspace, "name": name, "value": NOT_RECORDED}


def _locked(ctx: OperationContext, workspace: str, name: str) -> dict[str, Any] | None:
    # Locked (PostgreSQL; SQLite has one writer): a concurrent set waits for this one.
    row = (
        ctx.conn.execute(
            select(secrets)
            .where(secrets.c.workspace == workspace, secrets.c.name == name)
            .with_for_update()
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


@ops.write(
    "PUT", "/secrets/{name}", permission="secrets:write", audit="secret.set", idempotent=True
)
def set_secret(ctx: OperationContext, req: SetSecret) -> Secret:
    """Store a secret's value, encrypted (a new secret, or a new value for one)."""
    workspace = ctx.workspace
    ciphertext = require_box(ctx.secret_box).encrypt(workspace, req.name, req.value)
    require_workspace(ctx, workspace)
    now, who = ctx.now_ms(), ctx.actor.name
    row = {
        "workspace": workspace,
        "name": req.name,
        "ciphertext": ciphertext,
        "created_at": now,
        "created_by": who,
        "updated_at": now,
        "updated_by": who,
    }
    before = _locked(ctx, workspace, req.name)
    if before is None and not insert_if_absent(ctx.conn, secrets, row):
        before = _locked(ctx, workspace, req.name)  # a concurrent writer made it meanwhile
    if before is not None:
        row.update(created_at=before["created_at"], created_by=before["created_by"])
        ctx.conn.execute(
            update(secrets)
            .where(secrets.c.workspace == workspace, secrets.c.name == req.name)
            .values(ciphertext=ciphertext, updated_at=now, updated_by=who)
        )
    target = f"{workspace}/{req.name}"
    kept = _kept(workspace, req.name)
    ctx.work.record("secret", target, before=kept if before else None, after=kept)
    ctx.work.emit(
        "secret.set",
        f"workspaces/{workspace}/secrets/{req.name}",
        {"workspace": workspace, "name": req.name, "created": before is None},
    )
    return Secret.model_validate(row)


@ops.read("/secrets", permission="secrets:read")
def list_secrets(ctx: OperationContext, req: ListSecrets) -> SecretList:
    """The secrets' names and who set them when (never their values)."""
    shown = [column for column in secrets.c if column.name != "ciphertext"]
    rows = ctx.conn.execute(
        select(*shown).where(secrets.c.workspace == ctx.workspace).order_by(secrets.c.name)
    ).mappings()
    return SecretList(secrets=[Secret.model_validate(dict(r)) for r in rows])


@ops.write("DELETE", "/secrets/{name}", permission="secrets:delete", audit="secret.deleted")
def delete_secret(ctx: OperationContext, req: DeleteSecret) -> Done:
    """Delete a secret: whatever used it can no longer read it."""
    workspace = ctx.workspace
    gone = ctx.conn.execute(
        delete(secrets)
        .where(secrets.c.workspace == workspace, secrets.c.name == req.name)
        .returning(secrets.c.name)
    ).first()
    if gone is None:
        raise NotFound(
            f"secret '{req.name}' does not exist: see `modelyard secrets list`",
            details={"kind": "secret", "id": req.name},
        )
    ctx.work.record("secret", f"{workspace}/{req.name}", before=_kept(workspace, req.name))
    ctx.work.emit(
        "secret.deleted",
        f"workspaces/{workspace}/secrets/{req.name}",
        {"workspace": workspace, "name": req.name},
    )
    return Done()


@ops.write(
    "POST",
    "/secrets/reencrypt",
    permission="store:admin",
    audit="secrets.reencrypted",
    idempotent=True,
    without_event="re-encrypting changes no secret's value, nothing a subscriber follows; "
    "the audit record keeps the count",
)
def reencrypt_secrets(ctx: OperationContext, req: ReencryptSecrets) -> Reencrypted:
    """Encrypt every stored secret again under the first key (the last step of a rotation).

    All or nothing: if one secret does not decrypt with the keys given, none is changed."""
    box = require_box(ctx.secret_box)
    c = secrets.c
    rows = ctx.conn.execute(
        select(c.workspace, c.name, c.ciphertext).order_by(c.workspace, c.name).with_for_update()
    ).all()
    done, unreadable = [], []
    for workspace, name, ciphertext in rows:
        try:
            fresh = box.reencrypt(workspace, name, ciphertext)
        except SecretUnreadable as exc:
            unreadable.append(exc)
            continue
        done.append({"w": workspace, "n": name, "fresh": fresh})
    if unreadable:
        names = ", ".join(f"{e.details['workspace']}/{e.details['name']}" for e in unreadable)
        raise SecretUnreadable(
            f"nothing was re-encrypted: {len(unreadable)} of {len(rows)} secrets ({names}) "
            f"cannot be decrypted. The first: {unreadable[0].message}",
            details={"secrets": [e.details for e in unreadable]},
        )
    if done:
        ctx.conn.execute(
            update(secrets)
            .where(c.workspace == bindparam("w"), c.name == bindparam("n"))
            .values(ciphertext=bindparam("fresh")),
            done,
        )
    ctx.work.record("secret_store", "secrets", after={"reencrypted": len(done)})
    return Reencrypted(reencrypted=len(done))


OPERATIONS = ops.operations
