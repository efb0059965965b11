"""``modelyard server``, ``config`` and ``db``: running and inspecting the installation."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.options import JsonOption
from modelyard.cli.output import command_group, print_json, print_mapping, user_errors
from modelyard.errors import InvalidInput

db_app = command_group("Manage the metadata database schema.")


def server(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8750,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Also fire due pipeline schedules.")
    ] = False,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require an API token on every request (default: on unless the address is "
            "loopback).",
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve a non-loopback address without authentication (only behind a proxy "
            "that authenticates every request).",
        ),
    ] = False,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs) on the configured store."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.config import get_settings
    from modelyard.server.serve import serve

    with user_errors():
        serve(
            get_settings(),
            host=host,
            port=port,
            log_level=log_level,
            scheduler=scheduler,
            auth=auth,
            insecure_no_auth=insecure_no_auth,
        )


def config(
    as_json: JsonOption = False,
) -> None:
    """Print the effective settings (from MODELYARD_* environment variables)."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.config import get_settings

    with user_errors():
        settings = get_settings()
        effective = {
            "uri": settings.resolved_uri,
            "backend": settings.backend.value,
            "artifact_root": None
            if settings.backend.value == "http"
            else settings.resolved_artifact_root,
            **{
                k: v
                for k, v in settings.model_dump(mode="json").items()
                if k not in ("uri", "artifact_root")
            },
        }
        if settings.uri and "@" in settings.uri:
            from sqlalchemy.engine import make_url

            # Loaded when the command runs: `modelyard --help` imports every command module.
            from modelyard.storage.db.database import normalize_db_url

            masked = make_url(normalize_db_url(settings.uri)).render_as_string(hide_password=True)
            effective["uri"] = masked
        if as_json:
            print_json(effective)
        else:
            print_mapping("Modelyard settings", effective)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the metadata schema of MODELYARD_URI to this version."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.config import BackendKind, get_settings
    from modelyard.storage.db.database import Database
    from modelyard.storage.db.migrate import upgrade

    with user_errors():
        settings = get_settings()
        if settings.backend == BackendKind.http:
            raise InvalidInput(
                "`db upgrade` works on a database: point MODELYARD_URI at it, not at a server"
            )
        db = Database(settings.resolved_uri)
        before, after = upgrade(db)
        if before == after:
            typer.echo(f"{db.safe_uri} is already at schema {after}")
        else:
            typer.echo(f"upgraded {db.safe_uri} from {before or 'empty'} to {after}")
