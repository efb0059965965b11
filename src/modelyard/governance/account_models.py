"""Users, service accounts and their API tokens, as users and the REST API see them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from modelyard.core.fields import Flag, ShortText, WorkspaceName, name_field, whole
from modelyard.core.operations import Model, Request

UserName = Annotated[
    str,
    name_field(
        r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,249}$",
        max_length=250,
        rule="letters, digits, '.', '_', '@' and '-', starting with a letter or digit",
        example="alice",
    ),
]
TokenId = Annotated[str, Field(pattern=r"^[0-9a-f]{12}$", min_length=12, max_length=12)]
# Tokens expire unless told otherwise; ten years is the most a token may live.
DEFAULT_TOKEN_DAYS = 90
TokenDays = Annotated[int, whole(ge=1, le=3650)]


class UserKind(StrEnum):
    USER = "user"
    SERVICE = "service"  # a CI job or a scheduler: tokens, never a person


class User(Model):
    name: str
    kind: UserKind
    admin: bool
    created_at: int
    created_by: str
    disabled_at: int | None = None


class UserList(Model):
    users: list[User]


class CreateUser(Request):
    name: UserName
    kind: UserKind = UserKind.USER
    admin: Flag = False


class DisableUser(Request):
    name: UserName


class ListUsers(Request):
    pass


class Token(Model):
    """A token as listed: never its secret."""

    id: str
    user: str
    name: str
    created_at: int
    created_by: str
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None


class CreatedToken(Token):
    """A token as made: ``token`` is the secret, shown this once and never stored."""

    token: str


class TokenList(Model):
    tokens: list[Token]


class CreateToken(Request):
    """A token for the caller; ``expires_in_days`` None means it never expires."""

    name: ShortText = "default"
    expires_in_days: TokenDays | None = DEFAULT_TOKEN_DAYS


class IssueToken(CreateToken):
    """A token for another user or a service account (server admins only)."""

    user: UserName


class ListTokens(Request):
    pass


class RevokeToken(Request):
    id: TokenId


class WhoAmI(Request):
    pass


class Identity(Model):
    """Who the caller is to this backend."""

    name: str
    authenticated: bool
    admin: bool
    kind: UserKind | None = None  # None: not a user of this store (the embedded OS user)


RoleName = Annotated[
    str,
    Field(
        pattern=r"^(viewer|contributor|approver|admin)$",
        max_length=16,
        description="viewer, contributor, approver or admin",
        examples=["contributor"],
    ),
]


class Member(Model):
    workspace: str
    user: str
    role: str
    added_at: int
    added_by: str


class MemberList(Model):
    members: list[Member]


class SetMember(Request):
    """Make ``user`` a member of ``workspace`` with ``role`` (or change their role)."""

    workspace: WorkspaceName
    user: UserName
    role: RoleName


class RemoveMember(Request):
    workspace: WorkspaceName
    user: UserName


class ListMembers(Request):
    workspace: WorkspaceName
