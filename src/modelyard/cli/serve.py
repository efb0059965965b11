"""``modelyard serve``: the scoring server for a registered version, a package or a folder."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.options import bounded, default
from modelyard.cli.output import user_errors
from modelyard.serving import limits


def serve(
    source: Annotated[
        str,
        typer.Argument(
            help="models:/NAME@ALIAS or models:/NAME/VERSION, a folder written by "
            "`modelyard model package`, or a saved model folder."
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 5001,
    workers: Annotated[int, bounded(limits.WORKERS, "Worker processes", whole=True)] = default(
        limits.WORKERS, whole=True
    ),
    max_batch_size: Annotated[
        int,
        bounded(
            limits.MAX_BATCH_SIZE, "Rows per predict call; 1 switches batching off", whole=True
        ),
    ] = default(limits.MAX_BATCH_SIZE, whole=True),
    max_wait_ms: Annotated[
        float, bounded(limits.MAX_WAIT_MS, "Longest a request waits for others to batch with")
    ] = default(limits.MAX_WAIT_MS),
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = False,
    log_sample_rate: Annotated[
        float,
        typer.Option(min=0, max=1, help="Share of requests written to the inference log (0 to 1)."),
    ] = 0.0,
    log_root: Annotated[
        str | None,
        typer.Option(help="Where the inference log goes (default: the artifact root)."),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(help="Endpoint name in the inference log (default: the model's name)."),
    ] = None,
    deployment: Annotated[
        str, typer.Option(help="Deployment name in the inference log.")
    ] = "default",
    max_request_bytes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Largest request body accepted (413 beyond it; default: "
            "MODELYARD_MAX_REQUEST_BYTES, 32 MiB).",
        ),
    ] = None,
) -> None:
    """Serve a model over HTTP: POST /invocations and /feedback, GET /healthz, /readyz and
    /metrics."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.config import get_settings
    from modelyard.serving.models import Batching
    from modelyard.serving.server import ServeOptions, serve_model
    from modelyard.serving.sources import model_source

    with user_errors():
        options = ServeOptions(
            host=host,
            port=port,
            workers=workers,
            batching=Batching(max_batch_size=max_batch_size, max_wait_ms=max_wait_ms),
            log_level=log_level,
            access_log=access_log,
            log_sample_rate=log_sample_rate,
            log_root=log_root,
            endpoint=endpoint,
            deployment=deployment,
            max_request_bytes=max_request_bytes,
        )
        # A registered version is resolved and downloaded once; workers only read the folder.
        with model_source(source, get_settings()) as (folder, version):
            serve_model(folder, version, options)
