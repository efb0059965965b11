"""Fetch model files from a remote URI (``s3://`` or ``http(s)://``) into a local folder.

Registering copies the files into the artifact store anyway (a version's files must stay
immutable, which a bucket or a web server does not promise), so they are streamed to a
temporary folder first and registered from there like any local folder.

HTTP goes through ``core.outbound``: no loopback, private or link-local address unless the
settings allow it, and redirects only within the URL's own scheme, host and port.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from modelyard.config import Settings
from modelyard.errors import BackendUnavailable, InvalidInput, ModelyardError, NotFound
from modelyard.storage.artifacts import safe_target

REMOTE_SCHEMES = ("s3://", "http://", "https://")
_CHUNK = 1 << 20


def is_remote(source: str) -> bool:
    return source.startswith(REMOTE_SCHEMES)


def fetch(uri: str, dest: Path, settings: Settings) -> Path:
    """Download ``uri`` under ``dest``; returns the local file or folder to register."""
    if uri.startswith("s3://"):
        return _fetch_s3(uri, dest, settings)
    return _fetch_http(uri, dest, settings)


def _fetch_http(url: str, dest: Path, settings: Settings) -> Path:
    # Imported here: httpx and httpcore are not needed to start the CLI.
    import httpx

    # The guard loads httpx too: only a download from http(s) needs it.
    from modelyard.core import outbound

    policy = outbound.OutboundPolicy.from_settings(settings)
    try:
        with (
            outbound.open_client(policy, timeout=settings.http_timeout_seconds) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code == 404:
                raise NotFound(f"'{url}' answered 404: check the URL", details={"uri": url})
            if response.status_code >= 400:
                raise InvalidInput(
                    f"'{url}' answered {response.status_code}: the file cannot be downloaded",
                    details={"uri": url, "status": response.status_code},
                )
            # Named as the URL that answered: a redirect may lead from /latest to /v3.onnx.
            name = posixpath.basename(unquote(response.url.path)) or "model"
            target = safe_target(dest, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
    except httpx.InvalidURL as exc:
        # Not an HTTPError: httpx raises it for a URL it cannot even parse ("http://[::1").
        raise InvalidInput(
            f"'{url}' is not a valid URL: {exc}; check its host and port",
            details={"uri": url},
        ) from exc
    except httpx.TooManyRedirects as exc:
        raise InvalidInput(
            f"'{url}' redirected more than {outbound.MAX_REDIRECTS} times: use the URL of "
            "the file itself",
            details={"uri": url},
        ) from exc
    except httpx.HTTPError as exc:
        raise BackendUnavailable(f"cannot download '{url}': {exc}", details={"uri": url}) from exc
    return target


def _s3_filesystem(settings: Settings) -> Any:
    try:
        import s3fs
    except ImportError as exc:
        raise InvalidInput(
            "registering from s3:// needs s3fs: pip install 'modelyard[s3]'"
        ) from exc
    return s3fs.S3FileSystem(**settings.storage_options("s3://"))


def _fetch_s3(uri: str, dest: Path, settings: Settings) -> Path:
    fs = _s3_filesystem(settings)
    path = uri.removeprefix("s3://").rstrip("/")
    if not path:
        raise InvalidInput(f"'{uri}': use s3://BUCKET/KEY or s3://BUCKET/PREFIX/")
    try:
        if fs.isfile(path):
            target = safe_target(dest, posixpath.basename(path))
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(path, str(target))
            return target
        keys = [k for k in fs.find(path) if not k.endswith("/")]
        if not keys:
            raise NotFound(
                f"'{uri}' holds no objects: check the bucket and the key or prefix",
                details={"uri": uri},
            )
        root = dest / "model"
        for key in keys:
            target = safe_target(root, key[len(path) :].lstrip("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(key, str(target))
        return root
    except ModelyardError:
        raise
    except (FileNotFoundError, PermissionError) as exc:
        raise NotFound(f"cannot read '{uri}': {exc}", details={"uri": uri}) from exc
    except Exception as exc:  # botocore's errors (credentials, endpoint) share no base class
        raise BackendUnavailable(f"cannot read '{uri}': {exc}", details={"uri": uri}) from exc
