"""Run the REST server with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from modelyard.config import BackendKind, Settings
from modelyard.core.backend import open_local_backend
from modelyard.errors import InvalidInput
from modelyard.pipelines.scheduler import Scheduler
from modelyard.server.app import create_app


def build_app(settings: Settings) -> FastAPI:
    """The app on the local backend that ``settings`` names (never on another server)."""
    if settings.backend == BackendKind.http:
        raise InvalidInput(
            "the server needs a database, not another server: set MODELYARD_URI to "
            "sqlite:///path or postgresql://... (or leave it unset for ./.modelyard)"
        )
    return create_app(open_local_backend(settings), settings)


def serve(
    settings: Settings, *, host: str, port: int, log_level: str = "info", scheduler: bool = False
) -> None:
    """Serve until interrupted; with ``scheduler``, also fire due schedules meanwhile."""
    import uvicorn

    app = build_app(settings)
    if scheduler:
        _with_scheduler(app, settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def _with_scheduler(app: FastAPI, settings: Settings) -> None:
    """Run a ``Scheduler`` thread from the app's startup to its shutdown.

    In the lifespan rather than around ``uvicorn.run``: after its shutdown, uvicorn re-raises
    the SIGTERM it caught, which ends the process before code after ``run`` could stop it.
    """
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        backend = open_local_backend(settings)
        try:
            with Scheduler(backend, settings=settings).in_background():
                async with inner(served) as state:
                    yield state
        finally:
            backend.close()

    app.router.lifespan_context = lifespan
