"""Run the REST server with uvicorn."""

from __future__ import annotations

from modelyard.config import Settings


def build_app(settings: Settings):  # type: ignore[no-untyped-def]
    """The app on the local backend that ``settings`` names (never on another server)."""
    from modelyard.config import BackendKind
    from modelyard.core.backend import open_local_backend
    from modelyard.errors import InvalidInput
    from modelyard.server.app import create_app

    if settings.backend == BackendKind.http:
        raise InvalidInput(
            "the server needs a database, not another server: set MODELYARD_URI to "
            "sqlite:///path or postgresql://... (or leave it unset for ./.modelyard)"
        )
    return create_app(open_local_backend(settings), settings)


def serve(settings: Settings, *, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    uvicorn.run(build_app(settings), host=host, port=port, log_level=log_level)
