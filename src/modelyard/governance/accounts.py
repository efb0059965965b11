"""Account operations: users, service accounts and API tokens (issue 10, identity).

Managing users is ``users:admin`` (the server's admins); a user makes, lists and revokes
their own tokens (``tokens:write``), and these operations only ever reach the caller's
tokens, so no handler decides who may act on whose. A token's secret is returned once and
kept only as a hash; audit records and events name a token by its id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from modelyard.core.identity import new_token
from modelyard.core.operations import OperationContext, OperationSet
from modelyard.errors import AlreadyExists, InvalidInput, NotFound
from modelyard.governance.account_models import (
    CreatedToken,
    CreateToken,
    CreateUser,
    DisableUser,
    Identity,
    IssueToken,
    ListTokens,
    ListUsers,
    RevokeToken,
    Token,
    TokenList,
    User,
    UserList,
    WhoAmI,
)
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import api_tokens, users

ops = OperationSet("accounts", server_wide=True)
_DAY_MS = 86_400_000


def _user_row(ctx: OperationContext, name: str) -> Any:
    row = ctx.conn.execute(select(users).where(users.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(
            f"user '{name}' does not exist: a server admin creates it with "
            f"`modelyard users create {name}`",
            details={"kind": "user", "id": name},
        )
    return row


@ops.write("PUT", "/users/{name}", permission="users:admin", audit="user.created")
def create_user(ctx: OperationContext, req: CreateUser) -> User:
    """Create a user or a service account (an admin one with ``admin``)."""
    row = {
        "name": req.name,
        "kind": req.kind.value,
        "admin": req.admin,
        "created_at": ctx.now_ms(),
        "created_by": ctx.actor.name,
        "disabled_at": None,
    }
    if not insert_if_absent(ctx.conn, users, row):
        raise AlreadyExists(f"user '{req.name}' already exists", details={"id": req.name})
    ctx.work.record("user", req.name, after=row)
    ctx.work.emit("user.created", f"users/{req.name}", {"name": req.name, "kind": row["kind"]})
    return User.model_validate(row)


@ops.read("/users", permission="users:admin")
def list_users(ctx: OperationContext, req: ListUsers) -> UserList:
    rows = ctx.conn.execute(select(users).order_by(users.c.name)).mappings()
    return UserList(users=[User.model_validate(dict(r)) for r in rows])


@ops.write(
    "POST", "/users/{name}/disable", permission="users:admin", audit="user.disabled",
    idempotent=True,
)  # fmt: skip
def disable_user(ctx: OperationContext, req: DisableUser) -> User:
    """Disable a user: none of their tokens works any more (they stay listed)."""
    row = dict(_user_row(ctx, req.name))
    if row["disabled_at"] is None:
        if req.name == ctx.actor.name:
            raise InvalidInput("you cannot disable yourself: ask another admin")
        row["disabled_at"] = ctx.now_ms()
        ctx.conn.execute(
            update(users).where(users.c.name == req.name).values(disabled_at=row["disabled_at"])
        )
        ctx.work.record("user", req.name, before={"disabled_at": None}, after=row)
        ctx.work.emit("user.disabled", f"users/{req.name}", {"name": req.name})
    return User.model_validate(row)


def _make_token(ctx: OperationContext, user: str, req: CreateToken) -> CreatedToken:
    if _user_row(ctx, user)["disabled_at"] is not None:
        raise InvalidInput(f"user '{user}' is disabled: enable it before making tokens")
    made = new_token()
    now = ctx.now_ms()
    row = {
        "id": made.id,
        "user": user,
        "name": req.name,
        "secret_sha256": made.secret_sha256,
        "created_at": now,
        "created_by": ctx.actor.name,
        "expires_at": now + req.expires_in_days * _DAY_MS if req.expires_in_days else None,
        "revoked_at": None,
        "last_used_at": None,
    }
    ctx.conn.execute(insert(api_tokens).values(row))
    shown = {k: v for k, v in row.items() if k != "secret_sha256"}
    ctx.work.record("token", made.id, after=shown)
    ctx.work.emit("token.created", f"users/{user}/tokens/{made.id}", {"id": made.id, "user": user})
    return CreatedToken.model_validate({**shown, "token": made.token})


@ops.write("POST", "/tokens", permission="tokens:write", audit="token.created")
def create_token(ctx: OperationContext, req: CreateToken) -> CreatedToken:
    """A token for yourself; the secret is in the answer only."""
    return _make_token(ctx, ctx.actor.name, req)


@ops.write("POST", "/users/{user}/tokens", permission="users:admin", audit="token.created")
def issue_token(ctx: OperationContext, req: IssueToken) -> CreatedToken:
    """A token for another user or a service account."""
    return _make_token(ctx, req.user, req)


@ops.read("/tokens", permission="tokens:read")
def list_tokens(ctx: OperationContext, req: ListTokens) -> TokenList:
    """Your tokens, newest first (never their secrets)."""
    rows = ctx.conn.execute(
        select(api_tokens)
        .where(api_tokens.c.user == ctx.actor.name)
        .order_by(api_tokens.c.created_at.desc())
    ).mappings()
    return TokenList(tokens=[Token.model_validate(dict(r)) for r in rows])


@ops.write(
    "DELETE", "/tokens/{id}", permission="tokens:write", audit="token.revoked", idempotent=True
)
def revoke_token(ctx: OperationContext, req: RevokeToken) -> Token:
    """Revoke one of your tokens: it stops working at once."""
    row = (
        ctx.conn.execute(
            select(api_tokens).where(api_tokens.c.id == req.id, api_tokens.c.user == ctx.actor.name)
        )
        .mappings()
        .first()
    )
    if row is None:  # someone else's token is as unknown as one that never was
        raise NotFound(f"you have no token {req.id}", details={"kind": "token", "id": req.id})
    token = dict(row)
    if token["revoked_at"] is None:
        token["revoked_at"] = ctx.now_ms()
        ctx.conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == req.id)
            .values(revoked_at=token["revoked_at"])
        )
        ctx.work.record(
            "token", req.id, before={"revoked_at": None}, after={"revoked_at": token["revoked_at"]}
        )
        ctx.work.emit("token.revoked", f"users/{token['user']}/tokens/{req.id}", {"id": req.id})
    return Token.model_validate(token)


@ops.read("/whoami", permission="self:read")
def whoami(ctx: OperationContext, req: WhoAmI) -> Identity:
    """Who this backend takes the caller to be."""
    row = ctx.conn.execute(select(users).where(users.c.name == ctx.actor.name)).mappings().first()
    return Identity(
        name=ctx.actor.name,
        authenticated=ctx.actor.authenticated,
        admin=ctx.actor.admin,
        kind=row["kind"] if row is not None else None,
    )


OPERATIONS = ops.operations
