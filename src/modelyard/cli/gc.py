"""``modelyard gc``: free the blobs no record names any more."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption
from modelyard.cli.output import fail, parse_duration_ms, print_json, user_errors
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.housekeeping.models import GarbageReport


def _size(n: int) -> str:
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from rich.filesize import decimal

    return str(decimal(n))


def _summary(report: GarbageReport) -> list[str]:
    verb = "would delete" if report.dry_run else "deleted"
    count = report.unreferenced if report.dry_run else report.deleted
    freed = report.unreferenced_bytes if report.dry_run else report.bytes_freed
    lines = [
        f"stored:       {report.stored} blobs, {_size(report.stored_bytes)}",
        f"old enough:   {report.candidates} (stored over {report.min_age_seconds} s ago)",
        f"still named:  {report.live} (kept)",
        f"{verb + ':':<13} {count} blobs, {_size(freed)}",
    ]
    if report.spared:
        lines.append(f"spared:       {report.spared} (stored again while gc ran)")
    if report.dry_run:
        lines += [f"  {b.sha256}  {_size(b.size)}" for b in report.blobs]
        if report.truncated:
            lines.append(f"  ... and {report.unreferenced - len(report.blobs)} more")
    return lines


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    min_age: Annotated[
        str | None,
        typer.Option(
            "--min-age",
            help="Grace period: only blobs stored longer ago than this may go, e.g. 24h, 30m, "
            "90s (default: MODELYARD_GC_MIN_AGE_SECONDS, 24h). An uploader that stored a blob "
            "has this long to commit the record naming it.",
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, kept on the audit record.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete artifact blobs no record names any more, older than the grace period.

    Live are the blobs of runs' artifacts (deleted runs' too), model versions (deleted ones
    too) and every file their manifests list, pipeline step outputs and registered
    pipelines' code. Runs where the store is: here for an embedded store, on the server for
    a remote one (a server admin only). The inference log is not blobs and is left alone.
    """
    seconds = None
    if min_age is not None:
        try:
            seconds = parse_duration_ms(min_age) // 1000
        except InvalidInput:
            fail(f"--min-age '{min_age}': write a duration such as 24h, 30m or 90s")
    with user_errors():
        client = open_client()
        # Loaded when the command runs: `modelyard --help` imports every command module.
        from rich.console import Console

        with Console(stderr=True).status("collecting garbage (listing blobs, reading records)"):
            report = client.collect_garbage(dry_run=dry_run, min_age_seconds=seconds, reason=reason)
    if as_json:
        print_json(report)
        return
    for line in _summary(report):
        typer.echo(line)
