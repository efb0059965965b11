"""Who a request to the REST server is from.

With auth off (a server on a loopback address, by default), the caller is who the client
says it is (``X-Modelyard-User``), as before. With auth on, it is the user whose token the
request bears (``Authorization: Bearer myd_...``) and ``X-Modelyard-User`` is ignored; a
request without a token is an unauthenticated actor, refused by the one permission check
before any operation runs, and a bad token is refused at once (401, saying why).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from modelyard.core.backend import LocalBackend
from modelyard.core.fields import MAX_NAME_LENGTH
from modelyard.core.http_api import USER_HEADER, WORKSPACE_HEADER
from modelyard.core.roles import DEFAULT_WORKSPACE
from modelyard.core.unit_of_work import Actor
from modelyard.errors import InvalidInput, Unauthenticated

ANONYMOUS = Actor("anonymous")
_MAX_AUTHORIZATION = 200
MAX_WORKSPACE_LENGTH = 64


def header_value(request: Request, name: str, limit: int) -> str | None:
    """A header's value if given, checked: the store keeps it in a bounded column."""
    value = request.headers.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit or not value.isprintable():
        raise InvalidInput(
            f"the {name} header must be at most {limit} printable characters",
            details={"header": name, "length": len(value)},
        )
    return value


@dataclass(frozen=True, slots=True)
class Gate:
    """Identifies callers for the routes of one app, and checks permissions not declared
    by an operation (the blob routes)."""

    backend: LocalBackend
    auth: bool

    def actor(self, request: Request) -> Actor:
        if not self.auth:
            name = header_value(request, USER_HEADER, MAX_NAME_LENGTH)
            return Actor(name) if name else self.backend.actor
        value = request.headers.get("authorization")
        if not value:
            return ANONYMOUS
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token or len(value) > _MAX_AUTHORIZATION:
            raise Unauthenticated(
                "the Authorization header must be 'Bearer <token>' with a Modelyard token"
            )
        return self.backend.authenticate(token.strip())

    def workspace(self, request: Request) -> str:
        """The workspace a request acts in: a path's ``{workspace}`` (a member's), else the
        ``X-Modelyard-Workspace`` header, else ``default``."""
        named = request.path_params.get("workspace") or header_value(
            request, WORKSPACE_HEADER, MAX_WORKSPACE_LENGTH
        )
        return named or DEFAULT_WORKSPACE

    def allow(self, request: Request, permission: str, operation: str) -> Actor:
        who = self.actor(request)
        self.backend.permissions.check(who, permission, operation, self.workspace(request))
        return who
