"""``modelyard env``: create, list, show, capture, materialize and export environments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption, ReasonOption
from modelyard.cli.output import (
    command_group,
    format_time,
    print_json,
    print_mapping,
    print_table,
    user_errors,
)
from modelyard.errors import NotFound

if TYPE_CHECKING:
    from modelyard.environments.models import Environment

app = command_group("Reusable environments: a Python version and pinned packages, cached by hash.")

RefArgument = Annotated[str, typer.Argument(help="NAME, NAME:VERSION or a hash.")]


def _summary(env: Environment) -> str:
    return f"{env.ref} (python {env.python}, {len(env.lock)} packages, sha256 {env.hash})"


def _print_lines(title: str, lines: list[str]) -> None:
    typer.echo(f"\n{title}:" + ("" if lines else " none"))
    for line in lines:
        typer.echo(f"  {line}")


@app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="The environment's YAML spec.")],
    no_resolve: Annotated[
        bool,
        typer.Option(
            "--no-resolve",
            help="Do not resolve with uv: use the spec's lock, or its requirements if every "
            "one is pinned with ==.",
        ),
    ] = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an environment from a YAML spec (a new version only if its content changed)."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.environments.spec import load_spec

    with user_errors():
        spec = load_spec(file)  # a bad file is an error before anything else happens
        environments = open_client().environments
        try:
            previous: int | None = environments.get(spec.name).version
        except NotFound:
            previous = None
        env = environments.create(spec, resolve=not no_resolve, reason=reason)
        if as_json:
            print_json(env)
            return
        state = "unchanged" if env.version == previous else "registered"
        typer.echo(f"{state}: environment {_summary(env)}")


@app.command("list")
def list_environments(
    name: Annotated[str | None, typer.Argument(help="Every version of this one.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the latest version of each environment, or every version of one."""
    with user_errors():
        found = open_client().environments.list(name)
        if as_json:
            print_json(found)
            return
        print_table(
            f"{len(found)} environments" if name is None else f"Environment {name}",
            ["name", "version", "python", "packages", "source", "hash", "created", "by"],
            found,
            lambda e: [
                e.name,
                e.version,
                e.python,
                len(e.lock),
                e.source,
                e.hash[:12],
                format_time(e.created_at),
                e.created_by,
            ],
        )


@app.command("show")
def show(ref: RefArgument, as_json: JsonOption = False) -> None:
    """Show one environment: its hash, requirements and lock."""
    with user_errors():
        env = open_client().environments.lookup(ref)
        if as_json:
            print_json(env)
            return
        print_mapping(
            f"Environment {env.ref}",
            {
                "python": env.python,
                "hash": env.hash,
                "source": env.source,
                "created": format_time(env.created_at),
                "created by": env.created_by,
                "description": env.description,
            },
        )
        _print_lines("requirements", env.requirements)
        _print_lines("lock", env.lock)


@app.command("capture")
def capture(
    name: Annotated[str, typer.Option(help="Name to register it under.")] = "captured",
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register this Python's version and installed packages as an environment."""
    with user_errors():
        env = open_client().environments.capture(name, description=description, reason=reason)
        if as_json:
            print_json(env)
            return
        typer.echo(f"captured: environment {_summary(env)}")


@app.command("materialize")
def materialize(ref: RefArgument) -> None:
    """Build the environment's virtual environment with uv (once; then it is cached)."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.environments.materialize import python_executable

    with user_errors():
        environments = open_client().environments
        env = environments.lookup(ref)
        path = environments.cached(env)
        state = "cached"
        if path is None:
            typer.echo(f"building environment {env.ref} with uv ...", err=True)
            path = environments.materialize(env)
            state = "built"
        typer.echo(f"{state}: environment {env.ref} ({env.hash[:12]})")
        typer.echo(f"venv:   {path}")
        typer.echo(f"python: {python_executable(path)}")


@app.command("export")
def export(
    ref: RefArgument,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="requirements, conda or dockerfile."),
    ] = "requirements",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: print).")
    ] = None,
) -> None:
    """Export an environment as requirements.txt, a conda environment.yml or a Dockerfile."""
    with user_errors():
        environments = open_client().environments
        env = environments.lookup(ref)
        text = environments.export(env, fmt, output)
        if output is None:
            typer.echo(text, nl=False)
            return
        typer.echo(f"wrote {output}")
        if fmt == "dockerfile":
            typer.echo(
                f"the build needs the lock beside it: modelyard env export {env.ref} "
                f"--format requirements -o {output.parent / 'requirements.txt'}"
            )
