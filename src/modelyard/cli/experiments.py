"""``modelyard experiments``: list and create experiments."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption
from modelyard.cli.output import (
    command_group,
    format_time,
    parse_pairs,
    print_json,
    print_table,
    user_errors,
)

app = command_group("List and create experiments.")


@app.command("list")
def list_experiments(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List experiments."""
    with user_errors():
        experiments = open_client().list_experiments(workspace=workspace)
        if as_json:
            print_json(experiments)
            return
        print_table(
            "Experiments",
            ["id", "name", "workspace", "created", "description"],
            experiments,
            lambda e: [e.id, e.name, e.workspace, format_time(e.created_at), e.description],
        )


@app.command("create")
def create_experiment(
    name: Annotated[str, typer.Argument(help="Experiment name (unique in its workspace).")],
    workspace: Annotated[str | None, typer.Option(help="Workspace (default: default).")] = None,
    description: Annotated[str | None, typer.Option(help="What the experiment is for.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag as key=value; repeatable.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an experiment."""
    with user_errors():
        experiment = open_client().create_experiment(
            name, workspace=workspace, description=description, tags=parse_pairs(tag, "tag")
        )
        if as_json:
            print_json(experiment)
        else:
            typer.echo(f"created experiment '{experiment.name}' ({experiment.id})")
