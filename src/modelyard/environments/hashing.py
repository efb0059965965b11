"""What identifies an environment: its Python version and its normalised, sorted lock.

The environment hash is the SHA-256 of the canonical JSON of
``{"lock": [sorted normalised "name==version" lines], "python": "MAJOR.MINOR"}``. The
requirements a lock was resolved from, the environment's name and its description are not
part of it: two specs that resolve to the same packages are the same environment.

Normalising a lock line lower-cases it and writes the project name in its PEP 503 form
(runs of ``-``, ``_`` and ``.`` become one ``-``), so ``Scikit_Learn==1.0`` and
``scikit-learn==1.0`` are the same line.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable

from modelyard.errors import InvalidInput

# A PEP 508 project name, then "==", then a PEP 440 version (no wildcards, no markers).
_LOCK_LINE = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    r"==\s*(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)\s*$"
)
_PYTHON = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_NAME_SEPARATORS = re.compile(r"[-_.]+")


def normalize_name(name: str) -> str:
    """A project name in its PEP 503 form: ``Scikit_Learn`` -> ``scikit-learn``."""
    return _NAME_SEPARATORS.sub("-", name).lower()


def check_python(version: str) -> str:
    """A Python version as MAJOR.MINOR ("3.11"); anything else is refused, saying why."""
    if not _PYTHON.match(version):
        raise InvalidInput(
            f"python version '{version}' is not MAJOR.MINOR such as '3.11' "
            "(patch releases of one minor version share an environment)"
        )
    return version


def lock_line(line: str) -> str:
    """One lock line normalised to ``name==version``; an unpinned line is refused."""
    match = _LOCK_LINE.match(line)
    if match is None:
        raise InvalidInput(
            f"lock line '{line}' is not pinned as name==version: a lock lists every "
            "package with its exact version (resolve the requirements to get one)",
            details={"line": line},
        )
    return f"{normalize_name(match['name'])}=={match['version'].lower()}"


def normalize_lock(lines: Iterable[str]) -> list[str]:
    """Lock lines normalised, deduplicated and sorted; a package pinned twice is refused."""
    pins: dict[str, str] = {}
    for raw in lines:
        line = lock_line(raw)
        name = line.split("==", 1)[0]
        if name in pins and pins[name] != line:
            raise InvalidInput(
                f"the lock pins '{name}' twice ({pins[name]} and {line}): keep one version",
                details={"package": name},
            )
        pins[name] = line
    return sorted(pins.values())


def environment_hash(python: str, lock: Iterable[str]) -> str:
    """The content hash of an environment (64 lowercase hex characters)."""
    canonical = json.dumps(
        {"lock": normalize_lock(lock), "python": check_python(python)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
