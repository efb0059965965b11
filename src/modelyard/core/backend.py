"""Where operations run: the ``Backend`` protocol and the local (database) backend.

The Python client, the CLI and the REST server all hold a ``Backend``. ``LocalBackend``
runs operations against a database and an artifact store in this process; the remote
backend (``modelyard.core.remote``) sends the same operations to a server.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

from sqlalchemy import Connection, select

from modelyard.config import BackendKind, Settings
from modelyard.core import identity, protection
from modelyard.core.checkpoints import CheckpointSigner
from modelyard.core.operations import Operation, OperationContext, Req, Resp, workspace_of
from modelyard.core.permissions import AllowAll, PermissionCheck
from modelyard.core.roles import DEFAULT_WORKSPACE
from modelyard.core.secret_box import SecretBox
from modelyard.core.unit_of_work import Actor, Clock, system_clock_ms, unit_of_work
from modelyard.errors import ApprovalRequested, NotFound
from modelyard.storage.artifacts import BlobInfo, BlobStore
from modelyard.storage.db.database import Database
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.migrate import ensure_schema
from modelyard.storage.db.tables import workspaces


class Backend(Protocol):
    """The store interface every client and adapter talks to."""

    def call(
        self,
        op: Operation[Req, Resp],
        request: Req,
        *,
        reason: str | None = None,
        workspace: str | None = None,
    ) -> Resp:
        """Run one operation in ``workspace`` (default: the backend's own, from
        ``MODELYARD_WORKSPACE``); ``reason`` is kept on the audit record of a change."""
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
    """Runs operations in this process against the metadata database and the blob store.

    Each workspace has its own database (``Database.for_workspace``): the same tables, so
    names are unique per workspace and every area's objects belong to one without knowing
    it. ``db`` is the ``default`` workspace's, which also holds what is server-wide (users,
    tokens, members, the list of workspaces).
    """

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
        workspace: str = DEFAULT_WORKSPACE,
        secret_box: SecretBox | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.signer = signer
        self.secret_box = secret_box
        self.actor = actor
        self.clock = clock
        self.workspace = workspace
        self.permissions: PermissionCheck = permissions or AllowAll()
        self._workspaces: dict[str, Database] = {}
        self._lock = threading.Lock()
        ensure_schema(db, auto_upgrade=auto_upgrade)

    def database(self, workspace: str) -> Database:
        """The database of ``workspace``, opened (and brought to the schema's head) on first
        use; a workspace a server admin has not made does not exist."""
        if workspace == DEFAULT_WORKSPACE:
            return self.db
        with self._lock:
            opened = self._workspaces.get(workspace)
        if opened is not None:
            return opened
        with self.db.read() as conn:
            known = conn.execute(
                select(workspaces.c.created_at).where(workspaces.c.name == workspace)
            ).first()
        if known is None:
            raise NotFound(
                f"workspace '{workspace}' does not exist: a server admin makes it "
                f"(`modelyard workspaces create {workspace}`)",
                details={"kind": "workspace", "id": workspace},
            )
        db = self.db.for_workspace(workspace)
        # A workspace's schema follows the default one's: upgraded with it, on first use.
        ensure_schema(db, auto_upgrade=True)
        with db.write() as conn:
            insert_if_absent(conn, workspaces, {"name": workspace, "created_at": known.created_at})
        with self._lock:
            kept = self._workspaces.setdefault(workspace, db)
        if kept is not db:
            db.dispose()
        return kept

    def _other_workspaces(self) -> Iterator[Connection]:
        with self.db.read() as conn:
            names = (
                conn.execute(
                    select(workspaces.c.name).where(workspaces.c.name != DEFAULT_WORKSPACE)
                )
                .scalars()
                .all()
            )
        for name in names:
            with self.database(name).read() as conn:
                yield conn

    def call(
        self,
        op: Operation[Req, Resp],
        request: Req,
        *,
        reason: str | None = None,
        actor: Actor | None = None,
        workspace: str | None = None,
    ) -> Resp:
        who = actor or self.actor
        where = workspace_of(op, request, workspace or self.workspace)
        # The one place an operation's declared permission is checked, before it runs.
        self.permissions.check(who, op.permission, op.name, where)
        db = self.db if op.server_wide else self.database(where)
        others = self._other_workspaces if op.server_wide else None
        if op.policy is not None:
            with unit_of_work(db, who, op.policy, reason=reason, clock=self.clock) as uow:
                ctx = OperationContext(
                    uow.conn,
                    self.blobs,
                    who,
                    self.clock,
                    uow,
                    signer=self.signer,
                    secret_box=self.secret_box,
                    workspace=where,
                    other_workspaces=others,
                )
                # A protected change is screened in its own transaction, before it runs.
                pending = (
                    None
                    if op.guard is None
                    else protection.screen(ctx, op, op.guard, request, self.permissions)
                )
                if pending is None:
                    return op.handler(ctx, request)
            # Committed: the request is kept; the change waits for an approver.
            raise ApprovalRequested(
                f"{pending.target_uri} is protected: your change ({pending.summary}) is "
                f"approval request {pending.id}; an approver decides it with "
                f"`modelyard approvals approve {pending.id}` (or reject)",
                details={"approval": pending.model_dump(mode="json")},
            )
        with db.read() as conn:
            ctx = OperationContext(
                conn,
                self.blobs,
                who,
                self.clock,
                signer=self.signer,
                secret_box=self.secret_box,
                workspace=where,
                other_workspaces=others,
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
        with self._lock:
            opened, self._workspaces = list(self._workspaces.values()), {}
        for db in opened:
            db.dispose()
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
            workspace=settings.workspace,
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
        workspace=settings.workspace,
        secret_box=SecretBox.for_settings(settings),
    )
