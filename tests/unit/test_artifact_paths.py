"""Artifact paths: one canonical spelling, no way out of the artifact root, and no file
written outside its destination."""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidInput
from modelyard.storage.artifacts import (
    canonical_artifact_path,
    normalize_artifact_path,
    safe_target,
)


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
        ("my%20file.txt", "my%20file.txt"),  # an escape that hides no traversal is a name
        ("100%.txt", "100%.txt"),
        ("%ff.bin", "%ff.bin"),
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
        ("file:///etc/passwd", "a URI, not a path"),
        ("s3://bucket/key", "a URI, not a path"),
        ("runs:/0123/model", "a URI, not a path"),
        ("model.bin?raw=1", "'\\?', which starts a query"),
        ("a#/../../x", "'#', which starts a fragment"),
        ("%2e%2e/x", "'%2e%2e' percent-decodes to '..'"),
        ("a/%2E%2e%2Fx", "percent-decodes to '../x'"),
        ("..%2fx", "percent-decodes to '../x'"),
        ("%252e%252e%252fx", "percent-decodes to '../x'"),  # encoded twice
        ("%2fetc%2fpasswd", "percent-decodes to '/etc/passwd'"),
        ("..%5cx", "percent-decodes"),
        ("m%00.bin", "percent-decodes"),
        ("%3f", "percent-decodes"),
        ("%2525252e", "percent-encoded too many times"),
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


# canonical_artifact_path: a path sent as data is taken as written, or refused -------------


@pytest.mark.parametrize("path", ["model.skops", "a/b/c.txt", ".hidden/x", "..a/b.."])
def test_canonical_paths_are_taken_as_written(path: str) -> None:
    assert canonical_artifact_path(path) == path


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("a/../b", "write it as 'b'"),
        ("./a", "write it as 'a'"),
        ("a//b", "write it as 'a/b'"),
        ("a/", "write it as 'a'"),
        ("../x", "climb above"),
        ("/etc/x", "absolute"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
    ],
)
def test_non_canonical_paths_are_refused_not_rewritten(path: str, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(complaint)):
        canonical_artifact_path(path)


# safe_target: where a file named by the store may be written ------------------------------


def _destination(base: Path) -> Path:
    """A destination holding links out of it, a link within it and a plain file."""
    root = base / "dest"
    if not root.exists():
        (base / "outside").mkdir()
        (root / "inner").mkdir(parents=True)
        (root / "out").symlink_to(base / "outside")
        (root / "up").symlink_to("..")
        (root / "in").symlink_to("inner")
        (root / "passwd").symlink_to("/etc/passwd")
        (root / "file.txt").write_text("x")
    return root


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return _destination(tmp_path)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("model.skops", "model.skops"),
        ("a/./b", "a/b"),
        ("new/folder/x", "new/folder/x"),
        ("in/x", "in/x"),  # a link that stays inside is followed
        ("inner/x", "inner/x"),
        ("file.txt", "file.txt"),  # an existing file is replaced
    ],
)
def test_safe_target_is_under_the_destination(dest: Path, relative: str, expected: str) -> None:
    assert safe_target(dest, relative) == dest / expected


@pytest.mark.parametrize(
    ("relative", "complaint"),
    [
        ("../../x", "climb above"),
        ("/etc/x", "absolute"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("out/x", "symbolic link to"),
        ("up/x", "symbolic link to '..'"),
        ("passwd", "symbolic link to '/etc/passwd'"),
        ("file.txt/x", "is a file, so nothing can be written inside it"),
        ("inner", "is a folder"),
    ],
)
def test_safe_target_refuses_what_would_leave_or_break_the_destination(
    dest: Path, relative: str, complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(complaint)) as caught:
        safe_target(dest, relative)
    assert caught.value.message.startswith(f"refusing to write {relative!r} under '{dest}': ")
    assert caught.value.details["path"] == relative
    assert caught.value.details["dest"] == str(dest)


def test_safe_target_refuses_a_destination_that_is_a_file(dest: Path) -> None:
    with pytest.raises(InvalidInput, match="is a file, not a folder"):
        safe_target(dest / "file.txt", "x")


def test_safe_target_refuses_a_loop_of_links(dest: Path) -> None:
    (dest / "loop").symlink_to("loop")
    with pytest.raises(InvalidInput, match="refusing to write 'loop/x'"):
        safe_target(dest, "loop/x")


def test_a_destination_reached_through_a_link_is_fine(dest: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(dest)
    assert safe_target(tmp_path / "alias", "in/x") == tmp_path / "alias" / "in" / "x"


_through_links = st.lists(
    st.sampled_from(["out", "up", "in", "inner", "passwd", "file.txt", "new", "..", ".", "x"]),
    min_size=1,
    max_size=5,
).map("/".join)


@given(relative=st.one_of(_through_links, _paths))
def test_safe_target_never_answers_a_path_outside(
    tmp_path_factory: pytest.TempPathFactory, relative: str
) -> None:
    root = _destination(tmp_path_factory.getbasetemp())
    try:
        target = safe_target(root, relative)
    except InvalidInput:
        return
    assert target.resolve().is_relative_to(root.resolve())
    assert not target.is_dir()
    # Every folder on the way that exists is a folder, so the write cannot fail halfway.
    assert all(p.is_dir() for p in target.parents if p.is_relative_to(root) and p.exists())
