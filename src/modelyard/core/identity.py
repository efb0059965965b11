"""Who a request is from, when the server has auth on: API tokens and the users they name.

A token reads ``myd_<id>_<secret>``: ``id`` (12 hex characters) finds its row, ``secret``
(32 random bytes, URL-safe base64) proves it. The store keeps only the SHA-256 of the
secret; with 256 random bits a fast hash is enough (no one can guess or brute-force it),
and comparing digests in constant time leaks nothing about how much of a guess matched.
The token is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from modelyard.core.roles import Role
from modelyard.core.unit_of_work import Actor
from modelyard.errors import Unauthenticated
from modelyard.storage.db.tables import api_tokens, users, workspace_members

PREFIX = "myd_"
_TOKEN = re.compile(r"^myd_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# A token's last use is written at most this often: a request must not be a write.
LAST_USED_RESOLUTION_MS = 60_000


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token as made: ``token`` is the whole secret, shown to its owner once."""

    id: str
    token: str
    secret_sha256: str


def new_token() -> NewToken:
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewToken(token_id, f"{PREFIX}{token_id}_{secret}", _digest(secret))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Proven:
    """Who a token proved, and whether its last use should be written now."""

    actor: Actor
    token_id: str
    record_use: bool


def authenticate(conn: Connection, token: str, now_ms: int) -> Proven:
    """The user ``token`` belongs to, or ``Unauthenticated`` saying why not.

    The reasons are told apart (malformed, unknown, revoked, expired, user disabled) so a
    client can say what to do; none of them reveals anything a token's holder does not
    already know.
    """
    match = _TOKEN.match(token)
    if match is None:
        raise Unauthenticated(
            "the bearer token is not a Modelyard token (myd_...): create one with "
            "`modelyard tokens create` and log in with `modelyard auth login`"
        )
    token_id, secret = match.groups()
    row = (
        conn.execute(
            select(api_tokens, users.c.admin, users.c.disabled_at.label("user_disabled_at"))
            .join(users, users.c.name == api_tokens.c.user)
            .where(api_tokens.c.id == token_id)
        )
        .mappings()
        .first()
    )
    if row is None or not hmac.compare_digest(row["secret_sha256"], _digest(secret)):
        raise Unauthenticated("the token is not known to this server: log in again")
    if row["revoked_at"] is not None:
        raise Unauthenticated(f"token {token_id} was revoked: create a new one")
    if row["expires_at"] is not None and row["expires_at"] <= now_ms:
        raise Unauthenticated(f"token {token_id} has expired: create a new one")
    if row["user_disabled_at"] is not None:
        raise Unauthenticated(f"user '{row['user']}' is disabled")
    last = row["last_used_at"]
    roles = conn.execute(
        select(workspace_members.c.workspace, workspace_members.c.role).where(
            workspace_members.c.user == row["user"]
        )
    ).all()
    held = tuple((str(ws), int(Role.parse(role))) for ws, role in roles)
    return Proven(
        Actor(row["user"], authenticated=True, admin=bool(row["admin"]), roles=held),
        token_id,
        record_use=last is None or now_ms - last >= LAST_USED_RESOLUTION_MS,
    )


def record_use(conn: Connection, token_id: str, now_ms: int) -> None:
    """Note when a token was last used (not audited: it changes nothing a user did)."""
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now_ms))
