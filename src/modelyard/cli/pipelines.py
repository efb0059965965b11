"""``modelyard pipeline``: run pipelines with a live view; list, show and inspect them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption
from modelyard.cli.output import (
    command_group,
    fail,
    format_time,
    print_json,
    print_mapping,
    print_table,
    user_errors,
)

if TYPE_CHECKING:
    from modelyard.pipelines.models import PipelineRunInfo
    from modelyard.pipelines.runner import StepEvent

app = command_group("Run pipelines and inspect their runs.")

_STYLE = {
    "pending": "dim",
    "running": "yellow",
    "retrying": "yellow",
    "cached": "cyan",
    "finished": "green",
    "failed": "red",
    "skipped": "dim",
}


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """``-p key=value``: the value is read as JSON when it parses (numbers, booleans,
    lists), else taken as a string."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            fail(f"parameter '{pair}' must look like key=value")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


class LiveSteps:
    """A live table of the steps of a run: status, timing and the cache decision."""

    def __init__(self, nodes: list[str]) -> None:
        from rich.console import Console
        from rich.live import Live

        self.rows: dict[str, tuple[str, str]] = dict.fromkeys(nodes, ("pending", ""))
        self.console = Console(stderr=True)
        self.live = Live(self._table(), console=self.console, refresh_per_second=8, transient=False)

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(show_header=True, header_style="bold", box=None)
        table.add_column("step")
        table.add_column("status")
        table.add_column("detail", overflow="fold")
        for node, (status, detail) in self.rows.items():
            style = _STYLE.get(status, "")
            table.add_row(node, f"[{style}]{status}[/]", detail)
        return table

    def __call__(self, event: StepEvent) -> None:
        self.rows[event.node] = (event.kind, event.detail or "")
        self.live.update(self._table())

    def __enter__(self) -> LiveSteps:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)


class PlainSteps:
    """One line per step event, for logs and pipes (no terminal to redraw)."""

    def __call__(self, event: StepEvent) -> None:
        if event.kind in ("finished", "cached", "failed", "retrying", "skipped"):
            typer.echo(f"{event.node}: {event.kind} {event.detail or ''}".rstrip(), err=True)

    def __enter__(self) -> PlainSteps:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


@app.command("run")
def run(
    ref: Annotated[str, typer.Argument(help="FILE.py[:NAME], FILE.yaml or module:NAME.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value; repeatable.")
    ] = None,
    executor: Annotated[
        str, typer.Option(help="inline, processes[:N], dask or dask://host:port.")
    ] = "inline",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Run a pipeline; unchanged steps come from the cache."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.client.fluent import run_pipeline
    from modelyard.pipelines.loader import load_pipeline
    from modelyard.pipelines.runner import check_run

    with user_errors():
        definition = load_pipeline(ref)
        params = parse_params(param)
        check_run(definition, params, executor)  # bad input fails before the live view
        display: LiveSteps | PlainSteps = (
            LiveSteps([n.name for n in definition.nodes]) if sys.stderr.isatty() else PlainSteps()
        )
        with display:
            result = run_pipeline(
                definition, params, executor=executor, no_cache=no_cache, on_event=display
            )
        if as_json:
            print_json(open_client().pipelines.get_run(result.run_id))
        else:
            typer.echo(
                f"pipeline {definition.name}: {result.status.value} "
                f"(run {result.run_id}; {len(result.cached)} of "
                f"{len(definition.nodes)} steps from cache)"
            )
    if result.status.value != "FINISHED":
        raise typer.Exit(1)


@app.command("list")
def list_pipelines(
    as_json: JsonOption = False,
) -> None:
    """List pipelines that have run, with their latest run."""
    with user_errors():
        pipelines = open_client().pipelines.list()
        if as_json:
            print_json(pipelines)
            return
        print_table(
            "Pipelines",
            ["name", "runs", "last status", "last run", "started", "definition"],
            pipelines,
            lambda p: [
                p.name,
                p.runs,
                p.last_status,
                p.last_run_id,
                format_time(p.last_start),
                p.definition_hash[:12],
            ],
        )


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    as_json: JsonOption = False,
) -> None:
    """Show a pipeline's latest definition: steps, inputs, parameters."""
    with user_errors():
        info = open_client().pipelines.get(name)
        if as_json:
            print_json(info)
            return
        steps = info.definition["steps"]
        print_table(
            f"Pipeline {name} ({info.definition_hash[:12]})",
            ["step", "kind", "inputs", "params", "outputs", "environment", "cache"],
            steps,
            lambda s: [
                s["name"],
                s["step"]["kind"],
                ", ".join(f"{k}<-{_binding(v)}" for k, v in s["inputs"].items()),
                ", ".join(f"{k}={_binding(v)}" for k, v in s["params"].items()),
                ", ".join(s["step"]["outputs"]),
                s["step"]["environment"],
                "yes" if s["step"]["cache"] else "no",
            ],
        )


