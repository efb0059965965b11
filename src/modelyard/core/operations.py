"""One definition per operation (DESIGN invariant 2).

An area declares each operation once, as a handler function decorated with its HTTP shape,
its permission and its audit action; the request and response models are read from the
handler's annotations. Everything else is derived from that one declaration:

* the local backend runs the handler inside a read transaction or a unit of work;
* the REST server mounts one route per operation;
* the remote client turns a call into the matching HTTP request;
* the Python client and the CLI call operations through a backend.

Example::

    ops = OperationSet("tracking")

    @ops.write("POST", "/experiments", permission="experiments:write",
               audit="experiment.created")
    def create_experiment(ctx: OperationContext, req: CreateExperiment) -> Experiment: ...

What is declared is what runs: the unit of work records the declared ``audit`` action (a
handler says which target changed and how, never under which name), the backend checks the
declared ``permission`` before the handler runs, and a handler that runs another operation
inside its transaction does it with ``ctx.call(op, request)`` so that operation's own
declaration applies to its part.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from sqlalchemy import Connection

from modelyard.core.checkpoints import CheckpointSigner
from modelyard.core.fields import INT64_MAX, INT64_MIN, names_sentence
from modelyard.core.guards import Guard
from modelyard.core.roles import DEFAULT_WORKSPACE
from modelyard.core.secret_box import SecretBox
from modelyard.core.unit_of_work import ActionPolicy, Actor, Clock, UnitOfWork, system_clock_ms
from modelyard.errors import InvalidInput
from modelyard.storage.artifacts import BlobStore

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp")

_PATH_PARAM = re.compile(r"{(\w+)}")


def _message(error: Any) -> str:
    # A broken name reads as its rule and an example, not as a regular expression.
    sentence = names_sentence(error)
    if sentence is not None:
        return sentence
    # Our validators raise ValueError with a sentence for the user; pydantic prefixes it.
    return str(error["msg"]).removeprefix("Value error, ")


# How deep a request's JSON may nest: deeper is never a real record, and the stores'
# JSON functions (and Python's own recursion) have limits of their own.
MAX_DEPTH = 64


def _unstorable(value: Any, path: str, depth: int, free: bool) -> str | None:
    """Why ``value`` cannot be stored as given, or None: a NUL character in text (which
    PostgreSQL refuses), an integer beyond 64 bits, a non-finite number inside free-form
    JSON (which JSON columns cannot hold), or nesting beyond ``MAX_DEPTH``. ``free`` says the
    value sits in a dict or list rather than in a typed field."""
    if depth > MAX_DEPTH:
        return f"{path or 'body'}: nested more than {MAX_DEPTH} levels deep"
    kind = type(value)
    if kind is str:
        return f"{path}: contains a NUL character (\\u0000)" if "\x00" in value else None
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            return f"{path}: {value} does not fit in 64 bits (the largest is {INT64_MAX})"
        return None
    if kind is float:
        if free and not math.isfinite(value):
            return f"{path}: {value} is not a finite number; JSON fields take finite numbers"
        return None
    if isinstance(value, BaseModel):
        if getattr(value, "__storable__", False):
            return None  # its own validators bound every field (metrics: the hot path)
        for name, item in value.__dict__.items():
            found = _unstorable(item, f"{path}.{name}" if path else name, depth + 1, False)
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = _unstorable(key, f"{where} (a key)", depth + 1, True) or _unstorable(
                item, where, depth + 1, True
            )
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _unstorable(item, f"{path}.{index}", depth + 1, True)
            if found:
                return found
    return None


def _where(loc: tuple[Any, ...]) -> str:
    """A field's place as a user writes it: ``tags.team``, or ``outputs (key '../x')``
    for a mapping's key, which pydantic reports as ``(..., '../x', '[key]')``."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[-1] == "[key]":
        head = ".".join(parts[:-2]) or "body"
        return f"{head} (key {parts[-2]!r})"
    return ".".join(parts) or "body"


