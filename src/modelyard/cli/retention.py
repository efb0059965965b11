"""``modelyard retention``: what may go once old, and passes applying it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption, ReasonOption, bounded, default
from modelyard.cli.output import (
    command_group,
    fail,
    format_time,
    parse_duration_ms,
    print_json,
    print_table,
    user_errors,
)
from modelyard.errors import InvalidInput
from modelyard.retention import limits

if TYPE_CHECKING:
    from modelyard.retention.models import RetentionItem, RetentionReport

app = command_group(
    "Retention rules: delete finished runs and prune the audit log once they are old, "
    "applied by the scheduler. A run is deleted as `runs delete` deletes it: it leaves "
    "listings and searches, its records stay."
)


@app.command("set")
def set_rule(
    kind: Annotated[
        str,
        typer.Argument(
            help="runs (finished runs outside pipelines), pipeline_runs (finished pipeline "
            "runs with their step runs) or audit (the oldest audit records)."
        ),
    ],
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="How long ago a run must have ended (an audit record been written) for the "
            "rule to delete it: 90d, 36h.",
        ),
    ],
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="runs: only this experiment's.")
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="pipeline_runs: only this pipeline's.")
    ] = None,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set a rule: a new one, or the period of the rule for the same things."""
    try:
        period = parse_duration_ms(older_than)
    except InvalidInput:
        fail(f"--older-than '{older_than}': write a period such as 90d, 365d or 36h")
    with user_errors():
        rule = open_client().retention.set(
            kind,  # type: ignore[arg-type]  # checked by the request, which names the kinds
            older_than_ms=period,
            experiment=experiment,
            pipeline=pipeline,
            reason=reason,
        )
    if as_json:
        print_json(rule)
        return
    typer.echo(f"rule {rule.id}: delete {rule.describe()}")


@app.command("list")
def list_rules(as_json: JsonOption = False) -> None:
    """The rules, with their ids."""
    with user_errors():
        rules = open_client().retention.list()
    if as_json:
        print_json(rules)
        return
    print_table(
        "Retention rules",
        ["id", "deletes", "set by", "set at (UTC)"],
        rules,
        lambda r: [r.id, r.describe(), r.updated_by, format_time(r.updated_at)],
    )


@app.command("delete")
def delete_rule(
    rule_id: Annotated[int, typer.Argument(help="The rule's id (`retention list`).")],
    reason: ReasonOption = None,
) -> None:
    """Delete a rule: what it would have deleted stays."""
    with user_errors():
        open_client().retention.delete(rule_id, reason=reason)
    typer.echo(f"deleted rule {rule_id}")


def _line(item: RetentionItem, prefix: str = "") -> str:
    ended = f"ended {format_time(item.ended_at)}" if item.ended_at is not None else "not ended"
    under = f", with {item.runs - 1} run(s) under it" if item.runs > 1 else ""
    what = f"{item.kind.removesuffix('s').replace('_', ' ')} {item.run_id} ({item.name})"
    return f"  {prefix}{what} in {item.experiment}, {item.status}, {ended}{under}"


def _summary(report: RetentionReport) -> list[str]:
    going = "would delete" if report.dry_run else "deleted"
    lines = []
    for outcome in report.rules:
        head = f"rule {outcome.rule.id} ({outcome.rule.describe()}): "
        if outcome.problem:
            lines.append(head + f"nothing done: {outcome.problem}")
        elif outcome.rule.kind == "audit":
            pruned = outcome.audit
            lines.append(
                head
                + f"{'would prune' if report.dry_run else 'pruned'} {outcome.deleted} records"
                + (f" (seq {pruned.first_seq} to {pruned.through_seq})" if pruned else "")
            )
        else:
            lines.append(head + f"{going} {outcome.deleted} runs, kept {outcome.kept}")
        if report.dry_run:
            lines += [_line(i) for i in report.deleted if i.rule_id == outcome.rule.id]
        for item in (i for i in report.kept if i.rule_id == outcome.rule.id):
            lines.append(_line(item, "kept: "))
            lines += [f"      {reason}" for reason in item.reasons]
    if report.truncated:
        lines.append("  ... (the first ones only: --json lists the same)")
    if not report.rules:
        lines.append("no retention rules: `modelyard retention set` makes one")
    return lines


@app.command("apply")
def apply(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="List what would go and why the rest stays; delete nothing."
        ),
    ] = False,
    limit: Annotated[
        int,
        bounded(limits.PER_PASS, "Runs deleted per pass at most", "--limit", whole=True),
    ] = default(limits.PER_PASS, whole=True),
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply the rules now, in passes of at most --limit runs until nothing is left
    (a dry run: one pass's worth). Each deleted run is audited as run.deleted; --json
    prints the report of each pass, in a list."""
    with user_errors():
        client = open_client()
        report = client.retention.apply(dry_run=dry_run, limit=limit, reason=reason)
        passes = [report]
        while not dry_run and passes[-1].more:
            passes.append(client.retention.apply(limit=limit, reason=reason))
    if as_json:
        print_json(passes)
        return
    for number, made in enumerate(passes, start=1):
        if len(passes) > 1:
            typer.echo(f"pass {number}:")
        for line in _summary(made):
            typer.echo(line)