def _binding(b: dict[str, Any]) -> str:
    if "step" in b:
        return f"{b['step']}.{b['output']}"
    if "path" in b:
        return str(b["path"])
    if "parameter" in b:
        return f"${b['parameter']}"
    return json.dumps(b.get("value"))


def _print_run(info: PipelineRunInfo) -> None:
    print_mapping(
        f"Pipeline run {info.run_id}",
        {
            "pipeline": info.pipeline,
            "status": info.status.value,
            "started": format_time(info.start_time),
            "ended": format_time(info.end_time),
            "executor": info.executor,
            "params": json.dumps(info.params),
            "failure": info.failure,
        },
    )
    print_table(
        "Steps",
        ["step", "status", "cache", "seconds", "attempts", "why"],
        info.steps,
        lambda s: [
            s.node,
            s.status,
            "hit" if s.cache_hit else "miss",
            f"{(s.ended_at - s.started_at) / 1000:.2f}" if s.ended_at and s.started_at else "-",
            s.attempts,
            s.cache_reason,
        ],
    )
    for step in info.steps:
        if step.error:
            typer.echo(f"\n{step.node} failed:\n{step.error}")


@app.command("register")
def register(
    ref: Annotated[str, typer.Argument(help="FILE.py[:NAME], FILE.yaml or package.module:NAME.")],
    code: Annotated[
        Path | None,
        typer.Option(help="Folder to snapshot (default: the pipeline file's folder)."),
    ] = None,
    description: Annotated[str | None, typer.Option(help="What this pipeline does.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why, for the audit log.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a pipeline with a snapshot of its code, so schedules and triggers run it."""
    with user_errors():
        version = open_client().pipelines.register(
            ref, code=code, description=description, reason=reason
        )
        if as_json:
            print_json(version)
            return
        typer.echo(
            f"registered pipeline {version.ref} (snapshot {version.snapshot[:12]}, entry "
            f"{version.entry}): schedule it with `modelyard schedule create NAME "
            f"{version.name} --cron ...`"
        )


@app.command("versions")
def versions(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    as_json: JsonOption = False,
) -> None:
    """List a pipeline's registered versions, newest first."""
    with user_errors():
        found = open_client().pipelines.versions(name)
        if as_json:
            print_json(found)
            return
        print_table(
            f"Registered versions of {name}",
            ["version", "registered", "by", "entry", "snapshot"],
            found,
            lambda v: [
                v.version,
                format_time(v.created_at),
                v.created_by,
                v.entry,
                v.snapshot[:12],
            ],
        )


@app.command("runs")
def runs(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    max_results: Annotated[int, typer.Option("--max-results", "-n", min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """List a pipeline's runs, newest first."""
    with user_errors():
        found = open_client().pipelines.runs(name, max_results)
        if as_json:
            print_json(found)
            return
        print_table(
            f"Runs of {name}",
            ["run", "status", "started", "steps", "cached", "params"],
            found,
            lambda r: [
                r.run_id,
                r.status.value,
                format_time(r.start_time),
                len(r.steps),
                sum(s.cache_hit for s in r.steps),
                json.dumps(r.params),
            ],
        )


@app.command("inspect")
def inspect_run(
    run_id: Annotated[str, typer.Argument(help="Pipeline run id.")],
    as_json: JsonOption = False,
) -> None:
    """Show a pipeline run: each step's status and why it hit or missed the cache."""
    with user_errors():
        info = open_client().pipelines.get_run(run_id)
        if as_json:
            print_json(info)
        else:
            _print_run(info)
