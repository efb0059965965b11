"""The ``modelyard`` command. Sub-commands live one module per resource."""

from __future__ import annotations

import os
from typing import Annotated

import typer

import modelyard
from modelyard.cli import (
    accounts,
    approvals,
    artifacts,
    audit,
    endpoints,
    environments,
    experiments,
    gc,
    lineage,
    models,
    pipelines,
    retention,
    runs,
    schedules,
    score,
    secrets,
    serve,
    system,
)

app = typer.Typer(
    name="modelyard",
    help="Self-hosted MLOps: tracking, pipelines, environments, a model registry and serving.\n\n"
    "The backend is MODELYARD_URI: unset for ./.modelyard (SQLite), sqlite:///path, "
    "postgresql://..., or http(s)://host:port for a server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: Rich-formatted help imports Markdown and syntax highlighting (~0.25 s).
    rich_markup_mode=None,
    add_completion=False,
)
app.command("server")(system.server)
app.command("config")(system.config)
app.add_typer(system.db_app, name="db")
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(pipelines.app, name="pipeline")
app.add_typer(models.app, name="model")
app.add_typer(environments.app, name="env")
app.add_typer(schedules.app, name="schedule")
app.command("scheduler")(schedules.scheduler)
app.command("serve")(serve.serve)
app.add_typer(endpoints.endpoint_app, name="endpoint")
app.add_typer(endpoints.deployment_app, name="deployment")
app.add_typer(endpoints.rollout_app, name="rollout")
app.add_typer(audit.app, name="audit")
app.add_typer(accounts.auth_app, name="auth")
app.add_typer(accounts.users_app, name="users")
app.add_typer(accounts.tokens_app, name="tokens")
app.add_typer(accounts.members_app, name="members")
app.add_typer(accounts.workspaces_app, name="workspaces")
app.add_typer(approvals.protection_app, name="protection")
app.add_typer(approvals.approvals_app, name="approvals")
app.add_typer(secrets.app, name="secrets")
app.command("supervisor")(endpoints.supervisor)
app.command("score")(score.score)
app.add_typer(lineage.app, name="lineage")
app.command("gc")(gc.gc)
app.add_typer(retention.app, name="retention")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(modelyard.__version__)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            help="The workspace to work in (default: MODELYARD_WORKSPACE, else default).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Self-hosted MLOps."""
    if workspace is not None:
        # Read by Settings, as if the user had exported it, for this command only.
        os.environ["MODELYARD_WORKSPACE"] = workspace


def run() -> None:
    """Console-script entry point."""
    app()
