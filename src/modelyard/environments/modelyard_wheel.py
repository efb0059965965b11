"""The running Modelyard as an installable wheel.

A package (and a model version's environment) must install exactly the Modelyard that
wrote it, and no package index holds that: a release may not be published yet, and an
editable checkout is no release at all. So the wheel is assembled from what is running: the
``modelyard`` package folder as it is on disk (every file but bytecode) and the installed
distribution's metadata (its requirements and the ``modelyard`` command), laid out as the
wheel format says (https://packaging.python.org/en/latest/specifications/binary-distribution-format/).

Entries are sorted and carry one fixed time and mode, so the same code always gives the same
bytes and the same SHA-256. The wheel is built once per process (a few hundred kilobytes).
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import io
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from modelyard.errors import InvalidInput

__all__ = ["DISTRIBUTION", "ModelyardWheel", "modelyard_wheel"]

DISTRIBUTION = "modelyard"

# This module is modelyard/environments/modelyard_wheel.py, wherever modelyard is installed.
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_BYTECODE = (".pyc", ".pyo")
# The earliest time a zip entry can hold; any fixed time makes the archive reproducible.
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644 << 16  # rw-r--r--, in the high bits where zip keeps Unix modes
_UNIX = 3  # zip's "made by" system; fixed so the bytes do not depend on the building OS


@dataclass(frozen=True)
class ModelyardWheel:
    """A built wheel of the running Modelyard: its file name, bytes and SHA-256."""

    filename: str
    data: bytes
    sha256: str

    def write_to(self, folder: Path) -> Path:
        """Write the wheel into ``folder`` (created if missing) under its own name."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / self.filename
        target.write_bytes(self.data)
        return target


@functools.cache
def modelyard_wheel() -> ModelyardWheel:
    """The running Modelyard as a ``py3-none-any`` wheel, built on the first call."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise InvalidInput(
            f"the running Modelyard ({_PACKAGE_DIR}) is not an installed distribution, so "
            "its requirements are unknown: install it (`pip install modelyard`, or "
            "`pip install -e .` in a checkout)"
        ) from None
    # Wheel file names escape '-' in a version, which would otherwise split the name.
    version = dist.version.replace("-", "_")
    dist_info = f"{DISTRIBUTION}-{version}.dist-info"
    entries = {name: path.read_bytes() for name, path in _package_files()}
    entries[f"{dist_info}/METADATA"] = _metadata(dist)
    entries[f"{dist_info}/WHEEL"] = _wheel_file(dist.version)
    entry_points = _entry_points(dist)
    if entry_points:
        entries[f"{dist_info}/entry_points.txt"] = entry_points
    record = f"{dist_info}/RECORD"
    entries[record] = _record(entries, record)
    data = _zip(entries)
    return ModelyardWheel(
        filename=f"{DISTRIBUTION}-{version}-py3-none-any.whl",
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _package_files() -> list[tuple[str, Path]]:
    """Every file of the package folder but bytecode, as (name in the wheel, path), sorted."""
    found = []
    for path in sorted(_PACKAGE_DIR.rglob("*")):
        rel = path.relative_to(_PACKAGE_DIR)
        if "__pycache__" in rel.parts or path.suffix in _BYTECODE or not path.is_file():
            continue
        found.append((f"{_PACKAGE_DIR.name}/{rel.as_posix()}", path))
    return found


def _one_line(value: str) -> str:
    # A header value may not hold a line break: the next line would read as a header.
    return " ".join(value.split())


def _metadata(dist: metadata.Distribution) -> bytes:
    """METADATA (core metadata 2.1): what installers need; the long description is left out."""
    meta = dist.metadata
    lines = ["Metadata-Version: 2.1", f"Name: {meta['Name']}", f"Version: {dist.version}"]
    for key in ("Summary", "License", "Requires-Python"):
        # get_all: indexing a missing header is None on Python 3.11 and an error on 3.14.
        lines += [f"{key}: {_one_line(value)}" for value in meta.get_all(key) or []]
    lines += [f"Provides-Extra: {extra}" for extra in meta.get_all("Provides-Extra") or []]
    lines += [f"Requires-Dist: {requirement}" for requirement in dist.requires or []]
    return ("\n".join(lines) + "\n").encode()


def _wheel_file(version: str) -> bytes:
    return (
        "Wheel-Version: 1.0\n"
        f"Generator: modelyard {version}\n"
        "Root-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    ).encode()


def _entry_points(dist: metadata.Distribution) -> bytes:
    """entry_points.txt: the ``modelyard`` console script and any other entry point."""
    groups: dict[str, list[str]] = {}
    for point in sorted(dist.entry_points, key=lambda p: (p.group, p.name)):
        groups.setdefault(point.group, []).append(f"{point.name} = {point.value}\n")
    return "".join(f"[{group}]\n{''.join(lines)}\n" for group, lines in groups.items()).encode()


def _record(entries: dict[str, bytes], record: str) -> bytes:
    """RECORD: each file's urlsafe-base64 SHA-256 and size; the RECORD itself has neither."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for name, content in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
        writer.writerow([name, f"sha256={digest.decode()}", len(content)])
    writer.writerow([record, "", ""])
    return out.getvalue().encode()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # Insertion order: the package's files sorted, then the metadata with RECORD last,
        # where installers expect it.
        for name, content in entries.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = _FILE_MODE
            info.create_system = _UNIX
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content, compresslevel=6)
    return buffer.getvalue()