def invalid_input(exc: ValidationError, what: str) -> InvalidInput:
    """A pydantic validation error as the domain error users see, naming each bad field."""
    problems = [f"{_where(err['loc'])}: {_message(err)}" for err in exc.errors()]
    return InvalidInput(
        f"invalid {what}: " + "; ".join(problems),
        details={"errors": [{"loc": list(e["loc"]), "msg": _message(e)} for e in exc.errors()]},
    )


def _words(class_name: str) -> str:
    """``StartRollout`` -> ``start rollout``: a request's name as a user reads it."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", class_name).lower()


class Model(BaseModel):
    """Base of every request and response model.

    NaN and infinities travel as the JSON strings "NaN", "Infinity" and "-Infinity" so
    metric values round-trip through strict JSON parsers.
    """

    model_config = ConfigDict(ser_json_inf_nan="strings", populate_by_name=True)


class Request(Model):
    """Base of request models: unknown fields are refused, so a typo is an error.

    Building a request from bad values raises ``InvalidInput`` naming each bad field, the
    same error a server answers with. (Only top-level requests do this: pydantic would call
    a custom ``__init__`` for every nested model too, losing the field path.)
    """

    model_config = ConfigDict(extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_input(exc, f"{_words(type(self).__name__)} request") from None

    @model_validator(mode="after")
    def _storable(self) -> Request:
        """Refuse what no store can keep, wherever it sits in the request (not a
        ``ValueError``: pydantic would wrap it; this is the message the user reads)."""
        problem = _unstorable(self, "", 0, False)
        if problem is not None:
            raise InvalidInput(
                f"invalid {_words(type(self).__name__)} request: {problem}",
                details={"problem": problem},
            )
        return self


class Done(Model):
    """Response of an operation that returns nothing but success."""

    ok: bool = True


@dataclass
class OperationContext:
    """What a handler may touch: the transaction, the blobs, the actor and the clock."""

    conn: Connection
    blobs: BlobStore
    actor: Actor
    clock: Clock = system_clock_ms
    uow: UnitOfWork | None = None
    # Signs audit checkpoints with a key kept outside the database (None: this backend
    # has no home folder to keep one in).
    signer: CheckpointSigner | None = None
    # The workspace the operation runs in: ``conn`` is its database.
    workspace: str = DEFAULT_WORKSPACE
    # Read transactions on every other workspace's database, one after the other (for
    # what must see the whole store: gc, whose blobs all workspaces share).
    other_workspaces: Callable[[], Iterator[Connection]] | None = None
    # Encrypts and decrypts stored secrets (None: this backend keeps no keys).
    secret_box: SecretBox | None = None

    def now_ms(self) -> int:
        return self.clock()

    @property
    def work(self) -> UnitOfWork:
        """The unit of work; only mutating operations have one."""
        if self.uow is None:
            raise RuntimeError("a read operation tried to change state")
        return self.uow

    def call(self, op: Operation[Req, Resp], request: Req) -> Resp:
        """Run another operation inside this one's transaction, under its own declaration.

        Its records carry its declared action. Its permission is not checked again: the
        caller's operation was allowed, and it is the caller's declaration that says what
        it may do on the user's behalf.
        """
        if op.policy is None:
            return op.handler(self, request)
        with self.acting_as(op):
            return op.handler(self, request)

    @contextmanager
    def acting_as(self, op: Operation[Any, Any]) -> Iterator[None]:
        """Record what the block changes under ``op``'s declared action (a part of this
        operation that is another operation's work, such as creating a missing parent)."""
        if op.policy is None:
            raise RuntimeError(f"{op.name} is a read: it records nothing")
        with self.work.acting(op.policy):
            yield


