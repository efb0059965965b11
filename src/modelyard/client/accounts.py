"""``AccountsClient``: users, service accounts and API tokens. Reach it as
``Client().accounts``."""

from __future__ import annotations

import builtins

from modelyard.core.backend import Backend
from modelyard.governance import accounts as ops
from modelyard.governance import members
from modelyard.governance.account_models import (
    DEFAULT_TOKEN_DAYS,
    CreatedToken,
    CreateToken,
    CreateUser,
    DisableUser,
    Identity,
    IssueToken,
    ListMembers,
    ListTokens,
    ListUsers,
    Member,
    RemoveMember,
    RevokeToken,
    SetMember,
    Token,
    User,
    UserKind,
    WhoAmI,
)
from modelyard.tracking import operations as tracking
from modelyard.tracking.models import EnsureWorkspace, ListWorkspaces, Workspace


class AccountsClient:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def create_workspace(self, name: str, *, reason: str | None = None) -> Workspace:
        """Make a workspace (server admins): its own namespace of experiments, runs,
        models, environments, pipelines, schedules and endpoints. Made already: returned."""
        request = EnsureWorkspace(name=name)
        return self.backend.call(tracking.ensure_workspace, request, reason=reason)

    def workspaces(self) -> builtins.list[Workspace]:
        """The workspaces you may see: all for a server admin, your own for the others."""
        return self.backend.call(tracking.list_workspaces, ListWorkspaces()).workspaces

    def whoami(self) -> Identity:
        return self.backend.call(ops.whoami, WhoAmI())

    def create_user(
        self,
        name: str,
        *,
        kind: UserKind | str = UserKind.USER,
        admin: bool = False,
        reason: str | None = None,
    ) -> User:
        request = CreateUser(name=name, kind=UserKind(kind), admin=admin)
        return self.backend.call(ops.create_user, request, reason=reason)

    def users(self) -> builtins.list[User]:
        return self.backend.call(ops.list_users, ListUsers()).users

    def disable_user(self, name: str, *, reason: str | None = None) -> User:
        return self.backend.call(ops.disable_user, DisableUser(name=name), reason=reason)

    def create_token(
        self,
        *,
        name: str = "default",
        expires_in_days: int | None = DEFAULT_TOKEN_DAYS,
        user: str | None = None,
        reason: str | None = None,
    ) -> CreatedToken:
        """A token for yourself, or (server admins) for ``user``; its secret is in
        ``.token``, this once."""
        if user is None:
            request = CreateToken(name=name, expires_in_days=expires_in_days)
            return self.backend.call(ops.create_token, request, reason=reason)
        issued = IssueToken(user=user, name=name, expires_in_days=expires_in_days)
        return self.backend.call(ops.issue_token, issued, reason=reason)

    def tokens(self) -> builtins.list[Token]:
        return self.backend.call(ops.list_tokens, ListTokens()).tokens

    def revoke_token(self, token_id: str, *, reason: str | None = None) -> Token:
        return self.backend.call(ops.revoke_token, RevokeToken(id=token_id), reason=reason)

    def set_member(
        self, user: str, role: str, *, workspace: str = "default", reason: str | None = None
    ) -> Member:
        """Give ``user`` ``role`` (viewer, contributor, approver, admin) in ``workspace``."""
        request = SetMember(workspace=workspace, user=user, role=role)
        return self.backend.call(members.set_member, request, reason=reason)

    def remove_member(
        self, user: str, *, workspace: str = "default", reason: str | None = None
    ) -> None:
        request = RemoveMember(workspace=workspace, user=user)
        self.backend.call(members.remove_member, request, reason=reason)

    def members(self, workspace: str = "default") -> builtins.list[Member]:
        return self.backend.call(members.list_members, ListMembers(workspace=workspace)).members
