"""Where operations run: the ``Backend`` protocol and the local (database) backend.

The Python client, the CLI and the REST server all hold a ``Backend``. ``LocalBackend``
runs operations against a database and an artifact store in this process; the remote
backend (``modelyard.core.remote``) sends the same operations to a server.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Protocol

from modelyard.config import BackendKind, Settings
from modelyard.core import identity
from modelyard.core.checkpoints import CheckpointSigner
from modelyard.core.operations import Operation, OperationContext, Req, Resp
from modelyard.core.permissions import AllowAll, PermissionCheck
from modelyard.core.secret_box import SecretBox
from modelyard.core.unit_of_work import Actor, Clock, system_clock_ms, unit_of_work
from modelyard.storage.artifacts import BlobInfo, BlobStore
from modelyard.storage.db.database import Database
from modelyard.storage.db.migrate import ensure_schema


class Backend(Protocol):
    """The store interface every client and adapter talks to."""

    def call(self, op: Operation[Req, Resp], request: Req, *, reason: str | None = None) -> Resp:
        """Run one operation; ``reason`` is kept on the audit record of a change."""
        ...

    def put_blob(self, path: str | os.PathLike[str]) -> BlobInfo:
        """Store a file's content (deduplicated by SHA-256)."""
        ...

    def put_blob_bytes(self, data: bytes) -> BlobInfo:
        """Store small content held in memory (a manifest), deduplicated by SHA-256."""
        ...

    def get_blob(self, sha256: str, dest: str | os.PathLike[str]) -> BlobInfo:
        """Copy a blob to a local file, checking its hash."""
        ...

    def describe(self) -> dict[str, Any]:
        """Where this backend keeps things, for `modelyard config` and error messages."""
        ...

    def close(self) -> None: ...


class LocalBackend:
    """Runs operations in this process against the metadata database and the blob store."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        actor: Actor,
        clock: Clock = system_clock_ms,
        auto_upgrade: bool = True,
        permissions: PermissionCheck | None = None,
        signer: CheckpointSigner | None = None,
        secret_box: SecretBox | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.signer = signer
        self.secret_box = secret_box
        self.actor = actor
        self.clock = clock
        self.permissions: PermissionCheck = permissions or AllowAll()
        ensure_schema(db, auto_upgrade=auto_upgrade)

    def call(
        self,
        op: Operation[Req, Resp],
        request: Req,
        *,
        reason: str | None = None,
        actor: Actor | None = None,
    ) -> Resp:
        who = actor or self.actor
        # The one place an operation's declared permission is checked, before it runs.
        self.permissions.check(who, op.permission, op.name)
        if op.policy is not None:
            with unit_of_work(self.db, who, op.policy, reason=reason, clock=self.clock) as uow:
                ctx = OperationContext(
                    uow.conn, self.blobs, who, self.clock, uow, self.signer, self.secret_box
                )
                return op.handler(ctx, request)
        with self.db.read() as conn:
            ctx = OperationContext(
                conn, self.blobs, who, self.clock, signer=self.signer, secret_box=self.secret_box
            )
            return op.handler(ctx, request)

    def authenticate(self, token: str) -> Actor:
        """The user a bearer token proves (a server with auth on), or ``Unauthenticated``."""
        now = self.clock()
        with self.db.read() as conn:
            proven = identity.authenticate(conn, token, now)
        if proven.record_use:
            with self.db.write() as conn:
                identity.record_use(conn, proven.token_id, now)
        return proven.actor

    def put_blob(self, path: str | os.PathLike[str]) -> BlobInfo:
        return self.blobs.put_file(path)

    def put_blob_bytes(self, data: bytes) -> BlobInfo:
        return self.blobs.put_bytes(data)

    def put_stream(self, stream: BinaryIO) -> BlobInfo:
        return self.blobs.put_stream(stream)

    def get_blob(self, sha256: str, dest: str | os.PathLike[str]) -> BlobInfo:
        return self.blobs.get_file(sha256, dest)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.db.dialect,
            "metadata": self.db.safe_uri,
            "artifacts": self.blobs.root,
        }

    def close(self) -> None:
        self.db.dispose()


def open_backend(settings: Settings) -> Backend:
    """The backend for these settings: local for database URIs, remote for http(s)."""
    if settings.backend == BackendKind.http:
        # httpx and the remote backend load only for an http(s) backend.
        from modelyard.core.credentials import stored_token
        from modelyard.core.remote import RemoteBackend

        token = settings.token.get_secret_value() if settings.token else None
        return RemoteBackend(
            settings.resolved_uri,
            user=settings.user,
            token=token or stored_token(settings.resolved_uri),
            timeout=settings.http_timeout_seconds,
            retries=settings.http_retries,
        )
    return open_local_backend(settings)


def open_local_backend(settings: Settings) -> LocalBackend:
    """A backend on the database and artifact store in ``settings`` (not a server)."""
    db = Database(settings.resolved_uri, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    blobs = BlobStore(
        settings.resolved_artifact_root, storage_options=settings.storage_options() or None
    )
    return LocalBackend(
        db,
        blobs,
        actor=Actor(settings.user),
        auto_upgrade=settings.backend == BackendKind.sqlite,
        signer=CheckpointSigner.for_home(settings.home, db.safe_uri),
        secret_box=SecretBox.for_settings(settings),
    )
