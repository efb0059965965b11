"""The running interpreter as an environment: read exactly, cheaply, once per process."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from modelyard.environments import current
from modelyard.environments.capture import capture, installed_lock
from modelyard.environments.hashing import environment_hash, normalize_name


def test_the_current_environment_is_the_capture_of_this_interpreter() -> None:
    spec = current.current_spec()
    captured = capture()
    assert (spec.python, spec.lock) == (captured.python, captured.lock)
    assert spec.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert current.current_hash() == environment_hash(spec.python, spec.lock or [])


def test_it_is_captured_once_per_process() -> None:
    assert current.current_spec() is current.current_spec()
    assert current.current_hash() is current.current_hash()


def test_the_cheap_reading_agrees_with_importlib_for_every_installed_package() -> None:
    # The reference: importlib.metadata's full parse of each distribution's metadata.
    expected: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            expected.setdefault(normalize_name(name), f"{normalize_name(name)}=={dist.version}")
    lock, left_out = installed_lock()
    assert set(lock) <= {line.lower() for line in expected.values()}
    assert len(lock) + len(left_out) == len(expected)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


def test_only_the_header_of_the_metadata_names_the_package(tmp_path: Path) -> None:
    write(
        tmp_path / "plain-1.0.dist-info" / "METADATA",
        "Metadata-Version: 2.1\nName: Plain\nVersion: 1.0\nSummary: a long\n  folded summary\n"
        "\nName: not-this\nVersion: 9.9\n",
    )
    write(
        tmp_path / "crlf-2.0.dist-info" / "METADATA",
        "Metadata-Version: 2.1\r\nSummary: first\r\nname: CRLF_Pkg\r\nversion: 2.0\r\n\r\nbody\r\n",
    )
    write(tmp_path / "old.egg-info" / "PKG-INFO", "Metadata-Version: 1.0\nName: old\nVersion: 0.5")
    write(tmp_path / "nameless-1.0.dist-info" / "METADATA", "Metadata-Version: 2.1\n\nName: x\n")
    lock, left_out = installed_lock([str(tmp_path)])
    assert lock == ["crlf-pkg==2.0", "old==0.5", "plain==1.0"]
    assert left_out == []
