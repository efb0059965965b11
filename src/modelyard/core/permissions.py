"""The one permission check: every operation's declared permission is checked here, once.

The backend asks ``PermissionCheck.check`` before it runs any operation's handler, for the
REST server and embedded callers alike, so no route or handler checks permissions by
hand (DESIGN.md, "Shape"). The rule that decides is pluggable: identity (users, tokens,
roles per workspace) supplies it; until then ``AllowAll`` is the embedded default, where
the OS user owns the store, and ``Authenticated`` is the rule of a server with auth on.
"""

from __future__ import annotations

from typing import Protocol

from modelyard.core.roles import DEFAULT_WORKSPACE, Needs, Role, required
from modelyard.core.unit_of_work import Actor
from modelyard.errors import NotFound, PermissionDenied, Unauthenticated


class PermissionCheck(Protocol):
    """Decides whether ``actor`` may use ``permission`` (``"models:write"``) in
    ``workspace``.

    Raises ``PermissionDenied`` (or ``NotFound``, where saying "denied" would reveal that
    something exists) to refuse; returns to allow.
    """

    def check(
        self, actor: Actor, permission: str, operation: str, workspace: str = DEFAULT_WORKSPACE
    ) -> None: ...


class AllowAll:
    """Every actor may do everything: the single-user embedded store."""

    def check(
        self, actor: Actor, permission: str, operation: str, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        return None


class Authenticated:
    """A server with auth on: every operation needs an actor a token proved, with the role
    its permission needs in the workspace (``core/roles.py``); server admins may do
    everything. A caller who is no member of the workspace is told it does not exist
    (404), so workspace names do not leak."""

    def check(
        self, actor: Actor, permission: str, operation: str, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        if not actor.authenticated:
            raise Unauthenticated(
                f"{operation} needs a token: send Authorization: Bearer <token> "
                "(`modelyard auth login`, or MODELYARD_TOKEN)",
                details={"permission": permission},
            )
        needs, role = required(permission)
        if needs == Needs.TOKEN or actor.admin:
            return
        if needs == Needs.SERVER_ADMIN:
            raise PermissionDenied(
                f"{operation} needs the permission {permission}, which only server admins "
                f"have; '{actor.name}' is not one",
                details={"permission": permission},
            )
        held = actor.role_in(workspace)
        if held is None:
            raise NotFound(
                f"workspace '{workspace}' does not exist or you are not a member of it: ask "
                "one of its admins to add you (`modelyard members add`)",
                details={"kind": "workspace", "id": workspace},
            )
        assert role is not None
        if Role(held) < role:
            raise PermissionDenied(
                f"{operation} needs the permission {permission} (the {role.label} role or "
                f"above in workspace '{workspace}'); '{actor.name}' is {Role(held).with_article}",
                details={"permission": permission, "role": Role(held).label},
            )
