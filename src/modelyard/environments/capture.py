"""Capture the running interpreter as an environment: its Python version and every package.

Every installed distribution becomes a ``name==version`` lock line, except those a package
index cannot reinstall: Modelyard itself and anything installed from a folder, a file, a
version-control URL or as editable (PEP 610 ``direct_url.json``). Those are named in the
description instead, so the capture says what it left out.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata

from modelyard.environments.hashing import lock_line, normalize_name
from modelyard.environments.models import EnvironmentSpec
from modelyard.errors import InvalidInput

DEFAULT_NAME = "captured"


def _not_from_an_index(dist: metadata.Distribution) -> str | None:
    """How a distribution was installed if not from a package index, else None."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return "unknown origin"
    if "dir_info" in info:
        return "editable" if info["dir_info"].get("editable") else "local folder"
    if "vcs_info" in info:
        return "version control"
    return "local file" if str(info.get("url", "")).startswith("file:") else "direct URL"


def installed_lock(path: list[str] | None = None) -> tuple[list[str], list[str]]:
    """The packages on ``path`` (default ``sys.path``) as sorted lock lines, and what was
    left out."""
    pins: dict[str, str] = {}
    left_out: dict[str, str] = {}
    found = metadata.distributions() if path is None else metadata.distributions(path=path)
    for dist in found:
        try:
            raw = dist.metadata["Name"]
        except KeyError:  # newer importlib_metadata raises where the stdlib returns None
            raw = None
        if not raw:
            continue
        name = normalize_name(raw)
        if name in pins or name in left_out:
            continue  # the first on sys.path is the one Python imports
        why = "Modelyard itself" if name == "modelyard" else _not_from_an_index(dist)
        if why is None:
            try:
                pins[name] = lock_line(f"{name}=={dist.version}")
                continue
            except InvalidInput:
                why = f"version '{dist.version}' cannot be pinned"
        left_out[name] = why
    notes = [f"{name} ({why})" for name, why in sorted(left_out.items())]
    return sorted(pins.values()), notes


def capture(name: str = DEFAULT_NAME, description: str | None = None) -> EnvironmentSpec:
    """A spec of the running interpreter, with its installed packages as the lock."""
    lock, left_out = installed_lock()
    note = f"Captured from Python {platform.python_version()} at {sys.executable}"
    if left_out:
        note += "; left out (not installable from a package index): " + ", ".join(left_out)
    info = sys.version_info
    return EnvironmentSpec(
        name=name,
        python=f"{info.major}.{info.minor}",
        lock=lock,
        description=f"{description}\n{note}" if description else note,
    )
