"""Content-addressed blobs on a local folder or S3 (DESIGN.md invariant 5).

A blob is stored once, under the SHA-256 of its bytes, at
``<root>/blobs/<sha[:2]>/<sha[2:4]>/<sha>``; the two fan-out levels keep any one folder (or S3
listing) small. Content is streamed in ``CHUNK_SIZE`` pieces and hashed while it is copied, so a
blob of any size costs a bounded amount of memory.

A final path only ever holds complete, correct bytes: writes go to a uniquely named temporary
object first and are moved into place in one atomic step. Because the name is the hash, puts of
the same content from several threads or processes race harmlessly: whichever finishes last
replaces identical bytes with identical bytes.

A put that finds its content already stored refreshes the blob's modification time (the
"touch"), and so does ``claim``: garbage collection (``list_blobs``, ``delete_if_older``)
only deletes blobs older than its grace period, so a blob someone is about to reference
again counts as young however long ago it was first stored.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from modelyard.errors import Conflict, InvalidInput, ModelyardError, NotFound

__all__ = ["CHUNK_SIZE", "BlobInfo", "BlobStore", "ListedBlob"]

_log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
"""Bytes read, hashed and written per step when streaming."""

# S3 multipart part size. Parts must be >= 5 MiB and an upload has at most 10,000 of them, so a
# streamed blob can reach ~156 GiB; each upload buffers one part in memory.
_S3_PART_SIZE = 16 * 1024 * 1024
# CopyObject refuses larger sources; beyond it s3fs copies in parts (UploadPartCopy).
_S3_COPY_LIMIT = 5 * 1024**3
# Range size for S3 reads: large enough to keep request count low, small enough for memory.
_S3_READ_BLOCK = 8 * 1024 * 1024

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What the store knows about a blob: its content hash and length."""

    sha256: str  # lowercase hex
    size: int


@dataclass(frozen=True, slots=True)
class ListedBlob:
    """A stored blob as a listing sees it: hash, length and when it was last stored or
    claimed (epoch seconds, the store's own clock)."""

    sha256: str
    size: int
    modified: float


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def _check_sha256(sha256: str) -> str:
    # The hash becomes part of a path, so this check is also what stops path traversal.
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise InvalidInput(
            f"invalid blob hash {sha256!r}: expected 64 lowercase hexadecimal characters "
            "(a SHA-256 digest)",
            details={"sha256": repr(sha256)},
        )
    return sha256


