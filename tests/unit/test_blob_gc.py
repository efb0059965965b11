"""The blob store's side of gc on a local folder: listing, touching, deleting only the old."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modelyard.errors import NotFound
from modelyard.storage.artifacts import BlobStore

OLD = 1_000_000_000.0  # 2001: older than any grace period


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(str(tmp_path / "artifacts"))


def path_of(store: BlobStore, sha256: str) -> Path:
    return Path(store.root) / "blobs" / sha256[:2] / sha256[2:4] / sha256


def backdate(store: BlobStore, sha256: str) -> None:
    os.utime(path_of(store, sha256), (OLD, OLD))


def test_listing_names_each_blob_with_size_and_time_and_skips_strays(store: BlobStore) -> None:
    a, b = store.put_bytes(b"a"), store.put_bytes(b"bb")
    backdate(store, a.sha256)
    stray = path_of(store, a.sha256).with_name("notes.txt")
    stray.write_text("not a blob")
    listed = {blob.sha256: blob for blob in store.list_blobs()}
    assert set(listed) == {a.sha256, b.sha256}
    assert (listed[a.sha256].size, listed[a.sha256].modified) == (1, OLD)
    assert listed[b.sha256].modified > time.time() - 60
    assert stray.exists()


def test_only_a_blob_older_than_the_cutoff_is_deleted(store: BlobStore) -> None:
    old, young = store.put_bytes(b"old"), store.put_bytes(b"young")
    backdate(store, old.sha256)
    cutoff = time.time() - 3600
    assert store.delete_if_older(old.sha256, cutoff) is True
    assert store.delete_if_older(young.sha256, cutoff) is False
    assert store.delete_if_older(old.sha256, cutoff) is False  # already gone
    assert not store.exists(old.sha256)
    assert store.read_bytes(young.sha256) == b"young"
    assert list((Path(store.root) / "tmp").iterdir()) == []


@pytest.mark.parametrize("how", ["bytes", "file", "stream", "claim"])
def test_a_blob_stored_again_after_the_listing_survives(
    store: BlobStore, tmp_path: Path, how: str
) -> None:
    data = b"model weights"
    info = store.put_bytes(data)
    backdate(store, info.sha256)
    cutoff = time.time() - 3600
    assert [b.modified < cutoff for b in store.list_blobs()] == [True]  # a candidate
    source = tmp_path / "again"
    source.write_bytes(data)
    if how == "bytes":
        store.put_bytes(data)
    elif how == "file":
        store.put_file(source)
    elif how == "stream":
        with open(source, "rb") as f:
            store.put_stream(f)
    else:
        assert store.claim(info.sha256) == info
    assert store.delete_if_older(info.sha256, cutoff) is False
    assert store.read_bytes(info.sha256) == data


def test_a_put_finding_its_blob_deleted_under_it_stores_it_again(store: BlobStore) -> None:
    info = store.put_bytes(b"x")
    backdate(store, info.sha256)
    store.delete_if_older(info.sha256, time.time())
    assert store.put_bytes(b"x") == info
    assert store.read_bytes(info.sha256) == b"x"


def test_claiming_an_absent_blob_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.claim("0" * 64)
