"""``modelyard protection`` and ``modelyard approvals``: protected aliases and traffic, and
the requests contributors leave for approvers."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption, ReasonOption
from modelyard.cli.output import (
    command_group,
    fail,
    format_time,
    print_json,
    print_table,
    user_errors,
)

protection_app = command_group(
    "Protect aliases and endpoint traffic: changes need an approver (workspace admins set it)."
)
approvals_app = command_group("Approval requests for protected changes: list, approve, reject.")

TARGET_FORMS = (
    "models:/MODEL@ALIAS (MODEL or ALIAS may be *) or endpoints:/ENDPOINT (or endpoints:/*) "
    "for its traffic"
)


@protection_app.command("add")
def add_rule(
    target: Annotated[
        str, typer.Argument(help=f"What to protect: {TARGET_FORMS}.", show_default=False)
    ],
    require_approval: Annotated[
        bool,
        typer.Option(
            "--require-approval",
            help="A contributor's change becomes an approval request instead of a refusal.",
        ),
    ] = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Protect an alias or an endpoint's traffic: changing it needs the approver role and a
    reason."""
    approvals = open_client().approvals
    with user_errors():
        if target.startswith("models:/"):
            model, at, alias = target.removeprefix("models:/").partition("@")
            if not at or not model or not alias:
                fail(f"'{target}' names no alias: write {TARGET_FORMS}")
            rule = approvals.protect_alias(
                model, alias, require_approval=require_approval, reason=reason
            )
        elif target.startswith("endpoints:/"):
            endpoint = target.removeprefix("endpoints:/").removesuffix("/traffic")
            rule = approvals.protect_traffic(
                endpoint, require_approval=require_approval, reason=reason
            )
        else:
            fail(f"'{target}' is not something a rule protects: write {TARGET_FORMS}")
    if as_json:
        print_json(rule)
        return
    how = "approvers, or approved requests" if rule.require_approval else "approvers only"
    typer.echo(f"rule {rule.id}: {rule.target_uri} is protected ({how} may change it)")


@protection_app.command("list")
def list_rules(as_json: JsonOption = False) -> None:
    """The workspace's protection rules."""
    with user_errors():
        rules = open_client().approvals.rules()
    if as_json:
        print_json(rules)
        return
    print_table(
        "Protection rules",
        ["id", "protects", "contributors", "since", "by"],
        rules,
        lambda r: [
            r.id,
            r.target_uri,
            "may request approval" if r.require_approval else "refused",
            format_time(r.created_at),
            r.created_by,
        ],
    )


@protection_app.command("remove")
def remove_rule(
    rule_id: Annotated[int, typer.Argument(help="The rule's id (modelyard protection list).")],
    reason: ReasonOption = None,
) -> None:
    """Remove a protection rule."""
    with user_errors():
        open_client().approvals.remove_rule(rule_id, reason=reason)
    typer.echo(f"rule {rule_id} removed")


@approvals_app.command("list")
def list_approvals(
    state: Annotated[
        str, typer.Option("--state", help="pending, approved, rejected or all.")
    ] = "pending",
    target: Annotated[
        str | None,
        typer.Option(
            "--target", help="models:/NAME (its aliases), models:/NAME@ALIAS, endpoints:/NAME."
        ),
    ] = None,
    requested_by: Annotated[
        str | None, typer.Option("--requested-by", help="Only this user's requests.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Approval requests, newest first (the pending ones by default)."""
    with user_errors():
        found = open_client().approvals.list(
            state=state, target=target, requested_by=requested_by, limit=limit
        )
    if as_json:
        print_json(found)
        return
    print_table(
        f"Approval requests ({state})",
        ["id", "change", "asked by", "when", "why", "state", "decided by"],
        found,
        lambda a: [
            a.id,
            a.summary,
            a.requested_by,
            format_time(a.requested_at),
            a.reason,
            a.state.value,
            a.decided_by or "-",
        ],
    )


@approvals_app.command("show")
def show_approval(
    approval_id: Annotated[int, typer.Argument(help="The request's id.")],
    as_json: JsonOption = False,
) -> None:
    """One request: the change asked for, by whom and why, and its decision."""
    with user_errors():
        found = open_client().approvals.get(approval_id)
    if as_json:
        print_json(found)
        return
    typer.echo(f"request {found.id}: {found.summary} ({found.target_uri})")
    typer.echo(
        f"  asked by {found.requested_by} at {format_time(found.requested_at)}: {found.reason}"
    )
    if found.decided_by is None:
        typer.echo("  pending: an approver other than the one who asked decides it")
    else:
        why = f": {found.decision_reason}" if found.decision_reason else ""
        typer.echo(
            f"  {found.state.value} by {found.decided_by} at {format_time(found.decided_at)}{why}"
        )


@approvals_app.command("approve")
def approve(
    approval_id: Annotated[int, typer.Argument(help="The request's id.")],
    reason: ReasonOption = None,
) -> None:
    """Approve someone else's request: its change is made now."""
    with user_errors():
        decided = open_client().approvals.approve(approval_id, reason=reason)
    typer.echo(
        f"approved request {decided.id}: {decided.summary} (asked by {decided.requested_by})"
    )


@approvals_app.command("reject")
def reject(
    approval_id: Annotated[int, typer.Argument(help="The request's id.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why; the one who asked reads it.", show_default=False)
    ],
) -> None:
    """Reject someone else's request; its change is never made."""
    with user_errors():
        decided = open_client().approvals.reject(approval_id, reason=reason)
    typer.echo(f"rejected request {decided.id}: {decided.summary}")
