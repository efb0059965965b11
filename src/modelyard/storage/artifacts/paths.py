"""The rules an artifact path must follow before it may name anything under an artifact root.

Artifact paths come from users (``log_artifact("models/model.skops")``) and end up joined to a
folder or a bucket prefix, so they are checked once here (DESIGN.md invariant 6: artifact paths
cannot escape their root, and no file is written outside its destination) and stored in one
canonical spelling, which makes "a/./b" and "a/b" the same artifact.

Paths read back from the store or from a manifest are checked again before anything is written
under them (``safe_target``): the store may hold rows written by an older release or by hand,
and a manifest is whatever a client uploaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

from modelyard.errors import InvalidInput

__all__ = ["canonical_artifact_path", "normalize_artifact_path", "safe_target"]

# "C:", "C:/x" and "C:x" all name a drive on Windows; joining one to a root replaces the root.
_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")
# "file:///etc/passwd", "s3://bucket/x", "runs:/id/x": a URI given where a path belongs (a
# one-letter scheme is a drive, refused as one).
_URI_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:/")
# What a segment may not become once percent-decoded: a separator, a NUL, or the start of a
# query or a fragment (checked, with the dots-only rule, on the decoded form).
_UNSAFE_DECODED = ("/", "\\", "\x00", "?", "#")
# Enough rounds to see through "%25252e" (encoded three times); a deeper nesting is refused.
_DECODE_ROUNDS = 4


def _refuse(path: str, problem: str, remedy: str) -> InvalidInput:
    return InvalidInput(
        f"invalid artifact path {path!r}: {problem}; {remedy}",
        details={"path": path, "problem": problem, "remedy": remedy},
    )


def normalize_artifact_path(path: str) -> str:
    """Return the canonical POSIX relative form of an artifact path, or raise ``InvalidInput``.

    "a/./b", "a//b" and "a/b/" become "a/b"; "a/../b" becomes "b". Refused: empty paths, NUL
    characters, backslashes, absolute paths, drive letters, URIs ("file:///etc/passwd"), '?'
    and '#', segments made only of dots other than "." and "..", segments that
    percent-decode to a traversal ("%2e%2e", "..%2f", "%252e%252e"), and any ".." that would
    climb above the root.
    """
    if not isinstance(path, str):
        problem = f"expected a string, got {type(path).__name__}"
        remedy = "give the path as text"
        raise InvalidInput(
            f"invalid artifact path {path!r}: {problem}; {remedy}",
            details={"path": repr(path), "problem": problem, "remedy": remedy},
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
    if _URI_PREFIX.match(path):
        raise _refuse(
            path, "it is a URI, not a path", "give a path relative to the run's artifact root"
        )
    # A URL ends its path at '?' and '#': a path holding one would name another file once it
    # is put in a URL (MLflow's CVE-2023-6909 smuggled '..' behind a '#'). Windows refuses '?'.
    for mark, starts in (("?", "a query"), ("#", "a fragment")):
        if mark in path:
            raise _refuse(
                path,
                f"it contains {mark!r}, which starts {starts} in a URL",
                f"rename the file without {mark!r}",
            )

    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        _refuse_encoded(path, segment)
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


def _refuse_encoded(path: str, segment: str) -> None:
    """Refuse a segment whose percent-decoding (once or more) is a traversal: "%2e%2e",
    "..%2f", "%252e%252e" (encoded twice), "%00".

    Modelyard never decodes an artifact path, but whatever serves the files later may (a web
    server, a browser, a tool handed the folder), and MLflow's CVE-2023-6909 and
    CVE-2024-1560 were such decodings, once and twice. "my%20file.txt" stays an ordinary name.
    """
    decoded = segment
    for _ in range(_DECODE_ROUNDS):
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        raise _refuse(path, f"segment {segment!r} is percent-encoded too many times", _PLAIN)
    if decoded != segment and (
        decoded.strip(".") == "" or any(c in decoded for c in _UNSAFE_DECODED)
    ):
        raise _refuse(
            path,
            f"segment {segment!r} percent-decodes to {decoded!r}, which leaves its folder or "
            "names another file once decoded",
            _PLAIN,
        )


_PLAIN = "write the name without percent-encoding ('%2e' for '.', '%2f' for '/')"


def canonical_artifact_path(path: str) -> str:
    """``path`` itself if it is already in the canonical form; ``InvalidInput`` otherwise.

    For paths a client sends as data (a manifest's file names): "a/../b" or "./a" is refused
    rather than rewritten, so what is stored is exactly what was checked.
    """
    normalized = normalize_artifact_path(path)
    if normalized != path:
        raise _refuse(path, "it is not in canonical form", f"write it as {normalized!r}")
    return path


def _refuse_write(relative: str, root: Path, problem: str) -> InvalidInput:
    return InvalidInput(
        f"refusing to write {relative!r} under '{root}': {problem}",
        details={"path": relative, "dest": str(root), "problem": problem},
    )


def safe_target(root: Path, relative: str) -> Path:
    """Where the file ``relative`` goes under ``root``; ``InvalidInput`` if it would not stay
    inside ``root``.

    Every writer of files named by the store or a manifest (run artifacts, model versions,
    step outputs, remote model files) asks here before writing. ``relative`` must pass
    ``normalize_artifact_path``; then what already exists under ``root`` is checked, so a
    symbolic link inside the destination cannot redirect the write elsewhere and a file in
    the way of a folder is named rather than failing halfway. The answer is
    ``root / <normalized path>``, unresolved, so it reads as the caller's own destination.

    A link created after this check and before the write is not caught: destinations are the
    user's own folders, and the check is against data from the store, not against the user.
    """
    try:
        normalized = normalize_artifact_path(relative)
    except InvalidInput as exc:
        raise _refuse_write(relative, root, str(exc.details.get("problem", exc))) from None
    try:
        problem = _obstacle(root, normalized.split("/"))
    except (OSError, RuntimeError) as exc:  # Python 3.11 raises RuntimeError on a link loop
        problem = f"it cannot be checked ({exc})"
    if problem is not None:
        raise _refuse_write(relative, root, problem)
    return root / normalized


def _obstacle(root: Path, parts: list[str]) -> str | None:
    """What in the existing tree under ``root`` stops a write to ``root/parts``, if anything."""
    if root.exists() and not root.is_dir():
        return f"'{root}' is a file, not a folder"
    base = root.resolve()
    path = root
    for depth, part in enumerate(parts, start=1):
        path = path / part
        if path.is_symlink() and not path.resolve().is_relative_to(base):
            return f"'{path}' is a symbolic link to '{os.readlink(path)}', outside that folder"
        if not path.exists():
            return None  # nothing below a missing folder exists either
        if depth < len(parts) and not path.is_dir():
            return f"'{path}' is a file, so nothing can be written inside it"
    return f"'{path}' is a folder" if path.is_dir() else None
