"""``modelyard schedule`` (cron schedules and triggers) and ``modelyard scheduler`` (firing)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption
from modelyard.cli.output import (
    command_group,
    format_time,
    print_json,
    print_mapping,
    print_table,
    user_errors,
)
from modelyard.cli.pipelines import parse_params

if TYPE_CHECKING:
    from modelyard.pipelines.scheduler import Firing
    from modelyard.pipelines.schedules import ScheduleInfo
    from modelyard.retention.models import RetentionReport

app = command_group("Run pipelines on a cron schedule, or once on demand.")

Name = Annotated[str, typer.Argument(help="Schedule name.")]
Ref = Annotated[
    str,
    typer.Argument(
        help="A registered pipeline (NAME: its latest version; NAME:VERSION), or pipeline "
        "code here (FILE.py[:NAME], FILE.yaml, module:NAME), registered first and pinned."
    ),
]
Params = Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value; repeatable.")]
Executor = Annotated[str, typer.Option(help="inline, processes[:N], dask or dask://host:port.")]


def _print_schedule(info: ScheduleInfo, as_json: bool) -> None:
    if as_json:
        print_json(info)
        return
    print_mapping(
        f"Schedule {info.name}",
        {
            "pipeline": info.pipeline_ref,
            "cron": info.cron,
            "params": json.dumps(info.params),
            "executor": info.executor,
            "enabled": info.enabled,
            "next run": format_time(info.next_run_at) if info.enabled else "-",
            "last run": format_time(info.last_run_at),
            "last run id": info.last_run_id,
            "last error": info.last_error,
        },
    )


@app.command("create")
def create(
    name: Name,
    ref: Ref,
    cron: Annotated[str, typer.Option(help="Cron in UTC, e.g. '*/5 * * * *', @daily.")],
    param: Params = None,
    executor: Executor = "inline",
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a schedule: run pipeline REF on CRON (UTC)."""
    with user_errors():
        info = open_client().schedules.create(
            name, ref, cron, params=parse_params(param), executor=executor, enabled=not disabled
        )
        _print_schedule(info, as_json)


@app.command("list")
def list_schedules(as_json: JsonOption = False) -> None:
    """List schedules with their next run and the outcome of their last run."""
    with user_errors():
        found = open_client().schedules.list()
        if as_json:
            print_json(found)
            return
        print_table(
            "Schedules",
            ["name", "cron", "pipeline", "enabled", "next run", "last run id", "last error"],
            found,
            lambda s: [
                s.name,
                s.cron,
                s.pipeline_ref,
                "yes" if s.enabled else "no",
                format_time(s.next_run_at) if s.enabled else "-",
                s.last_run_id or "-",
                (s.last_error or "").splitlines()[0] if s.last_error else None,
            ],
        )


@app.command("show")
def show(name: Name, as_json: JsonOption = False) -> None:
    """Show a schedule."""
    with user_errors():
        _print_schedule(open_client().schedules.get(name), as_json)


@app.command("enable")
def enable(name: Name) -> None:
    """Enable a schedule; its next run is the next occurrence from now."""
    with user_errors():
        info = open_client().schedules.enable(name)
        typer.echo(f"schedule {name} enabled; next run {format_time(info.next_run_at)} UTC")


@app.command("disable")
def disable(name: Name) -> None:
    """Disable a schedule (it keeps its history; enable it again at will)."""
    with user_errors():
        open_client().schedules.disable(name)
        typer.echo(f"schedule {name} disabled")


@app.command("delete")
def delete(name: Name) -> None:
    """Delete a schedule; the runs it made are kept."""
    with user_errors():
        open_client().schedules.delete(name)
        typer.echo(f"schedule {name} deleted")


@app.command("trigger")
def trigger(ref: Ref, param: Params = None, executor: Executor = "inline") -> None:
    """Ask for one run of pipeline REF now; a running scheduler fires it."""
    with user_errors():
        info = open_client().schedules.trigger(ref, params=parse_params(param), executor=executor)
        typer.echo(f"triggered {info.name}: the next scheduler poll runs it")


def _print_firing(firing: Firing) -> None:
    line = f"{format_time(firing.started_at)} {firing.schedule}"
    line += f" ({firing.version}): " if firing.version else ": "
    if firing.run_id:
        line += f"pipeline run {firing.run_id} {firing.status}"
    else:
        line += firing.status
    if firing.error:
        line += f" ({firing.error.splitlines()[0]})"
    typer.echo(line)


def _print_retention(report: RetentionReport) -> None:
    if report.deleted_runs or report.pruned_records:
        more = " (more next poll)" if report.more else ""
        typer.echo(
            f"retention: {report.deleted_runs} runs deleted, {report.pruned_records} audit "
            f"records pruned{more}"
        )
    for outcome in report.rules:
        if outcome.problem:
            typer.echo(f"retention rule {outcome.rule.id}: {outcome.problem}", err=True)


def scheduler(
    poll_seconds: Annotated[
        float, typer.Option("--poll-seconds", min=0.1, help="Seconds between polls.")
    ] = 10.0,
    once: Annotated[
        bool, typer.Option("--once", help="Fire what is due now, then exit (1 if one failed).")
    ] = False,
) -> None:
    """Fire due pipeline schedules and triggers until interrupted (Ctrl-C); apply the
    retention rules every MODELYARD_RETENTION_INTERVAL_SECONDS (1 h)."""
    import signal
    import threading

    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.pipelines.scheduler import Scheduler

    with user_errors():
        client = open_client()
        runner = Scheduler(
            client.backend,
            settings=client.settings,
            poll_seconds=poll_seconds,
            on_firing=_print_firing,
            on_retention=_print_retention,
        )
        if once:
            if any(f.status != "FINISHED" for f in runner.run_once()):
                raise typer.Exit(1)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        info = client.backend.describe()  # never shows a password
        where = info.get("metadata") or info.get("server")
        typer.echo(f"scheduler polling {where} every {poll_seconds:g}s (Ctrl-C stops it)")
        try:
            runner.run_forever(stop)
        except KeyboardInterrupt:
            typer.echo("scheduler stopped")
