"""The one permission check: every operation's declared permission is checked here, once.

The backend asks ``PermissionCheck.check`` before it runs any operation's handler, for the
REST server and embedded callers alike, so no route or handler checks permissions by
hand (DESIGN.md, "Shape"). The rule that decides is pluggable: identity (users, tokens,
roles per workspace) supplies it; until then ``AllowAll`` is the embedded default, where
the OS user owns the store, and ``Authenticated`` is the rule of a server with auth on.
"""

from __future__ import annotations

from typing import Protocol

from modelyard.core.unit_of_work import Actor
from modelyard.errors import PermissionDenied, Unauthenticated

# Managing who may use the server, and deleting from its artifact store (gc): the server's
# admins only.
ADMIN_PERMISSIONS = frozenset({"users:admin", "store:admin"})


class PermissionCheck(Protocol):
    """Decides whether ``actor`` may use ``permission`` (``"models:write"``).

    Raises ``PermissionDenied`` (or ``NotFound``, where saying "denied" would reveal that
    something exists) to refuse; returns to allow.
    """

    def check(self, actor: Actor, permission: str, operation: str) -> None: ...


class AllowAll:
    """Every actor may do everything: the single-user embedded store."""

    def check(self, actor: Actor, permission: str, operation: str) -> None:
        return None


class Authenticated:
    """A server with auth on: every operation needs an actor a token proved, and managing
    users needs a server admin. Roles per workspace refine this next (issue 10)."""

    def check(self, actor: Actor, permission: str, operation: str) -> None:
        if not actor.authenticated:
            raise Unauthenticated(
                f"{operation} needs a token: send Authorization: Bearer <token> "
                "(`modelyard auth login`, or MODELYARD_TOKEN)",
                details={"permission": permission},
            )
        if permission in ADMIN_PERMISSIONS and not actor.admin:
            raise PermissionDenied(
                f"{operation} needs the permission {permission}, which only server admins "
                f"have; '{actor.name}' is not one",
                details={"permission": permission},
            )
