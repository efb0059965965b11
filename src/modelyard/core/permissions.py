"""The one permission check: every operation's declared permission is checked here, once.

The backend asks ``PermissionCheck.check`` before it runs any operation's handler, for the
REST server and embedded callers alike, so no route or handler checks permissions by
hand (DESIGN.md, "Shape"). The rule that decides is pluggable: identity (users, tokens,
roles per workspace) supplies it; until then ``AllowAll`` is the embedded default, where
the OS user owns the store.
"""

from __future__ import annotations

from typing import Protocol

from modelyard.core.unit_of_work import Actor


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
