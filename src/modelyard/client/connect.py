"""Pick the backend that ``MODELYARD_URI`` names: embedded SQLite, PostgreSQL or a server."""

from __future__ import annotations

from modelyard.config import BackendKind, Settings
from modelyard.core.backend import Backend, open_local_backend


def open_backend(settings: Settings) -> Backend:
    """The backend for these settings: local for database URIs, remote for http(s)."""
    if settings.backend == BackendKind.http:
        # httpx and the remote backend load only for an http(s) backend.
        from modelyard.client.remote import RemoteBackend

        return RemoteBackend(
            settings.resolved_uri,
            user=settings.user,
            timeout=settings.http_timeout_seconds,
            retries=settings.http_retries,
        )
    return open_local_backend(settings)
