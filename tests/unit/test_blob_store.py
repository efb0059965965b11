"""BlobStore on a local folder: layout, deduplication, atomic writes, streaming, validation."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.storage.artifacts import BlobInfo, BlobStore

MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(str(tmp_path / "artifacts"))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_files(store: BlobStore) -> list[Path]:
    return sorted(p for p in (Path(store.root) / "blobs").rglob("*") if p.is_file())


def tmp_files(store: BlobStore) -> list[Path]:
    return list((Path(store.root) / "tmp").iterdir())


def test_root_is_created_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = BlobStore("nested/artifacts")
    assert store.root == str(tmp_path / "nested" / "artifacts")
    assert (tmp_path / "nested" / "artifacts" / "blobs").is_dir()
    assert BlobStore(f"file://{tmp_path}/other").root == str(tmp_path / "other")


@pytest.mark.parametrize("root", ["", "gs://bucket/prefix", "http://example.com/x"])
def test_unsupported_roots_are_refused(root: str) -> None:
    with pytest.raises(InvalidInput):
        BlobStore(root)


def test_put_bytes_stores_under_sharded_sha_path(store: BlobStore) -> None:
    data = b"hello modelyard"
    digest = sha(data)
    assert store.put_bytes(data) == BlobInfo(digest, len(data))
    path = Path(store.root) / "blobs" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data
    assert store.exists(digest)
    assert store.info(digest) == BlobInfo(digest, len(data))
    assert store.read_bytes(digest) == data


def test_file_stream_and_bytes_of_same_content_agree(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 17)  # several chunks plus a ragged end
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    expected = BlobInfo(sha(data), len(data))
    assert store.put_file(source) == expected
    assert store.put_file(str(source)) == expected
    assert store.put_stream(io.BytesIO(data)) == expected
    assert store.put_bytes(data) == expected
    assert len(blob_files(store)) == 1
    with store.open(expected.sha256) as f:
        assert f.read(10) == data[:10]
        assert f.read() == data[10:]


def test_empty_content_is_a_blob(store: BlobStore) -> None:
    info = store.put_bytes(b"")
    assert info == BlobInfo(sha(b""), 0)
    assert store.read_bytes(info.sha256) == b""


@pytest.mark.parametrize("how", ["file", "stream", "bytes"])
def test_second_put_of_same_content_writes_nothing_but_the_time(
    store: BlobStore, tmp_path: Path, how: str
) -> None:
    data = b"x" * 1000
    source = tmp_path / "src"
    source.write_bytes(data)
    first = store.put_bytes(data)
    (path,) = blob_files(store)
    # Backdate the blob so any rewrite, even within the clock's resolution, shows in its mtime.
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    inode = path.stat().st_ino

    if how == "file":
        again = store.put_file(source)
    elif how == "stream":
        again = store.put_stream(io.BytesIO(data))
    else:
        again = store.put_bytes(data)

    assert again == first
    assert blob_files(store) == [path]
    assert path.stat().st_ino == inode
    assert tmp_files(store) == []
    # Touched: the re-use counts as young, so a gc running meanwhile keeps the blob.
    assert path.stat().st_mtime_ns > 1_000_000_000


def test_put_repairs_a_blob_of_the_wrong_size(store: BlobStore) -> None:
    info = store.put_bytes(b"the real content")
    (path,) = blob_files(store)
    path.write_bytes(b"trunc")
    assert store.put_bytes(b"the real content") == info
    assert path.read_bytes() == b"the real content"


def test_nothing_left_in_tmp_after_puts(store: BlobStore) -> None:
    for i in range(5):
        store.put_stream(io.BytesIO(f"blob {i}".encode()))
    assert tmp_files(store) == []
    assert len(blob_files(store)) == 5


def test_failed_stream_leaves_no_temporary_file(store: BlobStore) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            self.calls += 1
            if self.calls > 2:
                raise OSError("connection reset")
            buffer[:4] = b"data"
            return 4

    with pytest.raises(OSError, match="connection reset"):
        store.put_stream(Broken())  # type: ignore[arg-type]
    assert tmp_files(store) == []
    assert blob_files(store) == []


def test_text_stream_is_refused(store: BlobStore) -> None:
    with pytest.raises(InvalidInput, match="binary"):
        store.put_stream(io.StringIO("text"))  # type: ignore[arg-type]
    assert tmp_files(store) == []


def test_put_file_of_missing_file_or_folder_is_invalid_input(
    store: BlobStore, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="readable file"):
        store.put_file(tmp_path / "nope")
    with pytest.raises(InvalidInput, match="readable file"):
        store.put_file(tmp_path)


def test_absent_blob_is_not_found(store: BlobStore, tmp_path: Path) -> None:
    absent = sha(b"never stored")
    assert not store.exists(absent)
    with pytest.raises(NotFound, match=absent):
        store.info(absent)
    with pytest.raises(NotFound):
        store.open(absent)
    with pytest.raises(NotFound):
        store.read_bytes(absent)
    with pytest.raises(NotFound):
        store.get_file(absent, tmp_path / "out" / "x")
    assert not (tmp_path / "out" / "x").exists()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "A" * 64,  # uppercase is not the canonical spelling
        "g" * 64,
        "0" * 63,
        "0" * 65,
        "../" * 21 + "a",
        "00/" + "0" * 61,
        "0" * 63 + "\n",
    ],
)
def test_malformed_hashes_are_invalid_input(store: BlobStore, tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidInput, match="64 lowercase hexadecimal"):
        store.exists(bad)
    with pytest.raises(InvalidInput):
        store.info(bad)
    with pytest.raises(InvalidInput):
        store.open(bad)
    with pytest.raises(InvalidInput):
        store.read_bytes(bad)
    with pytest.raises(InvalidInput):
        store.get_file(bad, tmp_path / "out")


def test_get_file_copies_atomically_into_new_folder(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(2 * MiB + 5)
    info = store.put_bytes(data)
    dest = tmp_path / "download" / "deep" / "model.bin"
    assert store.get_file(info.sha256, dest) == info
    assert dest.read_bytes() == data
    assert os.listdir(dest.parent) == ["model.bin"]  # no temporary file left beside it


def test_get_file_replaces_existing_file(store: BlobStore, tmp_path: Path) -> None:
    info = store.put_bytes(b"new")
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"old content")
    store.get_file(info.sha256, str(dest), verify=False)
    assert dest.read_bytes() == b"new"


def test_get_file_into_a_folder_is_invalid_input(store: BlobStore, tmp_path: Path) -> None:
    info = store.put_bytes(b"x")
    with pytest.raises(InvalidInput, match="folder"):
        store.get_file(info.sha256, tmp_path)


def test_get_file_detects_corruption_and_leaves_dest_alone(
    store: BlobStore, tmp_path: Path
) -> None:
    info = store.put_bytes(b"precious weights")
    (path,) = blob_files(store)
    path.write_bytes(b"precious weightz")  # same size: only the hash can tell
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"previous")

    with pytest.raises(ModelyardError, match=f"blob {info.sha256} .* corrupt"):
        store.get_file(info.sha256, dest)
    assert dest.read_bytes() == b"previous"
    assert os.listdir(tmp_path / "artifacts" / "tmp") == []
    assert sorted(os.listdir(tmp_path)) == ["artifacts", "model.bin"]

    store.get_file(info.sha256, dest, verify=False)  # the caller may still choose to look
    assert dest.read_bytes() == b"precious weightz"


def test_concurrent_puts_of_same_content_are_safe(store: BlobStore) -> None:
    data = os.urandom(3 * MiB)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: store.put_stream(io.BytesIO(data)), range(16)))
    assert set(results) == {BlobInfo(sha(data), len(data))}
    assert len(blob_files(store)) == 1
    assert store.read_bytes(sha(data)) == data
    assert tmp_files(store) == []


def test_put_file_streams_without_reading_whole_file(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with open(source, "wb") as f:
        for i in range(64):
            f.write(i.to_bytes(8, "big") + block[8:])

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        info = store.put_file(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert info.size == 64 * MiB
    assert peak < 8 * MiB, f"peak Python allocation {peak / MiB:.1f} MiB"
    with open(source, "rb") as f:
        assert info.sha256 == hashlib.file_digest(f, "sha256").hexdigest()


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=4096))
def test_put_then_read_round_trips(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    store = BlobStore(str(tmp_path_factory.mktemp("prop")))
    info = store.put_bytes(data)
    assert info == BlobInfo(sha(data), len(data))
    assert store.read_bytes(info.sha256) == data


def test_importing_the_store_does_not_import_fsspec() -> None:
    code = (
        "import sys, modelyard.storage.artifacts; "
        "assert 'fsspec' not in sys.modules, 'fsspec imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
