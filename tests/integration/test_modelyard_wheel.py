"""The running Modelyard as a wheel: complete, installable metadata, the same bytes every time.

(Installing it into a fresh environment and serving from there is in test_packaging.py.)
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest

import modelyard
from modelyard.environments.modelyard_wheel import ModelyardWheel, modelyard_wheel

VERSION = metadata.version("modelyard")
DIST_INFO = f"modelyard-{VERSION}.dist-info"
PACKAGE_DIR = Path(modelyard.__file__).resolve().parent


@pytest.fixture(scope="module")
def wheel() -> ModelyardWheel:
    return modelyard_wheel()


@pytest.fixture(scope="module")
def archive(wheel: ModelyardWheel) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(wheel.data))


def test_the_same_code_gives_the_same_bytes(wheel: ModelyardWheel) -> None:
    assert modelyard_wheel() is wheel  # built once per process
    modelyard_wheel.cache_clear()
    try:
        again = modelyard_wheel()
    finally:
        modelyard_wheel.cache_clear()
    assert again.data == wheel.data
    assert wheel.sha256 == hashlib.sha256(wheel.data).hexdigest()
    assert wheel.filename == f"modelyard-{VERSION}-py3-none-any.whl"


def test_it_holds_every_file_of_the_package_but_bytecode(archive: zipfile.ZipFile) -> None:
    on_disk = {
        f"modelyard/{p.relative_to(PACKAGE_DIR).as_posix()}": p
        for p in PACKAGE_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    names = archive.namelist()
    packaged = [n for n in names if n.startswith("modelyard/")]
    assert set(packaged) == set(on_disk)
    assert {"modelyard/py.typed", "modelyard/storage/db/migrations/script.py.mako"} <= set(on_disk)
    for name in packaged:
        assert archive.read(name) == on_disk[name].read_bytes(), name
    assert names[-1] == f"{DIST_INFO}/RECORD"
    assert {(i.date_time, i.external_attr >> 16) for i in archive.infolist()} == {
        ((1980, 1, 1, 0, 0, 0), 0o644)
    }


def test_its_metadata_is_what_installers_need(archive: zipfile.ZipFile) -> None:
    headers = Parser().parsestr(archive.read(f"{DIST_INFO}/METADATA").decode())
    assert (headers["Name"], headers["Version"]) == ("modelyard", VERSION)
    assert headers["Requires-Python"] == metadata.metadata("modelyard")["Requires-Python"]
    assert headers.get_all("Requires-Dist") == metadata.requires("modelyard")
    assert "psycopg[binary]>=3.1" in headers.get_all("Requires-Dist")
    assert "s3" in headers.get_all("Provides-Extra")
    wheel_file = Parser().parsestr(archive.read(f"{DIST_INFO}/WHEEL").decode())
    assert (wheel_file["Tag"], wheel_file["Root-Is-Purelib"]) == ("py3-none-any", "true")
    entry_points = archive.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert "[console_scripts]\nmodelyard = modelyard.cli.main:run\n" in entry_points


def test_its_record_hashes_every_other_file(archive: zipfile.ZipFile) -> None:
    rows = list(csv.reader(io.StringIO(archive.read(f"{DIST_INFO}/RECORD").decode())))
    assert [row[0] for row in rows] == archive.namelist()
    assert rows[-1] == [f"{DIST_INFO}/RECORD", "", ""]
    for name, digest, size in rows[:-1]:
        content = archive.read(name)
        expected = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
        assert digest == f"sha256={expected.decode()}", name
        assert int(size) == len(content), name


def test_it_is_written_under_its_own_name(wheel: ModelyardWheel, tmp_path: Path) -> None:
    written = wheel.write_to(tmp_path / "wheels")
    assert written == tmp_path / "wheels" / wheel.filename
    assert hashlib.sha256(written.read_bytes()).hexdigest() == wheel.sha256
