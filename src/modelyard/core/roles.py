"""Roles per workspace, and which role each declared permission needs.

A permission is ``AREA:VERB`` as operations declare it; the verb decides the role, so a
new operation needs no entry here unless it brings a new verb (and then ``required`` fails
loudly until it is placed, as the permission matrix test does):

| verb | who |
|---|---|
| ``read`` | viewer and above (``audit:read``: approver and above) |
| ``write``, ``run``, ``operate`` | contributor and above |
| ``approve`` | approver and above |
| ``delete``, ``admin`` (of a workspace: members) | workspace admin |
| ``users:admin``, ``store:admin``, ``workspaces:write`` | server admins only |
| ``self:read``, ``tokens:*``, ``workspaces:read`` | anyone with a token: self, tokens, workspaces |
"""

from __future__ import annotations

from enum import IntEnum

DEFAULT_WORKSPACE = "default"


class Role(IntEnum):
    """Ordered: each role may do what the ones below it may."""

    VIEWER = 1
    CONTRIBUTOR = 2
    APPROVER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def with_article(self) -> str:
        """``a viewer``, ``an approver``."""
        return ("an " if self.label[0] in "aeiou" else "a ") + self.label

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValueError(f"'{text}' is not a role: use {names}") from None


class Needs(IntEnum):
    """What a permission needs beyond a role in the workspace."""

    TOKEN = 0  # any authenticated caller
    ROLE = 1  # a role in the workspace (see ``required``)
    SERVER_ADMIN = 2


SERVER_ADMIN_PERMISSIONS = frozenset({"users:admin", "store:admin", "workspaces:write"})
# ``workspaces:read`` lists the workspaces the caller is a member of: no role anywhere needed.
SELF_PERMISSIONS = frozenset({"self:read", "tokens:read", "tokens:write", "workspaces:read"})
_BY_VERB = {
    "read": Role.VIEWER,
    "write": Role.CONTRIBUTOR,
    "run": Role.CONTRIBUTOR,
    "operate": Role.CONTRIBUTOR,
    "approve": Role.APPROVER,
    "delete": Role.ADMIN,
    "admin": Role.ADMIN,
}
_EXCEPTIONS = {"audit:read": Role.APPROVER, "audit:write": Role.ADMIN}


def required(permission: str) -> tuple[Needs, Role | None]:
    """What ``permission`` needs: a token only, a server admin, or a role (which)."""
    if permission in SELF_PERMISSIONS:
        return Needs.TOKEN, None
    if permission in SERVER_ADMIN_PERMISSIONS:
        return Needs.SERVER_ADMIN, None
    if permission in _EXCEPTIONS:
        return Needs.ROLE, _EXCEPTIONS[permission]
    verb = permission.rpartition(":")[2]
    if verb not in _BY_VERB:
        raise ValueError(f"permission '{permission}' has no role: place its verb in core/roles.py")
    return Needs.ROLE, _BY_VERB[verb]
