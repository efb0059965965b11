"""The remote backend: the same operations, sent to a Modelyard server over HTTP.

Nothing here knows any particular operation. Each call is derived from the operation's
declaration: its method, its path template (filled from the request's fields), the rest of
the request as a query string (GET/DELETE) or a JSON body, and its response model.

Retries: a connection that could not be opened never reached the server, so any call is
retried then; a call that may have reached the server is retried only if the operation is
idempotent.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx

from modelyard.core.http_api import API_PREFIX, REASON_HEADER, USER_HEADER, WORKSPACE_HEADER
from modelyard.core.operations import Operation, Req, Resp, workspace_of
from modelyard.core.roles import DEFAULT_WORKSPACE
from modelyard.errors import BackendUnavailable, ModelyardError, error_from_dict
from modelyard.storage.artifacts import BlobInfo

_CHUNK = 1024 * 1024


def _raise_for_error(response: httpx.Response) -> None:
    # 202: a protected change became an approval request, sent as the error body says.
    if response.is_success and response.status_code != 202:
        return
    try:
        body = response.json()
        error = body["error"]
    except (ValueError, KeyError, TypeError):
        raise ModelyardError(
            f"server answered {response.status_code}: {response.text[:300]}"
        ) from None
    raise error_from_dict(error)


class RemoteBackend:
    """A ``Backend`` that talks to ``modelyard server`` at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        user: str,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        token: str | None = None,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.workspace = workspace
        headers = {USER_HEADER: user, WORKSPACE_HEADER: workspace}
        if token:
            # With auth on the server takes the actor from the token, not USER_HEADER.
            headers["Authorization"] = f"Bearer {token}"
        # One client for the backend's life: connections are kept alive and reused.
        self._http = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            timeout=timeout,
            transport=transport,
            headers=headers,
        )

    def _send(self, build: httpx.Request, *, idempotent: bool) -> httpx.Response:
        attempt = 0
        while True:
            try:
                return self._http.send(build)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt >= self.retries or not (never_sent or idempotent):
                    raise BackendUnavailable(
                        f"cannot reach the Modelyard server at {self.base_url}: {exc!s} "
                        "(is `modelyard server` running and MODELYARD_URI right?)"
                    ) from exc
                time.sleep(min(0.1 * 2**attempt, 2.0))
                attempt += 1

    def call(
        self,
        op: Operation[Req, Resp],
        request: Req,
        *,
        reason: str | None = None,
        workspace: str | None = None,
    ) -> Resp:
        path = op.path.format(**{name: getattr(request, name) for name in op.path_params})
        headers = {REASON_HEADER: reason} if reason else {}
        # The workspace travels as a header, whichever way it was named (see workspace_of).
        where = workspace_of(op, request, workspace or self.workspace)
        if where != self.workspace:
            headers[WORKSPACE_HEADER] = where
        if op.method in ("GET", "DELETE"):
            fields = request.model_dump(mode="python", by_alias=True, exclude=set(op.path_params))
            params = {k: v for k, v in fields.items() if v is not None}
            req = self._http.build_request(op.method, path, params=params, headers=headers)
        else:
            req = self._http.build_request(
                op.method,
                path,
                content=request.model_dump_json(by_alias=True),
                headers={**headers, "Content-Type": "application/json"},
            )
        response = self._send(req, idempotent=op.idempotent)
        _raise_for_error(response)
        return op.response.model_validate_json(response.content)  # type: ignore[no-any-return,attr-defined]

    def put_blob(self, path: str | os.PathLike[str]) -> BlobInfo:
        with open(path, "rb") as f:
            sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        size = Path(path).stat().st_size
        head = self._send(self._http.build_request("HEAD", f"/blobs/{sha256}"), idempotent=True)
        if head.status_code == 200:
            return BlobInfo(sha256=sha256, size=size)
        with open(path, "rb") as f:
            # A PUT of content-addressed bytes is idempotent: the same body, the same blob.
            response = self._send(
                self._http.build_request("PUT", f"/blobs/{sha256}", content=f),
                idempotent=False,
            )
        _raise_for_error(response)
        return BlobInfo(sha256=sha256, size=size)

    def put_blob_bytes(self, data: bytes) -> BlobInfo:
        sha256 = hashlib.sha256(data).hexdigest()
        head = self._send(self._http.build_request("HEAD", f"/blobs/{sha256}"), idempotent=True)
        if head.status_code != 200:
            response = self._send(
                self._http.build_request("PUT", f"/blobs/{sha256}", content=data),
                idempotent=True,  # in memory, so a retry can send the same body again
            )
            _raise_for_error(response)
        return BlobInfo(sha256=sha256, size=len(data))

    def get_blob(self, sha256: str, dest: str | os.PathLike[str]) -> BlobInfo:
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        digest = hashlib.sha256()
        size = 0
        with self._http.stream("GET", f"/blobs/{sha256}") as response:
            if not response.is_success:
                response.read()
                _raise_for_error(response)
            with open(partial, "wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        if digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            raise ModelyardError(f"blob {sha256} arrived corrupted (hash mismatch); retry")
        os.replace(partial, target)
        return BlobInfo(sha256=sha256, size=size)

    def describe(self) -> dict[str, Any]:
        response = self._send(self._http.build_request("GET", "/server-info"), idempotent=True)
        _raise_for_error(response)
        info: dict[str, Any] = {"backend": "http", "server": self.base_url}
        info.update(json.loads(response.content))
        return info

    def close(self) -> None:
        self._http.close()
