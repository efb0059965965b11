"""``modelyard runs``: list, show, search and delete runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli.connection import open_client, resolve_experiment_ids
from modelyard.cli.options import JsonOption
from modelyard.cli.output import (
    command_group,
    format_time,
    print_json,
    print_mapping,
    print_table,
    user_errors,
)

if TYPE_CHECKING:
    from modelyard.tracking.models import Run, RunPage

app = command_group("List, show, search and delete runs.")

ExperimentOption = Annotated[
    list[str] | None,
    typer.Option("--experiment", "-e", help="Experiment name or id; repeatable (default: all)."),
]


def _duration(run: Run) -> str:
    if run.end_time is None:
        return "-"
    return f"{(run.end_time - run.start_time) / 1000:.1f}s"


def _print_page(page: RunPage, as_json: bool) -> None:
    if as_json:
        print_json(page)
        return
    # A few metric columns keep the table readable; `runs show` has them all.
    metric_keys = sorted({k for r in page.runs for k in r.metrics})[:4]
    print_table(
        f"{len(page.runs)} runs",
        ["id", "name", "status", "started", "duration", *metric_keys],
        page.runs,
        lambda r: [
            r.id,
            r.name,
            r.status.value,
            format_time(r.start_time),
            _duration(r),
            *[r.metrics.get(k) for k in metric_keys],
        ],
    )
    if page.next_page_token:
        typer.echo(f"more results: --page-token {page.next_page_token}")


def _search(
    experiment: list[str] | None,
    filter: str | None,
    order_by: list[str] | None,
    max_results: int,
    page_token: str | None,
    as_json: bool,
) -> None:
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.tracking.filter import parse_filter, parse_order_by

    with user_errors():
        # Check the expression first: a malformed filter is an error even on an empty store.
        parse_filter(filter)
        parse_order_by(order_by)
        client = open_client()
        ids = resolve_experiment_ids(client, experiment)
        if not ids:
            typer.echo("no experiments yet")
            return
        page = client.search_runs(
            ids, filter, order_by=order_by or [], max_results=max_results, page_token=page_token
        )
        _print_page(page, as_json)


@app.command("list")
def list_runs(
    experiment: ExperimentOption = None,
    max_results: Annotated[
        int, typer.Option("--max-results", "-n", help="Page size.", min=1, max=10_000)
    ] = 50,
    page_token: Annotated[str | None, typer.Option(help="Continue a listing.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first."""
    _search(experiment, None, None, max_results, page_token, as_json)


@app.command("search")
def search_runs(
    filter: Annotated[
        str | None,
        typer.Argument(
            help="Filter, e.g. \"metrics.acc > 0.9 and params.model = 'rf'\" "
            "(metrics., params., tags., attributes.; AND/OR/NOT; = != < <= > >= LIKE IN)."
        ),
    ] = None,
    experiment: ExperimentOption = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", help="e.g. 'metrics.acc DESC'; repeatable."),
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max-results", "-n", help="Page size.", min=1, max=10_000)
    ] = 50,
    page_token: Annotated[str | None, typer.Option(help="Continue a search.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Search runs with a filter and an order."""
    _search(experiment, filter, order_by, max_results, page_token, as_json)


@app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    as_json: JsonOption = False,
) -> None:
    """Show one run: attributes, params, metrics, tags and inputs."""
    with user_errors():
        run = open_client().get_run(run_id)
        if as_json:
            print_json(run)
            return
        print_mapping(
            f"Run {run.id}",
            {
                "name": run.name,
                "experiment": run.experiment_id,
                "status": run.status.value,
                "user": run.user,
                "started": format_time(run.start_time),
                "ended": format_time(run.end_time),
                "duration": _duration(run),
                "parent": run.parent_run_id,
                "commit": run.source.commit,
                "dirty": run.source.dirty,
                "entry point": run.source.entry_point,
                "description": run.description,
            },
        )
        for title, values in (("Params", run.params), ("Metrics", run.metrics), ("Tags", run.tags)):
            if values:
                print_mapping(title, dict(sorted(values.items())))
        if run.inputs:
            print_table(
                "Inputs",
                ["name", "digest", "rows", "context"],
                run.inputs,
                lambda d: [d.name, d.digest[:16], d.row_count, d.context],
            )
        if run.failure:
            typer.echo(f"\nFailure:\n{run.failure}")


@app.command("delete")
def delete_run(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    reason: Annotated[str | None, typer.Option(help="Why; kept in the audit log.")] = None,
) -> None:
    """Delete a run (it disappears from listings; the audit log keeps its history)."""
    with user_errors():
        open_client().delete_run(run_id, reason=reason)
        typer.echo(f"deleted run {run_id}")