@dataclass(frozen=True)
class Operation(Generic[Req, Resp]):
    """The single declaration of one operation."""

    name: str
    method: HttpMethod
    path: str
    request: type[Req]
    response: type[Resp]
    permission: str
    audit: str | None
    idempotent: bool
    summary: str
    handler: Callable[[OperationContext, Req], Resp] = field(repr=False)
    without_event: str | None = None
    # Set on a change a protection rule can cover (an alias, an endpoint's traffic).
    guard: Guard | None = None
    # Runs on the server-wide tables (users, tokens, members, the workspaces themselves,
    # the blob store) rather than in one workspace's.
    server_wide: bool = False

    @property
    def writes(self) -> bool:
        return self.audit is not None

    @property
    def policy(self) -> ActionPolicy | None:
        """What a unit of work for this operation records; None for a read."""
        if self.audit is None:
            return None
        return ActionPolicy(self.audit, self.without_event)

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAM.findall(self.path))

    def parse(self, data: dict[str, Any]) -> Req:
        """Validate raw input (path + query or body) into the request model."""
        try:
            return self.request.model_validate(data)
        except ValidationError as exc:
            raise invalid_input(exc, f"request for {self.name}") from None


def workspace_of(op: Operation[Any, Any], request: Any, default: str) -> str:
    """The workspace a call acts in: the one its request names (a member's workspace, an
    experiment's), else the caller's."""
    named = getattr(request, "workspace", None)
    return named if isinstance(named, str) and named else default


class OperationSet:
    """The operations of one area, in declaration order."""

    def __init__(self, area: str, *, server_wide: bool = False) -> None:
        self.area = area
        self.server_wide = server_wide
        self.operations: list[Operation[Any, Any]] = []

    def read(
        self,
        path: str,
        *,
        permission: str,
        method: HttpMethod = "GET",
        server_wide: bool = False,
    ) -> Callable[[Callable[[OperationContext, Req], Resp]], Operation[Req, Resp]]:
        """Declare a read: runs in a read transaction and may be retried freely."""
        return self._declare(
            method, path, permission, audit=None, idempotent=True, server_wide=server_wide
        )

    def write(
        self,
        method: HttpMethod,
        path: str,
        *,
        permission: str,
        audit: str,
        idempotent: bool = False,
        without_event: str | None = None,
        guard: Guard | None = None,
        server_wide: bool = False,
    ) -> Callable[[Callable[[OperationContext, Req], Resp]], Operation[Req, Resp]]:
        """Declare a change: runs in a unit of work that records ``audit`` for it.

        A change emits a lifecycle event unless ``without_event`` says why it has none.
        ``guard`` makes it a change protection rules can cover (``core/protection.py``).
        """
        return self._declare(
            method,
            path,
            permission,
            audit=audit,
            idempotent=idempotent,
            without_event=without_event,
            guard=guard,
            server_wide=server_wide,
        )

    def _declare(
        self,
        method: HttpMethod,
        path: str,
        permission: str,
        *,
        audit: str | None,
        idempotent: bool,
        without_event: str | None = None,
        guard: Guard | None = None,
        server_wide: bool = False,
    ) -> Callable[[Callable[[OperationContext, Req], Resp]], Operation[Req, Resp]]:
        def decorate(fn: Callable[[OperationContext, Req], Resp]) -> Operation[Req, Resp]:
            hints = typing.get_type_hints(fn)
            request_type = hints["req"]
            response_type = hints["return"]
            missing = set(_PATH_PARAM.findall(path)) - set(request_type.model_fields)
            if missing:
                raise TypeError(f"{fn.__name__}: path parameters {missing} not in request")
            op: Operation[Req, Resp] = Operation(
                name=f"{self.area}.{fn.__name__}",
                method=method,
                path=path,
                request=request_type,
                response=response_type,
                permission=permission,
                audit=audit,
                # A DELETE retried after a lost answer would report NotFound for its own success:
                # only GET and PUT are idempotent unless the operation says so.
                idempotent=idempotent or method in ("GET", "PUT"),
                summary=(fn.__doc__ or fn.__name__).strip().splitlines()[0],
                handler=fn,
                without_event=without_event,
                guard=guard,
                server_wide=server_wide or self.server_wide,
            )
            self.operations.append(op)
            return op

        return decorate