def _blob_relpath(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """Yield the rest of ``stream`` in pieces of at most ``CHUNK_SIZE`` bytes."""
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            return
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise InvalidInput(
                f"expected a binary stream, but read returned {type(chunk).__name__}; "
                "open the file in binary mode ('rb')"
            )
        yield chunk


def _copy(chunks: Iterable[bytes], dst: BinaryIO | None, hasher: _Hasher | None) -> int:
    size = 0
    for chunk in chunks:
        if hasher is not None:
            hasher.update(chunk)
        if dst is not None:
            dst.write(chunk)
        size += len(chunk)
    return size


@contextmanager
def _open_source(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    try:
        src = open(path, "rb")  # noqa: SIM115 - closed by the with-block below
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        raise InvalidInput(
            f"cannot store {os.fspath(path)!r}: {exc.strerror}; pass the path of a readable file",
            details={"path": os.fspath(path)},
        ) from exc
    with src:
        yield src


@contextmanager
def _exclusive_temp(final: Path) -> Iterator[tuple[Path, BinaryIO]]:
    """Open a new, uniquely named file beside ``final``; remove it unless it was moved away."""
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")
    try:
        with open(tmp, "xb") as out:
            yield tmp, out
    finally:
        tmp.unlink(missing_ok=True)


def _flush_to_disk(out: BinaryIO) -> None:
    # fsync before the rename: otherwise a crash can leave the new name pointing at an empty or
    # partial file, which is exactly the half-written blob the rename is meant to prevent.
    out.flush()
    os.fsync(out.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself survive a crash; the metadata database may reference the blob as
    # soon as put returns. Directories cannot be opened for fsync on Windows.
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Backend(Protocol):
    @property
    def root(self) -> str: ...
    def size_of(self, sha256: str) -> int | None: ...
    def open(self, sha256: str) -> BinaryIO: ...
    def put_stream(self, stream: BinaryIO) -> BlobInfo: ...
    def put_file(self, path: str | os.PathLike[str]) -> BlobInfo: ...
    def put_bytes(self, data: bytes) -> BlobInfo: ...
    def touch(self, sha256: str) -> bool: ...
    def list_blobs(self) -> Iterator[ListedBlob]: ...
    def delete_if_older(self, sha256: str, cutoff: float) -> bool: ...


class _LocalBackend:
    """Plain os/pathlib calls: a local folder needs none of fsspec's indirection."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        (root / "blobs").mkdir(exist_ok=True)

    @property
    def root(self) -> str:
        return str(self._root)

    def _path(self, sha256: str) -> Path:
        return self._root / _blob_relpath(sha256)

    def size_of(self, sha256: str) -> int | None:
        try:
            return self._path(sha256).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._path(sha256), "rb")
        except FileNotFoundError:
            raise NotFound.of("blob", sha256) from None

    def put_stream(self, stream: BinaryIO) -> BlobInfo:
        # One pass: copy into <root>/tmp while hashing, then rename. tmp/ is on the same file
        # system as blobs/, which is what makes os.replace atomic.
        with _exclusive_temp(self._tmp / "put") as (tmp, out):
            hasher = hashlib.sha256()
            size = _copy(_chunks(stream), out, hasher)
            _flush_to_disk(out)
            out.close()
            info = BlobInfo(hasher.hexdigest(), size)
            self._commit(tmp, info)
        return info

    def put_file(self, path: str | os.PathLike[str]) -> BlobInfo:
        with _open_source(path) as src:
            # Reading to hash is far cheaper than copying and fsyncing: when the content is
            # already stored (re-registering, re-logging), nothing is written at all.
            hasher = hashlib.sha256()
            size = _copy(_chunks(src), None, hasher)
            known = BlobInfo(hasher.hexdigest(), size)
            if self.size_of(known.sha256) == known.size and self.touch(known.sha256):
                return known
            src.seek(0)
            # Hashed again while copying: the stored name always matches the bytes stored.
            return self.put_stream(src)

    def put_bytes(self, data: bytes) -> BlobInfo:
        info = BlobInfo(hashlib.sha256(data).hexdigest(), len(data))
        if self.size_of(info.sha256) == info.size and self.touch(info.sha256):
            return info
        return self.put_stream(io.BytesIO(data))

    def _commit(self, tmp: Path, info: BlobInfo) -> None:
        final = self._path(info.sha256)
        # A blob of the right size is the same content (its name is its hash); leaving it
        # in place is the deduplication (touched, so a running gc keeps it); a touch that
        # finds it gone means gc took it meanwhile, so it is stored again. A wrong size means
        # damage, so it is replaced.
        if self.size_of(info.sha256) == info.size and self.touch(info.sha256):
            _log.debug("blob %s already stored", info.sha256)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, final)
        except PermissionError:
            # Windows refuses to replace a file another process holds open; if that file is
            # this very blob, a concurrent put has already done the work.
            if self.size_of(info.sha256) != info.size:
                raise
            return
        _fsync_dir(final.parent)
        _log.debug("stored blob %s (%d bytes)", info.sha256, info.size)

    def touch(self, sha256: str) -> bool:
        try:
            os.utime(self._path(sha256))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def list_blobs(self) -> Iterator[ListedBlob]:
        for first in _subfolders(self._root / "blobs"):
            for second in _subfolders(first):
                with os.scandir(second) as entries:
                    for entry in entries:
                        if not _SHA256_HEX.fullmatch(entry.name):
                            continue  # a stray file is not a blob: never listed, never deleted
                        with suppress(FileNotFoundError):
                            st = entry.stat()
                            yield ListedBlob(entry.name, st.st_size, st.st_mtime)

    def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        # Moved aside first, then judged by its time: a put racing this either touched the
        # blob before the move (seen here: moved back) or finds it gone and stores it again.
        # A check-then-unlink would lose a touch that lands between the two.
        aside = self._tmp / f"gc.{sha256}.{uuid.uuid4().hex}"
        try:
            os.rename(self._path(sha256), aside)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            if aside.stat().st_mtime >= cutoff:
                # Back in place; a copy stored meanwhile holds the same bytes (its name is
                # its hash), so replacing it loses nothing.
                os.replace(aside, self._path(sha256))
                return False
        except BaseException:
            with suppress(OSError):
                os.replace(aside, self._path(sha256))
            raise
        aside.unlink()
        return True


def _subfolders(folder: Path) -> Iterator[Path]:
    try:
        with os.scandir(folder) as entries:
            found = sorted(e.path for e in entries if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return
    for path in found:
        yield Path(path)


class _S3Backend:
    """S3 through s3fs. Every final key is written by one atomic S3 operation.

    A PutObject, a CompleteMultipartUpload and a CopyObject each make the whole object appear at
    once, so no reader can see a partial blob; the only question is how to learn the hash before
    choosing the key:

    - bytes, and streams or files smaller than one part: hashed in memory (at most one part,
      which s3fs would buffer anyway), then one PutObject to the final key. No temporary object.
    - larger files: hashed locally first (a local read is far cheaper than network traffic),
      then uploaded straight to the final key, or not at all when it already exists. The file
      is re-hashed during the upload, which is left uncommitted (autocommit=False) until the
      hash matches, so a file changed in between never lands under a wrong name.
    - larger streams: cannot be read twice, so they are uploaded to a unique key under
      ``<root>/tmp/`` while hashing, then server-side copied to the final key (CopyObject; no
      bytes go through this process again) and the temporary key is deleted.
    """

    def __init__(self, url: str, storage_options: dict[str, Any]) -> None:
        # Deferred so that importing the artifact store does not import fsspec and s3fs.
        import fsspec.core

        fs, base = fsspec.core.url_to_fs(url, **storage_options)
        base = str(base).strip("/")
        if not base:
            raise InvalidInput(
                f"invalid artifact root {url!r}: no bucket; use 's3://bucket' or "
                "'s3://bucket/prefix'",
                details={"root": url},
            )
        self._fs: Any = fs
        self._base = base

    @property
    def root(self) -> str:
        return f"s3://{self._base}"

    def _key(self, sha256: str) -> str:
        return f"{self._base}/{_blob_relpath(sha256)}"

    def size_of(self, sha256: str) -> int | None:
        try:
            # refresh: fsspec instances are shared and may hold a stale listing cache.
            details = self._fs.info(self._key(sha256), refresh=True)
        except FileNotFoundError:
            return None
        return int(details["size"]) if details.get("type") == "file" else None

    def open(self, sha256: str) -> BinaryIO:
        try:
            f = self._fs.open(self._key(sha256), "rb", block_size=_S3_READ_BLOCK)
        except FileNotFoundError:
            raise NotFound.of("blob", sha256) from None
        return cast(BinaryIO, f)

    def put_bytes(self, data: bytes) -> BlobInfo:
        info = BlobInfo(hashlib.sha256(data).hexdigest(), len(data))
        if not (self.size_of(info.sha256) == info.size and self.touch(info.sha256)):
            self._fs.pipe_file(self._key(info.sha256), data)
        return info

    def put_file(self, path: str | os.PathLike[str]) -> BlobInfo:
        with _open_source(path) as src:
            if os.fstat(src.fileno()).st_size < _S3_PART_SIZE:
                return self.put_stream(src)
            hasher = hashlib.sha256()
            size = _copy(_chunks(src), None, hasher)
            info = BlobInfo(hasher.hexdigest(), size)
            if self.size_of(info.sha256) == info.size and self.touch(info.sha256):
                return info
            src.seek(0)
            uploaded = self._upload(self._key(info.sha256), _chunks(src), expect=info)
            if uploaded != info:
                raise Conflict(
                    f"{os.fspath(path)!r} changed while it was being stored; make sure nothing "
                    "writes to it and store it again",
                    details={"path": os.fspath(path)},
                )
        return info

    def put_stream(self, stream: BinaryIO) -> BlobInfo:
        chunks = _chunks(stream)
        head = bytearray()
        for chunk in chunks:
            head += chunk
            if len(head) >= _S3_PART_SIZE:
                break
        else:
            return self.put_bytes(bytes(head))

        first = bytes(head)
        del head  # keep at most one copy of the first part alive during the upload
        tmp = f"{self._base}/tmp/{uuid.uuid4().hex}"
        try:
            info = self._upload(tmp, itertools.chain([first], chunks), expect=None)
            # Copied even when the blob exists: the copy is the touch a running gc needs
            # (a new LastModified), and costs no more than touching the stored one.
            self._fs.copy(tmp, self._key(info.sha256))
        finally:
            with suppress(FileNotFoundError):
                self._fs.rm_file(tmp)
        return info

    def _upload(self, key: str, chunks: Iterable[bytes], *, expect: BlobInfo | None) -> BlobInfo:
        """Multipart-upload ``chunks`` to ``key``; commit only if they hash to ``expect``."""
        out = self._fs.open(key, "wb", block_size=_S3_PART_SIZE, autocommit=False)
        try:
            hasher = hashlib.sha256()
            size = _copy(chunks, out, hasher)
            out.close()  # uploads the last part; the object stays invisible until commit()
        except BaseException:
            self._abandon(out)
            raise
        info = BlobInfo(hasher.hexdigest(), size)
        if expect is not None and info != expect:
            self._abandon(out)
        else:
            out.commit()
        return info

    def touch(self, sha256: str) -> bool:
        # S3 has no utime: an object's LastModified changes only when it is written. Copying
        # it onto itself (server-side, no bytes through this process) writes it; CopyObject
        # needs a metadata change to accept its own key as source, the multipart copy of
        # larger objects does not.
        key = self._key(sha256)
        size = self.size_of(sha256)
        if size is None:
            return False
        extra = {"MetadataDirective": "REPLACE"} if size <= _S3_COPY_LIMIT else {}
        try:
            self._fs.copy(key, key, **extra)
        except FileNotFoundError:
            return False
        return True

    def list_blobs(self) -> Iterator[ListedBlob]:
        prefix = f"{self._base}/blobs/"
        try:
            found = self._fs.find(prefix, detail=True, refresh=True)
        except FileNotFoundError:
            return
        for key, details in sorted(found.items()):
            name = key.rsplit("/", 1)[-1]
            if not _SHA256_HEX.fullmatch(name) or key != self._key(name):
                continue  # not a blob's key: never listed, never deleted
            yield ListedBlob(name, int(details["size"]), _modified(details))

    def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        # S3 has no rename to close the gap: a put touching the object between this HEAD and
        # the DELETE (one round trip) is lost with it (docs/architecture.md, "Garbage
        # collection"; bucket versioning keeps what it deleted).
        key = self._key(sha256)
        try:
            details = self._fs.info(key, refresh=True)
        except FileNotFoundError:
            return False
        if _modified(details) >= cutoff:
            return False
        try:
            self._fs.rm_file(key)
        except FileNotFoundError:
            return False
        return True

    @staticmethod
    def _abandon(out: Any) -> None:
        # close() first: s3fs cannot close a discarded file, and an open one would try to
        # finish the upload when garbage-collected. discard() aborts the multipart upload so
        # S3 does not keep (and bill) its parts.
        with suppress(Exception):
            out.close()
        with suppress(Exception):
            out.discard()


def _modified(details: dict[str, Any]) -> float:
    """An S3 listing's LastModified (a datetime from botocore) as epoch seconds."""
    return float(details["LastModified"].timestamp())


class BlobStore:
    """Content-addressed blob store on a local folder or ``s3://bucket/prefix``."""

    def __init__(self, root: str, *, storage_options: dict[str, Any] | None = None) -> None:
        """Open the store at ``root``, a local folder (created if missing) or an S3 URL.

        ``storage_options`` go to fsspec for remote roots, for example
        ``{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}``.
        """
        if not root:
            raise InvalidInput("artifact root is empty; give a folder or 's3://bucket/prefix'")
        # Kept so another process (a pipeline step worker) can open the same store.
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        self._backend: _Backend
        if root.startswith("s3://"):
            self._backend = _S3Backend(root, dict(storage_options or {}))
        elif "://" in root and not root.startswith("file://"):
            raise InvalidInput(
                f"unsupported artifact root {root!r}: use a local folder or 's3://bucket/prefix'",
                details={"root": root},
            )
        else:
            local = root.removeprefix("file://")
            # Absolute, so that a later chdir cannot move the store.
            self._backend = _LocalBackend(Path(local).expanduser().absolute())

    def __repr__(self) -> str:
        return f"BlobStore({self.root!r})"

    @property
    def root(self) -> str:
        """The store's location: an absolute folder path or ``s3://bucket/prefix``."""
        return self._backend.root

    def put_file(self, path: str | os.PathLike[str]) -> BlobInfo:
        """Store the content of a local file and return its hash and size."""
        return self._backend.put_file(path)

    def put_stream(self, stream: BinaryIO) -> BlobInfo:
        """Store everything left in a binary stream, reading it once in chunks."""
        return self._backend.put_stream(stream)

    def put_bytes(self, data: bytes) -> BlobInfo:
        """Store ``data`` and return its hash and size."""
        return self._backend.put_bytes(data)

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this hash is stored."""
        return self._backend.size_of(_check_sha256(sha256)) is not None

    def info(self, sha256: str) -> BlobInfo:
        """Hash and size of a stored blob; ``NotFound`` if absent."""
        size = self._backend.size_of(_check_sha256(sha256))
        if size is None:
            raise NotFound.of("blob", sha256)
        return BlobInfo(sha256, size)

    def open(self, sha256: str) -> BinaryIO:
        """Open a stored blob for streaming reads; ``NotFound`` if absent."""
        return self._backend.open(_check_sha256(sha256))

    def claim(self, sha256: str) -> BlobInfo:
        """``info``, marking the blob as just stored: what a caller that skips uploading
        content already there (the REST ``HEAD``) needs, so a running gc keeps it."""
        info = self.info(sha256)
        if not self._backend.touch(sha256):
            raise NotFound.of("blob", sha256)
        return info

    def list_blobs(self) -> Iterator[ListedBlob]:
        """Every stored blob with its size and last store or claim time (for gc)."""
        return self._backend.list_blobs()

    def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        """Delete the blob unless it was stored or claimed at or after ``cutoff`` (epoch
        seconds); whether it was deleted. Only gc calls this."""
        return self._backend.delete_if_older(_check_sha256(sha256), cutoff)

    def read_bytes(self, sha256: str) -> bytes:
        """The whole content of a blob, for small blobs; stream large ones with ``open``."""
        with self.open(sha256) as src:
            return src.read()

    def get_file(
        self,
        sha256: str,
        dest: str | os.PathLike[str],
        *,
        verify: bool = True,
        durable: bool = True,
    ) -> BlobInfo:
        """Copy a blob to the local file ``dest``, atomically, checking its hash if ``verify``.

        ``dest`` appears complete or not at all; its folder is created if missing. A blob whose
        bytes do not hash to its name raises ``ModelyardError`` and leaves ``dest`` untouched.
        ``durable=False`` skips the fsync, for scratch copies that die with their process.
        """
        target = Path(dest)
        if target.is_dir():
            raise InvalidInput(
                f"cannot write blob to {os.fspath(dest)!r}: it is a folder; pass a file path",
                details={"dest": os.fspath(dest)},
            )
        with self.open(sha256) as src:
            target.parent.mkdir(parents=True, exist_ok=True)
            with _exclusive_temp(target) as (tmp, out):
                hasher = hashlib.sha256() if verify else None
                size = _copy(_chunks(src), out, hasher)
                if durable:
                    _flush_to_disk(out)
                out.close()
                if hasher is not None and hasher.hexdigest() != sha256:
                    raise ModelyardError(
                        f"blob {sha256} in {self.root} is corrupt: its content hashes to "
                        f"{hasher.hexdigest()}; restore it from a backup or store the "
                        "artifact again",
                        details={"sha256": sha256, "actual_sha256": hasher.hexdigest()},
                    )
                os.replace(tmp, target)
        return BlobInfo(sha256, size)
