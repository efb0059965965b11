"""Registered pipelines behave the same on every backend: snapshots, versions, references."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.errors import InvalidInput, NotFound
from modelyard.pipelines import registered as ops
from modelyard.pipelines.models import RegisterPipeline
from modelyard.storage.artifacts.manifests import manifest_bytes

CODE = """
import modelyard
from helpers import factor

@modelyard.step
def scale(n: int = 1) -> int:
    return n * factor()

@modelyard.pipeline
def scaled(n: int = 1):
    scale(n=n)
"""


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    (folder / "data").mkdir(parents=True)
    (folder / "pipes.py").write_text(CODE)
    (folder / "helpers.py").write_text("def factor() -> int:\n    return 3\n")
    (folder / "data" / "notes.txt").write_text("kept with the code")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "pipes.cpython-311.pyc").write_bytes(b"\0compiled")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main")
    return folder


def test_registering_snapshots_the_code_folder_and_numbers_versions(
    client: Client, flows: Path
) -> None:
    first = client.pipelines.register(f"{flows / 'pipes.py'}:scaled", description="x3")
    assert (first.name, first.version, first.entry) == ("scaled", 1, "pipes.py:scaled")
    assert first.description == "x3"
    assert first.created_by == "tester"
    files = _snapshot_files(client, first.snapshot)
    assert sorted(files) == ["data/notes.txt", "helpers.py", "pipes.py"]  # no caches, no .git
    assert client.pipelines.register(f"{flows / 'pipes.py'}:scaled") == first
    (flows / "helpers.py").write_text("def factor() -> int:\n    return 4\n")
    second = client.pipelines.register(f"{flows / 'pipes.py'}:scaled")
    assert second.version == 2
    assert second.snapshot != first.snapshot
    assert [v.version for v in client.pipelines.versions("scaled")] == [2, 1]
    assert client.pipelines.version("scaled") == second
    assert client.pipelines.version("scaled:1") == first
    assert client.pipelines.versions("other") == []


def test_a_code_folder_must_contain_the_pipeline_and_hold_no_links(
    client: Client, flows: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(InvalidInput, match="is not inside the code folder"):
        client.pipelines.register(f"{flows / 'pipes.py'}:scaled", code=elsewhere)
    (tmp_path / "secret.txt").write_text("not code")
    (flows / "leak").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(InvalidInput, match=r"'leak' in .* is a link to .*, outside the folder"):
        client.pipelines.register(f"{flows / 'pipes.py'}:scaled")


def test_unknown_references_and_versions_say_what_exists(client: Client, flows: Path) -> None:
    with pytest.raises(NotFound, match="no pipeline 'scaled' is registered"):
        client.pipelines.version("scaled")
    client.pipelines.register(f"{flows / 'pipes.py'}:scaled")
    with pytest.raises(NotFound, match="pipeline 'scaled' has no registered version 5"):
        client.pipelines.version("scaled:5")
    with pytest.raises(InvalidInput, match="is not a registered pipeline"):
        client.pipelines.version("flows/pipes.py:scaled")


def _snapshot_files(client: Client, manifest: str) -> dict[str, object]:
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "m.json"
        client.backend.get_blob(manifest, target)
        files: dict[str, object] = json.loads(target.read_bytes())["files"]
        return files


def _request(client: Client, files: dict[str, bytes], entry: str) -> RegisterPipeline:
    listed = {}
    for path, data in files.items():
        blob = client.backend.put_blob_bytes(data)
        listed[path] = {"sha256": blob.sha256, "size": blob.size}
    manifest = client.backend.put_blob_bytes(manifest_bytes(listed)).sha256
    return RegisterPipeline(
        name="handmade", snapshot=manifest, entry=entry, definition={}, definition_hash="0" * 64
    )


@pytest.mark.parametrize(
    ("files", "entry", "problem"),
    [
        ({"pipes.py": b"x"}, "/etc/pipes.py:p", "relative to the snapshot's root"),
        ({"pipes.py": b"x"}, "../pipes.py:p", "climb above the artifact root"),
        ({"pipes.py": b"x"}, "other.py:p", "the snapshot has no file 'other.py'"),
        ({"pipes.py": b"x"}, "pipes.py:not-a-name", "is not a pipeline's Python name"),
        ({"pipes.py": b"x"}, "flows.pipes:p", "the snapshot has no module 'flows.pipes'"),
        ({"pipes.py": b"x"}, "pipes.txt", "the snapshot has no module 'pipes.txt'"),
        ({"pipes.py": b"x"}, "pipes/../x.py", "relative to the snapshot's root, as 'x.py'"),
        ({"pipes.py": b"x"}, "flows/pipes", "is not FILE.py[:NAME], FILE.yaml or module:NAME"),
        ({"../escape.py": b"x"}, "pipes.py", "climb above"),
        ({"/abs.py": b"x", "pipes.py": b"x"}, "pipes.py", "absolute"),
    ],
)
def test_the_store_refuses_snapshots_and_entries_that_point_outside(
    client: Client, files: dict[str, bytes], entry: str, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem.replace("[", r"\[").replace("]", r"\]")):
        client.backend.call(ops.register_pipeline, _request(client, files, entry))
    assert client.pipelines.versions("handmade") == []


def test_a_snapshot_that_is_not_stored_is_refused(client: Client) -> None:
    request = RegisterPipeline(
        name="handmade", snapshot="a" * 64, entry="p.py", definition={}, definition_hash="0" * 64
    )
    with pytest.raises(InvalidInput, match="is not in the artifact store"):
        client.backend.call(ops.register_pipeline, request)


def test_concurrent_registrations_of_new_code_take_distinct_versions(client: Client) -> None:
    requests = [
        _request(client, {"pipes.py": f"# variant {i}".encode()}, "pipes.py") for i in range(8)
    ]
    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(lambda r: client.backend.call(ops.register_pipeline, r), requests))
    assert sorted(v.version for v in versions) == list(range(1, 9))
