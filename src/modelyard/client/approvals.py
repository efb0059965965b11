"""``ApprovalsClient``: protection rules and approval requests. Reach it as
``Client().approvals``.

A change to a protected alias or endpoint traffic made by a contributor raises
``modelyard.errors.ApprovalRequested`` (its ``approval_id`` names the request) when the
rule lets contributors ask; an approver then ``approve``s or ``reject``s it.
"""

from __future__ import annotations

import builtins

from modelyard.approvals import operations as ops
from modelyard.approvals.models import (
    CreateProtectionRule,
    DecideApproval,
    DeleteProtectionRule,
    GetApproval,
    ListApprovals,
    ListProtectionRules,
    ProtectionRule,
    StateFilter,
)
from modelyard.core.backend import Backend
from modelyard.core.guards import ProtectedKind
from modelyard.core.protection import ApprovalRequest


class ApprovalsClient:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def protect_alias(
        self,
        model: str,
        alias: str,
        *,
        require_approval: bool = False,
        reason: str | None = None,
    ) -> ProtectionRule:
        """Protect ``model@alias`` (either may be ``"*"``)."""
        request = CreateProtectionRule(
            kind=ProtectedKind.ALIAS, model=model, alias=alias, require_approval=require_approval
        )
        return self.backend.call(ops.create_protection_rule, request, reason=reason)

    def protect_traffic(
        self, endpoint: str, *, require_approval: bool = False, reason: str | None = None
    ) -> ProtectionRule:
        """Protect an endpoint's traffic split and rollouts (``"*"``: every endpoint)."""
        request = CreateProtectionRule(
            kind=ProtectedKind.TRAFFIC, endpoint=endpoint, require_approval=require_approval
        )
        return self.backend.call(ops.create_protection_rule, request, reason=reason)

    def rules(self, *, kind: ProtectedKind | str | None = None) -> builtins.list[ProtectionRule]:
        request = ListProtectionRules(kind=None if kind is None else ProtectedKind(kind))
        return self.backend.call(ops.list_protection_rules, request).rules

    def remove_rule(self, rule_id: int, *, reason: str | None = None) -> None:
        request = DeleteProtectionRule(id=rule_id)
        self.backend.call(ops.delete_protection_rule, request, reason=reason)

    def list(
        self,
        *,
        state: StateFilter | str = StateFilter.PENDING,
        target: str | None = None,
        requested_by: str | None = None,
        limit: int = 100,
    ) -> builtins.list[ApprovalRequest]:
        """Requests, newest first: the pending ones unless ``state`` says otherwise;
        ``target`` is ``models:/NAME``, ``models:/NAME@ALIAS`` or ``endpoints:/NAME``."""
        request = ListApprovals(state=state, target=target, requested_by=requested_by, limit=limit)
        return self.backend.call(ops.list_approvals, request).approvals

    def get(self, approval_id: int) -> ApprovalRequest:
        return self.backend.call(ops.get_approval, GetApproval(id=approval_id))

    def approve(self, approval_id: int, *, reason: str | None = None) -> ApprovalRequest:
        """Approve someone else's request: its change is made now."""
        return self.backend.call(ops.approve, DecideApproval(id=approval_id), reason=reason)

    def reject(self, approval_id: int, *, reason: str) -> ApprovalRequest:
        return self.backend.call(ops.reject, DecideApproval(id=approval_id), reason=reason)
