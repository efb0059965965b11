"""normalize_artifact_path: one canonical spelling, and no way out of the artifact root."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidInput
from modelyard.storage.artifacts import normalize_artifact_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("model.skops", "model.skops"),
        ("models/model.skops", "models/model.skops"),
        ("a/./b", "a/b"),
        ("./a", "a"),
        ("a//b", "a/b"),
        ("a/b/", "a/b"),
        ("a/../b", "b"),
        ("a/b/../../c", "c"),
        ("a/b/..", "a"),
        (".hidden/.x", ".hidden/.x"),
        ("..a/b..", "..a/b.."),
        ("a b/é ü/日本.txt", "a b/é ü/日本.txt"),
        ("ab:c/d", "ab:c/d"),  # a colon is only a drive after a single leading letter
        ("x/a:b", "x/a:b"),
    ],
)
def test_normalizes_to_canonical_relative_posix_path(raw: str, expected: str) -> None:
    assert normalize_artifact_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("", "empty"),
        (".", "root itself"),
        ("a/..", "root itself"),
        ("/", "absolute"),
        ("/etc/passwd", "absolute"),
        ("//server/share/x", "absolute"),
        ("C:/x", "drive letter"),
        ("c:x", "drive letter"),
        ("C:", "drive letter"),
        ("a:b/c", "drive letter"),
        ("./C:x", "drive letter"),
        ("x/../C:/y", "drive letter"),
        ("a\\b", "backslash"),
        ("..\\x", "backslash"),
        ("a\x00b", "NUL"),
        ("..", "climb above"),
        ("../x", "climb above"),
        ("a/../../x", "climb above"),
        ("a/./../..", "climb above"),
        ("...", "only of dots"),
        ("a/..../b", "only of dots"),
    ],
)
def test_refuses_paths_that_are_empty_absolute_or_escape(raw: str, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint) as caught:
        normalize_artifact_path(raw)
    # The message says what to do, not only what is wrong.
    assert ";" in caught.value.message


def test_refuses_non_strings() -> None:
    with pytest.raises(InvalidInput, match="expected a string"):
        normalize_artifact_path(b"a/b")  # type: ignore[arg-type]


_tricky_segments = st.sampled_from(
    ["a", "b", ".", "..", "...", "", "x.y", " ", "C:", "c:", "\\", "\x00", "~", "é", "/"]
)
_paths = st.one_of(st.text(), st.lists(_tricky_segments, max_size=8).map("/".join))


@given(raw=_paths)
def test_result_stays_inside_any_root(tmp_path_factory: pytest.TempPathFactory, raw: str) -> None:
    root = tmp_path_factory.getbasetemp().resolve() / "root"
    try:
        normalized = normalize_artifact_path(raw)
    except InvalidInput:
        return
    resolved = (root / normalized).resolve()
    assert resolved.is_relative_to(root)
    assert resolved != root
    assert normalize_artifact_path(normalized) == normalized  # canonical form is a fixed point
    assert all(part not in ("", ".", "..") for part in normalized.split("/"))
    assert Path(normalized).as_posix() == normalized
    # Windows joins more eagerly (drives, UNC); the same text must stay inside there too.
    windows_root = PureWindowsPath("C:/root")
    assert (windows_root / normalized).is_relative_to(windows_root)
