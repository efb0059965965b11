"""gc's blob-store side on S3 (moto): LastModified is the blob's age, a copy onto itself
the touch that makes a re-used blob young again."""

from __future__ import annotations

import time
from typing import Any

import pytest

from modelyard.storage.artifacts import BlobStore

pytestmark = pytest.mark.slow


@pytest.fixture
def store(endpoint: str, bucket: str) -> BlobStore:
    return BlobStore(
        f"s3://{bucket}/team/artifacts",
        storage_options={"client_kwargs": {"endpoint_url": endpoint}},
    )


def aged(store: BlobStore, *contents: bytes) -> tuple[list[str], float]:
    """Store ``contents``, then wait so they are older than the cutoff returned.

    LastModified has a resolution of one second: two seconds apart, with a cutoff one
    second back, "old" and "touched since" cannot be confused.
    """
    shas = [store.put_bytes(data).sha256 for data in contents]
    time.sleep(2)
    return shas, time.time() - 1


def test_listing_names_each_blob_and_only_blob_keys(store: BlobStore, s3: Any, bucket: str) -> None:
    a = store.put_bytes(b"a")
    s3.put_object(Bucket=bucket, Key="team/artifacts/blobs/aa/bb/notes.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="team/artifacts/inference/x.parquet", Body=b"x")
    assert [(b.sha256, b.size) for b in store.list_blobs()] == [(a.sha256, 1)]


def test_old_blob_is_deleted_and_one_stored_again_since_the_cutoff_survives(
    store: BlobStore,
) -> None:
    (old, reused, claimed), cutoff = aged(store, b"old", b"reused", b"claimed")
    assert all(b.modified < cutoff for b in store.list_blobs())
    store.put_bytes(b"reused")
    store.claim(claimed)
    assert store.delete_if_older(old, cutoff) is True
    assert store.delete_if_older(reused, cutoff) is False
    assert store.delete_if_older(claimed, cutoff) is False
    assert store.delete_if_older(old, cutoff) is False
    assert not store.exists(old)
    assert store.read_bytes(reused) == b"reused"
    assert store.read_bytes(claimed) == b"claimed"
