"""Protection rules and approval requests as users and the REST API see them."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema, model_validator

from modelyard.core.fields import Flag, whole
from modelyard.core.guards import ProtectedKind, protected_uri
from modelyard.core.operations import Model, Request
from modelyard.core.protection import ApprovalRequest
from modelyard.registry.models import AliasName, ModelName
from modelyard.serving.models import EndpointName

RuleId = Annotated[int, whole(ge=1, le=2**63 - 1)]
# ``*``: every model, alias or endpoint (a one-character string, as the document says).
Every = Annotated[Literal["*"], WithJsonSchema({"type": "string", "const": "*", "maxLength": 1})]
MAX_APPROVALS_PAGE = 500


class ProtectionRule(Model):
    id: int
    kind: ProtectedKind
    # ``churn@champion``, ``*@production``; an endpoint's name or ``*``.
    scope: str
    require_approval: bool
    created_at: int
    created_by: str

    @property
    def target_uri(self) -> str:
        return protected_uri(self.kind, self.scope)


class ProtectionRuleList(Model):
    rules: list[ProtectionRule]


class CreateProtectionRule(Request):
    """Protect a model's alias (``model`` and ``alias``, either may be ``*``) or an
    endpoint's traffic (``endpoint``, or ``*`` for every endpoint)."""

    kind: ProtectedKind
    model: ModelName | Every | None = None
    alias: AliasName | Every | None = None
    endpoint: EndpointName | Every | None = None
    require_approval: Flag = False

    @model_validator(mode="after")
    def _fields_of_kind(self) -> CreateProtectionRule:
        if self.kind == ProtectedKind.ALIAS:
            if self.model is None or self.alias is None or self.endpoint is not None:
                raise ValueError(
                    "an alias rule names a model and an alias (either may be '*'), and no "
                    "endpoint: e.g. model 'churn', alias 'champion'"
                )
        elif self.endpoint is None or self.model is not None or self.alias is not None:
            raise ValueError(
                "a traffic rule names an endpoint (or '*' for every endpoint), and no model "
                "or alias: e.g. endpoint 'churn'"
            )
        return self

    @property
    def scope(self) -> str:
        if self.kind == ProtectedKind.ALIAS:
            return f"{self.model}@{self.alias}"
        assert self.endpoint is not None
        return self.endpoint


class ListProtectionRules(Request):
    kind: ProtectedKind | None = None


class DeleteProtectionRule(Request):
    id: RuleId


class ApprovalList(Model):
    approvals: list[ApprovalRequest]


class StateFilter(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ALL = "all"


class ListApprovals(Request):
    """Newest first; ``state`` ``pending`` by default (``all`` for every one)."""

    state: StateFilter = StateFilter.PENDING
    target: Annotated[str, Field(max_length=600)] | None = Field(
        default=None,
        description="models:/NAME (its aliases), models:/NAME@ALIAS, endpoints:/NAME",
        examples=["models:/churn"],
    )
    requested_by: Annotated[str, Field(min_length=1, max_length=250)] | None = None
    limit: Annotated[int, whole(ge=1, le=MAX_APPROVALS_PAGE)] = 100


class GetApproval(Request):
    id: RuleId


class DecideApproval(Request):
    """Approve or reject a pending request; the decision's reason travels as the
    operation's reason (``--reason``)."""

    id: RuleId
