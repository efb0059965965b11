"""Run artifacts on S3: the whole path from the client to an S3-compatible server.

Embedded (the client writes to S3 itself) and through the REST server (the server writes
to S3; the client only speaks HTTP).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from modelyard.client.client import Client
from modelyard.core.backend import open_local_backend
from modelyard.core.remote import RemoteBackend
from tests.conftest import make_settings, running_server

pytestmark = pytest.mark.slow


def s3_keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def exercise(client: Client, tmp_path: Path) -> tuple[str, str]:
    """Log a folder and a large file, download them back; returns (run id, big file sha)."""
    run = client.create_run(client.create_experiment("s3").id)
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    (folder / "b.txt").write_text("alpha")  # identical content: one blob
    big = tmp_path / "weights.bin"
    big.write_bytes(bytes(range(256)) * 40_000)  # ~10 MiB, several upload chunks
    client.log_artifacts(run.id, folder, "report")
    client.log_artifact(run.id, big, "model")
    out = tmp_path / "out"
    client.download_artifacts(run.id, None, out)
    assert (out / "report" / "a.txt").read_text() == "alpha"
    assert (out / "model" / "weights.bin").read_bytes() == big.read_bytes()
    return run.id, hashlib.sha256(big.read_bytes()).hexdigest()


def test_embedded_client_stores_artifacts_on_s3(
    endpoint: str, bucket: str, s3: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, artifact_root=f"s3://{bucket}/ml", s3_endpoint_url=endpoint)
    backend = open_local_backend(settings)
    try:
        _, big_sha = exercise(Client(settings=settings, backend=backend), tmp_path)
    finally:
        backend.close()
    blobs = [k for k in s3_keys(s3, bucket) if k.startswith("ml/blobs/")]
    assert f"ml/blobs/{big_sha[:2]}/{big_sha[2:4]}/{big_sha}" in blobs
    assert len(blobs) == 2  # "alpha" once, the weights once
    assert not [k for k in s3_keys(s3, bucket) if k.startswith("ml/tmp/")]


def test_server_stores_artifacts_on_s3(endpoint: str, bucket: str, s3: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, artifact_root=f"s3://{bucket}/srv", s3_endpoint_url=endpoint)
    with running_server(settings) as (server, _):
        remote = RemoteBackend(server.url, user="tester")
        try:
            _, big_sha = exercise(Client(settings=settings, backend=remote), tmp_path)
        finally:
            remote.close()
    assert f"srv/blobs/{big_sha[:2]}/{big_sha[2:4]}/{big_sha}" in s3_keys(s3, bucket)
