"""Every error a Modelyard user can see.

The tree::

    ModelyardError                 (500, a bug if it escapes as this base)
    ├── ApprovalRequested          202  not an error: a protected change awaits an approver
    ├── InvalidInput               400  the request is malformed or breaks a rule
    │   ├── FilterSyntaxError      400  a search filter does not parse; names the position
    │   └── UnprocessableInput     422  well-formed, but the model cannot take it (signature)
    ├── Unauthenticated            401
    ├── PermissionDenied           403
    ├── NotFound                   404  names the kind and id that was not found
    ├── AlreadyExists              409
    ├── Conflict                   409  the change contradicts stored state
    │   └── SecretUnreadable       409  a stored secret does not decrypt with the keys set
    ├── PayloadTooLarge            413
    └── BackendUnavailable         503  the store or server cannot be reached

Each class carries a stable ``code`` (used in the JSON body ``{"error": {"code", "message",
"details"}}``) and an HTTP status. The mapping to HTTP lives in ``modelyard.server`` and to
CLI exit codes in ``modelyard.cli``; both read these two attributes and nothing else.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ModelyardError(Exception):
    """Base of every Modelyard error."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ApprovalRequested(ModelyardError):
    """The change was not made: it is protected, so it became an approval request that an
    approver decides (``modelyard approvals approve ID``). Raised rather than returned
    because the caller's next step must not assume the change happened.

    ``details["approval"]`` is the request as ``GET /approvals/{id}`` shows it.
    """

    code = "approval_requested"
    http_status = 202

    @property
    def approval_id(self) -> int:
        return int(self.details["approval"]["id"])


class InvalidInput(ModelyardError):
    code = "invalid_input"
    http_status = 400


class FilterSyntaxError(InvalidInput):
    """A filter or order-by expression that does not parse.

    ``details`` holds ``position`` (0-based character offset) and ``expression``.
    """

    code = "invalid_filter"

    def __init__(self, message: str, *, expression: str, position: int) -> None:
        pointer = f"{expression}\n{' ' * position}^"
        super().__init__(
            f"{message} at position {position}:\n{pointer}",
            details={"position": position, "expression": expression},
        )
        self.position = position
        self.expression = expression


class UnprocessableInput(InvalidInput):
    """Input that parses but does not fit the model: a missing column, a wrong type or shape.

    The scoring server answers it with 422, as the signature check's ``InvalidInput`` would
    otherwise be indistinguishable from a body that does not parse (400).
    """

    code = "unprocessable_input"
    http_status = 422


class Unauthenticated(ModelyardError):
    code = "unauthenticated"
    http_status = 401


class PermissionDenied(ModelyardError):
    code = "permission_denied"
    http_status = 403


class NotFound(ModelyardError):
    code = "not_found"
    http_status = 404

    @classmethod
    def of(cls, kind: str, ident: object) -> NotFound:
        return cls(f"{kind} '{ident}' does not exist", details={"kind": kind, "id": str(ident)})


class AlreadyExists(ModelyardError):
    code = "already_exists"
    http_status = 409


class Conflict(ModelyardError):
    code = "conflict"
    http_status = 409


class SecretUnreadable(Conflict):
    """A stored secret that the configured keys cannot decrypt (it was written with another
    key, or its ciphertext was altered). ``details`` names its ``workspace`` and ``name``."""

    code = "secret_unreadable"


class PayloadTooLarge(ModelyardError):
    code = "payload_too_large"
    http_status = 413


class BackendUnavailable(ModelyardError):
    code = "backend_unavailable"
    http_status = 503


def _classes_by_code() -> dict[str, type[ModelyardError]]:
    found: dict[str, type[ModelyardError]] = {}
    pending: list[type[ModelyardError]] = [ModelyardError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_from_dict(body: dict[str, Any]) -> ModelyardError:
    """Rebuild the error a server sent, so remote callers catch the same classes as local ones."""
    cls = _classes_by_code().get(str(body.get("code", "internal")), ModelyardError)
    message = str(body.get("message", "unknown error"))
    details = body.get("details") or {}
    # Bypass subclass constructors with extra arguments (FilterSyntaxError): the message
    # and details already carry everything they would have added.
    error = Exception.__new__(cls)
    ModelyardError.__init__(error, message, details=details)
    if cls is FilterSyntaxError:
        error.position = int(details.get("position", 0))  # type: ignore[attr-defined]
        error.expression = str(details.get("expression", ""))  # type: ignore[attr-defined]
    return error
