"""``modelyard audit``: read, verify, checkpoint and export the audit log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption
from modelyard.cli.output import (
    command_group,
    fail,
    format_time,
    parse_time,
    print_json,
    print_table,
    user_errors,
)

if TYPE_CHECKING:
    from modelyard.client.audit import ExportFormat
    from modelyard.governance.models import PrunedPrefix

app = command_group("The audit log: who changed what, when and why, in a tamper-evident chain.")

TargetOption = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="models:/NAME (with its versions and aliases), models:/NAME/VERSION, "
        "models:/NAME@ALIAS, runs:/ID, endpoints:/NAME, environments:/NAME, pipelines:/NAME, "
        "experiments:/ID, schedules:/NAME",
    ),
]
ActorOption = Annotated[str | None, typer.Option("--actor", help="Only this actor's changes.")]
ActionOption = Annotated[
    str | None,
    typer.Option("--action", help="An action, or a prefix ending in '*' (model.alias.*)."),
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="From this time (ISO-8601, UTC unless an offset).")
]
UntilOption = Annotated[str | None, typer.Option("--until", help="Before this time.")]


def _filters(
    target: str | None, actor: str | None, action: str | None, since: str | None, until: str | None
) -> dict[str, Any]:
    return {
        "target": target,
        "actor": actor,
        "action": action,
        "since": parse_time(since, "--since") if since is not None else None,
        "until": parse_time(until, "--until") if until is not None else None,
    }


def _change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """The fields a record changed, briefly: ``version: 2 -> 3``."""
    before, after = before or {}, after or {}
    keys = [k for k in after if before.get(k) != after.get(k)] if before else list(after)
    shown = []
    for key in keys[:4]:
        new = json.dumps(after.get(key), default=str)
        old = json.dumps(before.get(key), default=str) if key in before else None
        text = f"{key}: {old} -> {new}" if old is not None else f"{key}={new}"
        shown.append(text if len(text) <= 60 else text[:57] + "...")
    return ", ".join(shown) + (" ..." if len(keys) > 4 else "")


@app.command("log")
def log(
    target: TargetOption = None,
    actor: ActorOption = None,
    action: ActionOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, help="At most this many.")] = 50,
    oldest_first: Annotated[
        bool, typer.Option("--oldest-first", help="In chain order; newest first by default.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show audit records: newest first, filtered by target, actor, action and time."""
    filters = _filters(target, actor, action, since, until)
    with user_errors():
        client = open_client()
        records = list(client.audit.records(**filters, limit=limit, newest_first=not oldest_first))
    if as_json:
        print_json(records)
        return
    print_table(
        "Audit log",
        ["seq", "time (UTC)", "actor", "action", "target", "reason", "change"],
        records,
        lambda r: [
            r.seq,
            format_time(r.at),
            r.actor,
            r.action,
            f"{r.target_kind} {r.target_id}",
            r.reason or "",
            _change(r.before, r.after),
        ],
    )


def _read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        checkpoint = json.loads(path.read_text())
    except OSError as exc:
        fail(f"cannot read the checkpoint {path}: {exc.strerror or exc}")
    except ValueError as exc:
        fail(f"{path} is not a checkpoint (not JSON: {exc})")
    if not isinstance(checkpoint, dict):
        fail(f"{path} is not a checkpoint (a JSON object)")
    return checkpoint


def _pruned(pruned: PrunedPrefix) -> str:
    return (
        f"pruned: records before seq {pruned.through_seq + 1} were deleted by retention "
        f"({pruned.action} by {pruned.actor} at {format_time(pruned.at)} UTC, record "
        f"{pruned.recorded_seq}); the chain starts from the hash of record {pruned.through_seq}"
    )


@app.command("verify")
def verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint file from `audit checkpoint`: also show any rewrite of the log "
            "made before it.",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="The PEM public key the checkpoint must be signed with (default: the one it "
            "carries, whose id is printed).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Walk the hash chain; exit 1 naming the first record that was edited, deleted or moved."""
    loaded = _read_checkpoint(checkpoint) if checkpoint is not None else None
    trusted = None
    if public_key is not None:
        try:
            trusted = public_key.read_bytes()
        except OSError as exc:
            fail(f"cannot read the public key {public_key}: {exc.strerror or exc}")
    with user_errors():
        verdict = open_client().audit.verify(loaded, trusted_key=trusted)
    if as_json:
        print_json(verdict)
    elif verdict.ok:
        typer.echo(f"ok: {verdict.checked} records, each intact and linked to the one before")
        typer.echo(f"tip: seq {verdict.tip_seq}, hash {verdict.tip_hash}")
        if verdict.pruned is not None:
            typer.echo(_pruned(verdict.pruned))
        if verdict.checkpoint is not None and loaded is not None:
            held = (
                f"cannot be checked any more: {verdict.checkpoint.reason}"
                if verdict.checkpoint.pruned
                else "still holds"
            )
            typer.echo(
                f"checkpoint: seq {verdict.checkpoint.seq} of {format_time(loaded['at'])} UTC, "
                f"signed by key {loaded.get('key_id')}, {held}"
            )
    else:
        if verdict.pruned is not None:
            typer.echo(_pruned(verdict.pruned), err=True)
        if verdict.broken_at is not None:
            typer.echo(
                f"broken: record {verdict.broken_at}: {verdict.reason} "
                f"({verdict.checked} records before it are intact)",
                err=True,
            )
        if verdict.checkpoint is not None and not verdict.checkpoint.matches:
            typer.echo(f"checkpoint does not hold: {verdict.checkpoint.reason}", err=True)
    if not verdict.ok:
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint(
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the checkpoint here (default: print it)."),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why; kept in the audit log.")] = None,
) -> None:
    """Sign the chain's tip with the store's key and publish it outside the database."""
    with user_errors():
        made = open_client().audit.checkpoint(reason=reason)
    text = made.model_dump_json(indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"checkpoint of seq {made.seq} (key {made.key_id}) written to {output}")


@app.command("export")
def export(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="A file (default: standard output).")
    ] = None,
    target: TargetOption = None,
    actor: ActorOption = None,
    action: ActionOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Export audit records in chain order, with their hashes, for a compliance system."""
    if format not in ("jsonl", "csv"):
        fail(f"--format '{format}': use jsonl or csv")
    kind = cast("ExportFormat", format)
    filters = _filters(target, actor, action, since, until)
    with user_errors():
        client = open_client()
        if output is None:
            count = client.audit.export(sys.stdout, kind, **filters)
        else:
            try:
                with output.open("w", newline="") as out:
                    count = client.audit.export(out, kind, **filters)
            except OSError as exc:
                fail(f"cannot write {output}: {exc.strerror or exc}")
    if output is not None:
        typer.echo(f"{count} records written to {output}")
