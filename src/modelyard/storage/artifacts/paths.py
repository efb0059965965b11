"""The rules an artifact path must follow before it may name anything under an artifact root.

Artifact paths come from users (``log_artifact("models/model.skops")``) and end up joined to a
folder or a bucket prefix, so they are checked once here (DESIGN.md invariant 6: artifact paths
cannot escape their root) and stored in one canonical spelling, which makes "a/./b" and "a/b"
the same artifact.
"""

from __future__ import annotations

import re

from modelyard.errors import InvalidInput

__all__ = ["normalize_artifact_path"]

# "C:", "C:/x" and "C:x" all name a drive on Windows; joining one to a root replaces the root.
_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")


def _refuse(path: str, problem: str, remedy: str) -> InvalidInput:
    return InvalidInput(
        f"invalid artifact path {path!r}: {problem}; {remedy}",
        details={"path": path, "problem": problem},
    )


def normalize_artifact_path(path: str) -> str:
    """Return the canonical POSIX relative form of an artifact path, or raise ``InvalidInput``.

    "a/./b", "a//b" and "a/b/" become "a/b"; "a/../b" becomes "b". Refused: empty paths, NUL
    characters, backslashes, absolute paths, drive letters, segments made only of dots other
    than "." and "..", and any ".." that would climb above the root.
    """
    if not isinstance(path, str):
        raise InvalidInput(
            f"invalid artifact path {path!r}: expected a string, got {type(path).__name__}",
            details={"path": repr(path)},
        )
    if not path:
        raise _refuse(path, "it is empty", "give a relative path such as 'models/model.skops'")
    if "\x00" in path:
        raise _refuse(path, "it contains a NUL character", "remove the NUL character")
    # Refused rather than translated: on POSIX a backslash is a legal file-name character, so
    # guessing that it meant a separator would silently rename someone's artifact.
    if "\\" in path:
        raise _refuse(path, "it contains a backslash", "separate folders with '/'")
    if path.startswith("/"):
        raise _refuse(path, "it is absolute", "give a path relative to the run's artifact root")

    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise _refuse(
                    path,
                    "its '..' segments climb above the artifact root",
                    "remove the '..' segments or keep them inside the path",
                )
            parts.pop()
            continue
        # "..." is an ordinary name on POSIX but Windows strips trailing dots, turning it into
        # "" or "."; refusing it keeps one artifact path meaning one file everywhere.
        if segment.strip(".") == "":
            raise _refuse(path, f"segment {segment!r} is made only of dots", "rename that segment")
        parts.append(segment)

    if not parts:
        raise _refuse(path, "it names the artifact root itself", "name a file inside the root")
    normalized = "/".join(parts)
    # Checked after normalisation because "./C:x" and "x/../C:x" also start with a drive.
    if _DRIVE_PREFIX.match(normalized):
        raise _refuse(
            path, "it starts with a drive letter", "give a path relative to the run's artifact root"
        )
    return normalized
