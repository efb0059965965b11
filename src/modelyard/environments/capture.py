"""Capture the running interpreter as an environment: its Python version and every package.

Every installed distribution becomes a ``name==version`` lock line, except those a package
index cannot reinstall: Modelyard itself and anything installed from a folder, a file, a
version-control URL or as editable (PEP 610 ``direct_url.json``). Those are named in the
description instead, so the capture says what it left out.
"""

from __future__ import annotations

import io
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


def _name_and_version(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    """The ``Name`` and ``Version`` fields of a distribution's metadata.

    They are read from the metadata's header block only, the part before the first blank
    line: ``dist.metadata`` parses the whole file as an e-mail message, long description
    included, which made capturing a 150-package environment take 200 ms instead of 20.
    The files are the ones ``importlib.metadata`` reads, in the same order.
    """
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or dist.read_text("") or ""
    fields: dict[str, str] = {}
    for line in io.StringIO(text):  # line by line: the header is usually a few lines long
        if not line.rstrip("\r\n"):
            break  # the blank line that ends the header block
        key, colon, value = line.partition(":")
        key = key.lower()
        # A line starting with white space continues the field above it.
        if colon and key in ("name", "version") and key not in fields and not line[0].isspace():
            fields[key] = value.strip()
            if len(fields) == 2:
                break  # the first of each is the one that counts
    return fields.get("name"), fields.get("version")


def installed_lock(path: list[str] | None = None) -> tuple[list[str], list[str]]:
    """The packages on ``path`` (default ``sys.path``) as sorted lock lines, and what was
    left out."""
    pins: dict[str, str] = {}
    left_out: dict[str, str] = {}
    found = metadata.distributions() if path is None else metadata.distributions(path=path)
    for dist in found:
        raw, version = _name_and_version(dist)
        if not raw:
            continue
        name = normalize_name(raw)
        if name in pins or name in left_out:
            continue  # the first on sys.path is the one Python imports
        why = "Modelyard itself" if name == "modelyard" else _not_from_an_index(dist)
        if why is None:
            try:
                pins[name] = lock_line(f"{name}=={version}")
                continue
            except InvalidInput:
                why = f"version '{version}' cannot be pinned"
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
