"""``modelyard serve``: the scoring server for a registered version, a package or a folder."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.output import user_errors


def serve(
    source: Annotated[
        str,
        typer.Argument(
            help="models:/NAME@ALIAS or models:/NAME/VERSION, a folder written by "
            "`modelyard model package`, or a saved model folder."
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5001,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    max_batch_size: Annotated[
        int, typer.Option(min=1, help="Rows per predict call; 1 switches batching off.")
    ] = 32,
    max_wait_ms: Annotated[
        float, typer.Option(min=0, help="Longest a request waits for others to batch with.")
    ] = 2.0,
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
    from functools import partial

    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.serving.server import serve_model

    run = partial(
        serve_model,
        host=host,
        port=port,
        workers=workers,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        log_level=log_level,
        access_log=access_log,
        log_sample_rate=log_sample_rate,
        log_root=log_root,
        endpoint=endpoint,
        deployment=deployment,
        max_request_bytes=max_request_bytes,
    )
    with user_errors():
        if not source.startswith("models:/"):
            run(Path(source))
            return
        with tempfile.TemporaryDirectory(prefix="modelyard-serve-") as tmp:
            # Resolved and downloaded once, here; the workers only read the folder. The
            # store is not needed while serving, so its connection is closed first.
            with open_client() as client:
                version = client.registry.resolve(source)
                # The resolved version, not the URI again: an alias may move meanwhile.
                folder = client.registry.download(version.uri, Path(tmp) / "model")
            run(folder, version=version)
