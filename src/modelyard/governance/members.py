"""Workspace membership: who has which role where (``core/roles.py``).

Adding, changing and removing members is a workspace admin's (``members:admin``); every
member may see who else is one (``members:read``). A server admin may do both anywhere.
Changes take effect with the member's next request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from modelyard.core.operations import Done, OperationContext, OperationSet
from modelyard.errors import NotFound
from modelyard.governance.account_models import (
    ListMembers,
    Member,
    MemberList,
    RemoveMember,
    SetMember,
)
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import users, workspace_members, workspaces

ops = OperationSet("members", server_wide=True)


def require_workspace(ctx: OperationContext, name: str) -> None:
    """The workspace must exist; ``default``, which every store has once it is used, is
    made here when it is not yet."""
    if name == "default":
        insert_if_absent(ctx.conn, workspaces, {"name": name, "created_at": ctx.now_ms()})
        return
    if ctx.conn.execute(select(workspaces.c.name).where(workspaces.c.name == name)).first():
        return
    raise NotFound(f"workspace '{name}' does not exist", details={"kind": "workspace", "id": name})


def _member(ctx: OperationContext, workspace: str, user: str) -> dict[str, Any] | None:
    row = (
        ctx.conn.execute(
            select(workspace_members).where(
                workspace_members.c.workspace == workspace, workspace_members.c.user == user
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


@ops.write(
    "PUT",
    "/workspaces/{workspace}/members/{user}",
    permission="members:admin",
    audit="member.set",
    idempotent=True,
)
def set_member(ctx: OperationContext, req: SetMember) -> Member:
    """Give ``user`` the role ``role`` in the workspace (a new member, or a changed role)."""
    require_workspace(ctx, req.workspace)
    if ctx.conn.execute(select(users.c.name).where(users.c.name == req.user)).first() is None:
        raise NotFound(
            f"user '{req.user}' does not exist: a server admin creates it first "
            f"(`modelyard users create {req.user}`)",
            details={"kind": "user", "id": req.user},
        )
    before = _member(ctx, req.workspace, req.user)
    if before is not None and before["role"] == req.role:
        return Member.model_validate(before)
    row = {
        "workspace": req.workspace,
        "user": req.user,
        "role": req.role,
        "added_at": before["added_at"] if before else ctx.now_ms(),
        "added_by": before["added_by"] if before else ctx.actor.name,
    }
    # A concurrent writer may have made them a member meanwhile: then this sets the role.
    if before is not None or not insert_if_absent(ctx.conn, workspace_members, row):
        ctx.conn.execute(
            update(workspace_members)
            .where(
                workspace_members.c.workspace == req.workspace,
                workspace_members.c.user == req.user,
            )
            .values(role=req.role)
        )
    target = f"{req.workspace}/{req.user}"
    ctx.work.record("member", target, before=before, after=row)
    ctx.work.emit(
        "member.set", f"workspaces/{target}", {"workspace": req.workspace, "user": req.user,
                                               "role": req.role}
    )  # fmt: skip
    return Member.model_validate(row)


@ops.write(
    "DELETE",
    "/workspaces/{workspace}/members/{user}",
    permission="members:admin",
    audit="member.removed",
    idempotent=True,
)
def remove_member(ctx: OperationContext, req: RemoveMember) -> Done:
    """Take ``user`` out of the workspace: they see nothing of it any more."""
    before = _member(ctx, req.workspace, req.user)
    if before is None:
        return Done()
    ctx.conn.execute(
        delete(workspace_members).where(
            workspace_members.c.workspace == req.workspace, workspace_members.c.user == req.user
        )
    )
    target = f"{req.workspace}/{req.user}"
    ctx.work.record("member", target, before=before)
    ctx.work.emit(
        "member.removed", f"workspaces/{target}", {"workspace": req.workspace, "user": req.user}
    )
    return Done()


@ops.read("/workspaces/{workspace}/members", permission="members:read")
def list_members(ctx: OperationContext, req: ListMembers) -> MemberList:
    rows = ctx.conn.execute(
        select(workspace_members)
        .where(workspace_members.c.workspace == req.workspace)
        .order_by(workspace_members.c.user)
    ).mappings()
    return MemberList(members=[Member.model_validate(dict(r)) for r in rows])


OPERATIONS = ops.operations
