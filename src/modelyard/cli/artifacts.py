"""``modelyard artifacts``: list and download a run's artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption
from modelyard.cli.output import command_group, format_time, print_json, print_table, user_errors

app = command_group("List and download run artifacts.")


@app.command("list")
def list_artifacts(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    path: Annotated[str | None, typer.Argument(help="Only under this folder.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List a run's artifacts with their size and SHA-256."""
    with user_errors():
        artifacts = open_client().list_artifacts(run_id, path)
        if as_json:
            print_json(artifacts)
            return
        print_table(
            f"Artifacts of run {run_id}",
            ["path", "size", "sha256", "logged"],
            artifacts,
            lambda a: [a.path, a.size, a.sha256[:16], format_time(a.created_at)],
        )


@app.command("download")
def download_artifacts(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    path: Annotated[str | None, typer.Argument(help="A file or folder (default: all).")] = None,
    dest: Annotated[Path, typer.Option(help="Folder to download into.")] = Path("."),
) -> None:
    """Download artifacts, checking each file's SHA-256."""
    with user_errors():
        written = open_client().download_artifacts(run_id, path, dest)
        for file in written:
            typer.echo(str(file))
