"""Environment specs from YAML files.

A spec file is a mapping::

    name: train
    python: "3.11"
    requirements:            # or requirements_file: requirements.txt
      - scikit-learn>=1.4
      - pandas
    lock_file: train.lock    # optional: or lock: [...], every line name==version
    description: what the training steps run in

Files named by ``requirements_file`` and ``lock_file`` are relative to the YAML file. In
Python, build an ``EnvironmentSpec`` directly. Every error names the file and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelyard.environments.hashing import lock_line
from modelyard.environments.models import EnvironmentSpec, check_requirement
from modelyard.errors import InvalidInput

FIELDS = ("name", "python", "requirements", "requirements_file", "lock", "lock_file", "description")


def _read_text(file: Path, what: str) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{what} '{file}' does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{what} '{file}' is a folder, not a file") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} '{file}' is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} '{file}': {exc.strerror}") from None


def read_lines(file: Path, what: str, check: Callable[[str], str]) -> list[str]:
    """The entries of a requirements-style file, each checked; errors name file and line."""
    entries = []
    for number, raw in enumerate(_read_text(file, what).splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise InvalidInput(
                f"{file}:{number}: '{line}' is an option; only packages are supported here"
            )
        try:
            entries.append(check(line))
        except InvalidInput as exc:
            raise InvalidInput(f"{file}:{number}: {exc.message}", details=exc.details) from None
    return entries


def _string_list(file: Path, field: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{file}: '{field}' must be a list of strings")
    return value


def _entries(
    file: Path, data: dict[str, Any], field: str, check: Callable[[str], str]
) -> list[str] | None:
    """The list under ``field`` or read from the file named by ``<field>_file``."""
    listed, named = data.get(field), data.get(f"{field}_file")
    if listed is not None and named is not None:
        raise InvalidInput(f"{file}: give '{field}' or '{field}_file', not both")
    if listed is not None:
        return _string_list(file, field, listed)
    if named is None:
        return None
    if not isinstance(named, str) or not named:
        raise InvalidInput(f"{file}: '{field}_file' must be a path relative to the spec file")
    return read_lines(file.parent / named, f"{field}_file of '{file}'", check)


def _mapping(file: Path) -> dict[str, Any]:
    import yaml  # only specs need YAML

    text = _read_text(file, "environment file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{file} is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise InvalidInput(
            f"{file} must be a YAML mapping with at least 'name' and 'python' "
            f"(fields: {', '.join(FIELDS)})"
        )
    unknown = sorted(str(k) for k in data if k not in FIELDS)
    if unknown:
        raise InvalidInput(
            f"{file}: unknown field {', '.join(repr(k) for k in unknown)}; "
            f"the fields are {', '.join(FIELDS)}"
        )
    return data


def load_spec(path: str | os.PathLike[str]) -> EnvironmentSpec:
    """Read an environment spec from a YAML file."""
    file = Path(path)
    data = _mapping(file)
    python = data.get("python")
    if isinstance(python, int | float) and not isinstance(python, bool):
        raise InvalidInput(
            f"{file}: 'python' must be a quoted string such as \"3.11\", not the number "
            f"{python!r} (YAML reads an unquoted 3.10 as 3.1)"
        )
    values: dict[str, Any] = {k: data[k] for k in ("name", "python", "description") if k in data}
    values["requirements"] = _entries(file, data, "requirements", check_requirement) or []
    lock = _entries(file, data, "lock", lock_line)
    if lock is not None:
        values["lock"] = lock
    try:
        return EnvironmentSpec(**values)
    except InvalidInput as exc:
        raise InvalidInput(f"{file}: {exc.message}", details=exc.details) from None
