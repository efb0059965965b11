"""BlobStore on S3 (s3fs against a moto server on a free local port; no real AWS needed)."""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from modelyard.errors import InvalidInput, NotFound
from modelyard.storage.artifacts import BlobInfo, BlobStore

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
PREFIX = "team/artifacts"


@pytest.fixture
def store(endpoint: str, bucket: str) -> BlobStore:
    return BlobStore(
        f"s3://{bucket}/{PREFIX}", storage_options={"client_kwargs": {"endpoint_url": endpoint}}
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def keys(s3: Any, bucket: str, under: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/{under}")
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def blob_key(digest: str) -> str:
    return f"{PREFIX}/blobs/{digest[:2]}/{digest[2:4]}/{digest}"


def assert_nothing_left_behind(s3: Any, bucket: str) -> None:
    assert keys(s3, bucket, "tmp/") == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_root_is_the_s3_url(store: BlobStore, bucket: str) -> None:
    assert store.root == f"s3://{bucket}/{PREFIX}"


def test_bucketless_root_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no bucket"):
        BlobStore("s3://")


def test_put_file_stream_and_bytes(store: BlobStore, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    source = tmp_path / "model.skops"
    source.write_bytes(data)
    expected = BlobInfo(sha(data), len(data))

    assert store.put_file(source) == expected
    assert store.put_stream(io.BytesIO(data)) == expected
    assert store.put_bytes(data) == expected

    assert keys(s3, bucket, "blobs/") == [blob_key(expected.sha256)]
    assert s3.get_object(Bucket=bucket, Key=blob_key(expected.sha256))["Body"].read() == data
    assert_nothing_left_behind(s3, bucket)


def test_exists_info_open_get_file(store: BlobStore, tmp_path: Path) -> None:
    data = b"weights" * 1000
    info = store.put_bytes(data)
    assert store.exists(info.sha256)
    assert store.info(info.sha256) == info
    assert store.read_bytes(info.sha256) == data
    with store.open(info.sha256) as f:
        assert f.read(7) == b"weights"
        assert f.read() == data[7:]
    dest = tmp_path / "out" / "model.bin"
    assert store.get_file(info.sha256, dest) == info
    assert dest.read_bytes() == data
    assert os.listdir(dest.parent) == ["model.bin"]


def test_absent_blob_is_not_found(store: BlobStore, tmp_path: Path) -> None:
    absent = sha(b"never stored")
    assert not store.exists(absent)
    with pytest.raises(NotFound, match=absent):
        store.info(absent)
    with pytest.raises(NotFound):
        store.open(absent)
    with pytest.raises(NotFound):
        store.get_file(absent, tmp_path / "x")
    with pytest.raises(InvalidInput):
        store.exists("../" * 21 + "a")


def test_second_put_uploads_nothing_and_only_touches(
    store: BlobStore, s3: Any, bucket: str, tmp_path: Path
) -> None:
    # With versioning on, every write of a key adds a version: an exact count of writes.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    small = os.urandom(1000)
    large = os.urandom(17 * MiB)  # above one part: the hash-first path of put_file
    source = tmp_path / "large.bin"
    source.write_bytes(large)
    for _ in range(2):
        store.put_bytes(small)
        store.put_stream(io.BytesIO(small))
        store.put_file(source)

    versions = s3.list_object_versions(Bucket=bucket, Prefix=f"{PREFIX}/blobs/")["Versions"]
    # One upload each; every later put of the same content is one server-side copy onto
    # itself (a new LastModified, so a running gc keeps it): three for the small blob, one
    # for the large. No temporary object and no multipart upload is left.
    assert sorted(v["Key"] for v in versions) == sorted(
        [blob_key(sha(small))] * 4 + [blob_key(sha(large))] * 2
    )
    assert_nothing_left_behind(s3, bucket)


def test_large_file_goes_straight_to_its_final_key_in_parts(
    store: BlobStore, s3: Any, bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(20 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    info = store.put_file(source)
    assert info == BlobInfo(sha(data), len(data))
    head = s3.head_object(Bucket=bucket, Key=blob_key(info.sha256))
    assert head["ETag"].strip('"').endswith("-2")  # a two-part multipart upload
    assert head["ContentLength"] == len(data)
    assert_nothing_left_behind(s3, bucket)


def test_large_stream_is_uploaded_in_parts_then_moved(
    store: BlobStore, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    data = os.urandom(20 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    with open(source, "rb") as f:
        info = store.put_stream(f)
    assert info == BlobInfo(sha(data), len(data))

    # The temporary object was a multipart upload, and is gone (only its history remains).
    (tmp_version,) = s3.list_object_versions(Bucket=bucket, Prefix=f"{PREFIX}/tmp/")["Versions"]
    assert tmp_version["ETag"].strip('"').endswith("-2")
    assert_nothing_left_behind(s3, bucket)

    dest = tmp_path / "back.bin"
    assert store.get_file(info.sha256, dest) == info
    assert dest.read_bytes() == data


def test_concurrent_puts_of_same_content(store: BlobStore, s3: Any, bucket: str) -> None:
    data = os.urandom(50_000)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: store.put_stream(io.BytesIO(data)), range(8)))
    assert set(results) == {BlobInfo(sha(data), len(data))}
    assert keys(s3, bucket, "blobs/") == [blob_key(sha(data))]
    assert store.read_bytes(sha(data)) == data


def test_upload_whose_hash_does_not_match_never_appears(
    store: BlobStore, s3: Any, bucket: str
) -> None:
    # What put_file does when the file changes between hashing and uploading: the multipart
    # upload is aborted instead of completed, so the final key never holds the wrong bytes.
    backend: Any = store._backend
    data = os.urandom(17 * MiB)
    claimed = BlobInfo("0" * 64, len(data))
    uploaded = backend._upload(f"{bucket}/{blob_key(claimed.sha256)}", [data], expect=claimed)
    assert uploaded == BlobInfo(sha(data), len(data))
    assert not store.exists(claimed.sha256)
    assert keys(s3, bucket, "") == []
    assert_nothing_left_behind(s3, bucket)
