"""The REST server: FastAPI app assembled from the areas' operations.

Errors are mapped here once: a ``ModelyardError`` becomes its HTTP status with the body
``{"error": {"code", "message", "details"}}``; anything else is a bug and answers 500 with
the same shape (and is logged with its traceback).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import modelyard
from modelyard.approvals.operations import OPERATIONS as APPROVAL_OPERATIONS
from modelyard.cards.operations import OPERATIONS as CARD_OPERATIONS
from modelyard.config import Settings
from modelyard.core.backend import LocalBackend
from modelyard.core.body_limit import BodyLimit
from modelyard.core.http_api import API_PREFIX
from modelyard.core.operations import Operation
from modelyard.core.permissions import Authenticated
from modelyard.environments.operations import OPERATIONS as ENVIRONMENT_OPERATIONS
from modelyard.errors import (
    InvalidInput,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
)
from modelyard.governance.accounts import OPERATIONS as ACCOUNT_OPERATIONS
from modelyard.governance.members import OPERATIONS as MEMBER_OPERATIONS
from modelyard.governance.operations import OPERATIONS as GOVERNANCE_OPERATIONS
from modelyard.governance.secrets import OPERATIONS as SECRET_OPERATIONS
from modelyard.housekeeping.operations import OPERATIONS as HOUSEKEEPING_OPERATIONS
from modelyard.lineage.operations import OPERATIONS as LINEAGE_OPERATIONS
from modelyard.pipelines.operations import OPERATIONS as PIPELINE_OPERATIONS
from modelyard.pipelines.registered import OPERATIONS as REGISTERED_PIPELINE_OPERATIONS
from modelyard.pipelines.schedules import OPERATIONS as SCHEDULE_OPERATIONS
from modelyard.registry.operations import OPERATIONS as REGISTRY_OPERATIONS
from modelyard.retention.operations import OPERATIONS as RETENTION_OPERATIONS
from modelyard.server.auth import Gate
from modelyard.server.openapi import error_responses
from modelyard.server.routes import mount_operations
from modelyard.serving.history import OPERATIONS as HISTORY_OPERATIONS
from modelyard.serving.operations import OPERATIONS as SERVING_OPERATIONS
from modelyard.serving.rollouts import OPERATIONS as ROLLOUT_OPERATIONS
from modelyard.tracking.operations import OPERATIONS as TRACKING_OPERATIONS

log = logging.getLogger(__name__)

# Every operation the REST server mounts, in the order its OpenAPI document lists them.
ALL_OPERATIONS: tuple[Operation[Any, Any], ...] = (
    *TRACKING_OPERATIONS,
    *PIPELINE_OPERATIONS,
    *REGISTERED_PIPELINE_OPERATIONS,
    *REGISTRY_OPERATIONS,
    *SCHEDULE_OPERATIONS,
    *ENVIRONMENT_OPERATIONS,
    *SERVING_OPERATIONS,
    *ROLLOUT_OPERATIONS,
    *HISTORY_OPERATIONS,
    *GOVERNANCE_OPERATIONS,
    *ACCOUNT_OPERATIONS,
    *MEMBER_OPERATIONS,
    *APPROVAL_OPERATIONS,
    *SECRET_OPERATIONS,
    *CARD_OPERATIONS,
    *LINEAGE_OPERATIONS,
    *HOUSEKEEPING_OPERATIONS,
    *RETENTION_OPERATIONS,
)


_BLOBS = API_PREFIX + "/blobs/"
_CHUNK = 1024 * 1024


def error_response(error: ModelyardError) -> JSONResponse:
    # A 401 says how to authenticate (RFC 9110, section 11.6.1).
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthenticated) else None
    return JSONResponse({"error": error.to_dict()}, status_code=error.http_status, headers=headers)


class StoredBlob(BaseModel):
    sha256: str
    size: int


# Documented here; checked by the blob store, whose refusal names the address it got.
BlobAddress = Annotated[
    str,
    Path(
        description="the SHA-256 of the blob's content",
        json_schema_extra={"pattern": "^[0-9a-f]{64}$", "minLength": 64, "maxLength": 64},
    ),
]


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _mount_blobs(app: FastAPI, backend: LocalBackend, limit: int, gate: Gate) -> None:
    blobs = backend.blobs

    def too_large() -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the upload is larger than {limit} bytes, the most this server stores in one "
            "artifact (MODELYARD_MAX_BLOB_BYTES on the server)",
            details={"limit": limit},
        )

    @app.head(
        _BLOBS + "{sha256}",
        tags=["artifacts"],
        summary="Whether a blob is stored",
        responses=error_responses(400, 404, 503),
    )
    def head_blob(sha256: BlobAddress, request: Request) -> Response:
        gate.allow(request, "artifacts:read", "blobs.head")
        # A client that hears 200 skips the upload and then names the blob in a record:
        # the claim counts as storing it again, so a gc running meanwhile keeps it.
        info = blobs.claim(sha256)
        return Response(headers={"content-length": str(info.size)})

    @app.get(
        _BLOBS + "{sha256}",
        tags=["artifacts"],
        summary="Download a blob",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}},
            **error_responses(400, 404, 503),
        },
    )
    def get_blob(sha256: BlobAddress, request: Request) -> StreamingResponse:
        gate.allow(request, "artifacts:read", "blobs.get")
        info = blobs.info(sha256)
        stream = blobs.open(sha256)

        def chunks() -> Any:
            with stream:
                while chunk := stream.read(_CHUNK):
                    yield chunk

        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={"content-length": str(info.size)},
        )

    @app.put(
        _BLOBS + "{sha256}",
        tags=["artifacts"],
        summary="Upload a blob by its SHA-256",
        response_model=StoredBlob,
        responses=error_responses(400, 413, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            },
        },
    )
    async def put_blob(sha256: BlobAddress, request: Request) -> StoredBlob:
        await run_in_threadpool(gate.allow, request, "artifacts:write", "blobs.put")
        declared = _declared_length(request)
        if declared is not None and declared > limit:
            raise too_large()
        # Spool to a temporary file so a large upload never sits in memory, hashing as it
        # arrives: content that does not match its address is refused before it is stored.
        fd, tmp = tempfile.mkstemp(prefix="modelyard-upload-")
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise too_large()
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise InvalidInput(
                    f"uploaded content hashes to {digest.hexdigest()}, not {sha256}: the upload "
                    "was corrupted or sent to the wrong address"
                )
            info = await run_in_threadpool(blobs.put_file, tmp)
        finally:
            os.unlink(tmp)
        return StoredBlob(sha256=info.sha256, size=info.size)


def create_app(backend: LocalBackend, settings: Settings, *, auth: bool = False) -> FastAPI:
    """The FastAPI application serving ``backend``; with ``auth``, every request needs a
    token (``server/auth.py``) and the backend checks permissions for authenticated users."""
    if auth:
        backend.permissions = Authenticated()
    gate = Gate(backend, auth)
    app = FastAPI(
        title="Modelyard",
        version=modelyard.__version__,
        description="Self-hosted MLOps: tracking, registry, pipelines, serving, monitoring.",
    )

    @app.exception_handler(ModelyardError)
    async def _domain_error(_request: Request, exc: ModelyardError) -> JSONResponse:
        if exc.http_status >= 500 and type(exc) is ModelyardError:
            log.error("internal error: %s", exc.message, exc_info=exc)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        )
        return error_response(InvalidInput(f"invalid request: {problems}"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(
                NotFound(f"no route {request.method} {request.url.path}; see /docs")
            )
        body = {"code": "http_error", "message": str(exc.detail), "details": {}}
        return JSONResponse({"error": body}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error (a bug in Modelyard)")
        body = {
            "code": "internal",
            "message": f"internal error ({type(exc).__name__}); this is a bug, please report it",
            "details": {},
        }
        return JSONResponse({"error": body}, status_code=500)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="The store can be reached",
        responses={503: {"description": "The store cannot be reached"}},
    )
    def readyz() -> JSONResponse:
        try:
            with backend.db.read() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get(
        API_PREFIX + "/server-info",
        tags=["health"],
        summary="Version and backend",
        responses=error_responses(401),
    )
    def server_info(request: Request) -> dict[str, Any]:
        # The version tells an attacker which fixes a server lacks: only for callers.
        gate.allow(request, "server:read", "server.info")
        return {"version": modelyard.__version__, "store": backend.db.dialect}

    mount_operations(app, ALL_OPERATIONS, backend, gate)
    _mount_blobs(app, backend, settings.max_blob_bytes, gate)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes, exempt=(_BLOBS,))
    return app
