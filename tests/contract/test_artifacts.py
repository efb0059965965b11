"""Run artifacts: upload, index, list and download behave the same on every backend."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.errors import InvalidInput, NotFound


@pytest.fixture
def run_id(client: Client) -> str:
    return client.create_run(client.create_experiment("art").id).id


def test_log_list_and_download_a_file(client: Client, run_id: str, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"\x00\x01weights" * 1000)
    artifact = client.log_artifact(run_id, source, "models")
    assert artifact.path == "models/model.bin"
    assert artifact.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert artifact.size == source.stat().st_size
    assert [a.path for a in client.list_artifacts(run_id)] == ["models/model.bin"]
    [written] = client.download_artifacts(run_id, "models/model.bin", tmp_path / "out")
    assert written.read_bytes() == source.read_bytes()


def test_log_a_folder_keeps_its_layout(client: Client, run_id: str, tmp_path: Path) -> None:
    folder = tmp_path / "report"
    (folder / "plots").mkdir(parents=True)
    (folder / "summary.txt").write_text("ok")
    (folder / "plots" / "roc.svg").write_text("<svg/>")
    client.log_artifacts(run_id, folder, "eval")
    listed = [a.path for a in client.list_artifacts(run_id)]
    assert listed == ["eval/plots/roc.svg", "eval/summary.txt"]
    assert [a.path for a in client.list_artifacts(run_id, "eval/plots")] == ["eval/plots/roc.svg"]
    client.download_artifacts(run_id, "eval", tmp_path / "dl")
    assert (tmp_path / "dl" / "eval" / "plots" / "roc.svg").read_text() == "<svg/>"


def test_identical_content_is_stored_once(
    client: Client, run_id: str, tmp_path: Path, store: object
) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("same bytes")
    b.write_text("same bytes")
    first = client.log_artifact(run_id, a)
    second = client.log_artifact(run_id, b)
    assert first.sha256 == second.sha256
    blobs_root = Path(store.local.blobs.root)  # type: ignore[attr-defined]
    assert len([p for p in (blobs_root / "blobs").rglob("*") if p.is_file()]) == 1


@pytest.mark.parametrize("bad", ["../escape", "/abs", "a/../../x", "a\\b"])
def test_paths_escaping_the_root_are_refused(
    client: Client, run_id: str, tmp_path: Path, bad: str
) -> None:
    source = tmp_path / "f.txt"
    source.write_text("x")
    with pytest.raises(InvalidInput):
        client.log_artifact(run_id, source, bad)
    assert client.list_artifacts(run_id) == []


def test_missing_artifact_is_not_found(client: Client, run_id: str, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nothing/here"):
        client.download_artifacts(run_id, "nothing/here", tmp_path)


def test_logging_a_missing_file_is_a_clear_error(
    client: Client, run_id: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="not a file"):
        client.log_artifact(run_id, tmp_path / "absent.bin")
