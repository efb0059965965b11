"""parse_manifest: a manifest is taken whole and well-formed, or refused naming what is wrong."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidInput
from modelyard.pipelines.manifests import OutputManifest
from modelyard.storage.artifacts import normalize_artifact_path
from modelyard.storage.artifacts.manifests import (
    Manifest,
    ManifestFile,
    manifest_blobs,
    manifest_bytes,
    parse_manifest,
)

SHA = "ab" * 32
BLOB = "cd" * 32
MANIFEST_SHA = "ef" * 32


def _parse(files: Any, **extra: Any) -> Manifest:
    return parse_manifest(json.dumps({**extra, "files": files}).encode(), MANIFEST_SHA)


def test_a_well_formed_manifest_parses_to_its_files() -> None:
    data = manifest_bytes(
        {"model/model.skops": {"sha256": SHA, "size": 12}, "x": {"sha256": BLOB, "size": 0}}
    )
    manifest = parse_manifest(data, MANIFEST_SHA)
    assert manifest.files == {
        "model/model.skops": ManifestFile(sha256=SHA, size=12),
        "x": ManifestFile(sha256=BLOB, size=0),
    }
    assert manifest_blobs(MANIFEST_SHA, manifest) == [MANIFEST_SHA, SHA, BLOB]


def test_an_owner_reads_its_own_fields() -> None:
    data = manifest_bytes({"data/a.json": {"sha256": SHA, "size": 1}}, materializer="json")
    assert parse_manifest(data, MANIFEST_SHA, OutputManifest).materializer == "json"
    with pytest.raises(InvalidInput, match="materializer"):
        parse_manifest(manifest_bytes({}), MANIFEST_SHA, OutputManifest)


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("/etc/x", "it is absolute"),
        ("../x", "climb above"),
        ("a/../../x", "climb above"),
        ("a/../b", "not in canonical form"),
        ("./a", "not in canonical form"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("", "empty"),
        ("C:/x", "drive letter"),
    ],
)
def test_paths_that_could_leave_a_destination_are_refused(path: str, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint) as caught:
        _parse({"ok.bin": {"sha256": SHA, "size": 1}, path: {"sha256": SHA, "size": 1}})
    assert MANIFEST_SHA in caught.value.message
    assert repr(path) in caught.value.message
    assert caught.value.details["path"] == path


@pytest.mark.parametrize(
    ("entry", "field", "complaint"),
    [
        ({"size": 1}, "sha256", "sha256 is missing"),
        ({"sha256": SHA}, "size", "size is missing"),
        (
            {"sha256": SHA, "size": "abc"},
            "size",
            "size must be a whole number of bytes, 0 or more, not 'abc'",
        ),
        ({"sha256": SHA, "size": "12"}, "size", "not '12'"),
        ({"sha256": SHA, "size": -1}, "size", "not -1"),
        ({"sha256": SHA, "size": 1.5}, "size", "not 1.5"),
        ({"sha256": SHA, "size": True}, "size", "not True"),
        ({"sha256": SHA, "size": None}, "size", "not None"),
        ({"sha256": "../../etc/x", "size": 1}, "sha256", "SHA-256 digest), not '../../etc/x'"),
        ({"sha256": SHA.upper(), "size": 1}, "sha256", "lowercase hexadecimal"),
        ({"sha256": 5, "size": 1}, "sha256", "not 5"),
        ("abc", "entry", "expected an object with sha256 and size, not str"),
        ([SHA, 1], "entry", "not list"),
    ],
)
def test_malformed_entries_are_refused_naming_the_file_and_field(
    entry: Any, field: str, complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(complaint)) as caught:
        _parse({"model.bin": entry})
    assert caught.value.message.startswith(f"manifest {MANIFEST_SHA}: file 'model.bin': ")
    assert caught.value.details == {"manifest": MANIFEST_SHA, "path": "model.bin", "field": field}


@pytest.mark.parametrize(
    ("files", "clash"), [(["a", "a/b"], "a"), (["x/y", "x/y/z/w", "q"], "x/y")]
)
def test_a_path_that_is_a_file_and_a_folder_is_refused(files: list[str], clash: str) -> None:
    with pytest.raises(InvalidInput, match=f"'{clash}' is listed as a file and as the folder"):
        _parse({f: {"sha256": SHA, "size": 1} for f in files})


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "no 'files' mapping"),
        (b'{"files": []}', "no 'files' mapping"),
        (b'{"other": {}}', "no 'files' mapping"),
    ],
)
def test_a_blob_that_is_not_a_manifest_is_refused(data: bytes, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        parse_manifest(data, MANIFEST_SHA)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_entries = st.one_of(
    _json,
    st.fixed_dictionaries(
        {"sha256": st.sampled_from([SHA, "x", 1]), "size": st.sampled_from([0, 7, -1, "7", 1.0])}
    ),
)
_names = st.one_of(
    st.sampled_from(["a", "a/b", "../x", "/x", "a/./b", "a\\b"]), st.text(max_size=8)
)


@given(files=st.dictionaries(_names, _entries, max_size=4))
def test_any_json_parses_or_is_refused_as_invalid_input(files: dict[str, Any]) -> None:
    try:
        manifest = _parse(files)
    except InvalidInput:
        return
    for path, entry in manifest.files.items():
        assert path in files
        assert re.fullmatch("[0-9a-f]{64}", entry.sha256)
        assert type(entry.size) is int
        assert entry.size >= 0
        assert normalize_artifact_path(path) == path
