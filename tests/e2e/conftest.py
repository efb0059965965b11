"""Run the real ``modelyard`` command as a user would: a subprocess with its own environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLI_TIMEOUT = 60


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def assert_user_error(self) -> list[str]:
        """Exit code 2, nothing on stdout, stderr led by one ``error:`` line and no traceback."""
        assert self.code == 2, self
        assert self.stdout == "", self
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.splitlines()
        assert lines, self
        assert lines[0].startswith("error: "), self.stderr
        assert sum(line.startswith("error:") for line in lines) == 1, self.stderr
        return lines


def modelyard_executable() -> str:
    """The ``modelyard`` console script of the interpreter running the tests."""
    exe = Path(sys.executable).parent / "modelyard"
    if not exe.is_file():
        pytest.fail(f"no modelyard console script next to {sys.executable}; pip install -e .")
    return str(exe)


def store_env(root: Path, uri: str | None = None) -> dict[str, str]:
    """A clean environment naming a store under ``root`` (no MODELYARD_* leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(
        MODELYARD_URI=uri or f"sqlite:///{root / 'm.db'}",
        MODELYARD_ARTIFACT_ROOT=str(root / "art"),
        MODELYARD_USER="e2e",
        MODELYARD_HTTP_RETRIES="0",
        # Deployments serve from this interpreter (see tests/conftest.py's make_settings).
        MODELYARD_SERVE_ENVIRONMENT="current",
        COLUMNS="200",  # Rich wraps tables at the terminal width; keep rows on one line
        NO_COLOR="1",
    )
    return env


class Cli:
    """Calls ``modelyard ...`` in ``cwd`` with ``env``; checks the exit code it is told to."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.exe = modelyard_executable()
        self.env = env
        self.cwd = cwd

    def with_env(self, **changes: str) -> Cli:
        return Cli({**self.env, **changes}, self.cwd)

    def __call__(self, *args: str, expect: int | None = 0, stdin: str | None = None) -> Result:
        done = subprocess.run(
            [self.exe, *args],
            env=self.env,
            cwd=self.cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        result = Result(tuple(args), done.returncode, done.stdout, done.stderr)
        if expect is not None:
            assert result.code == expect, result
        return result

    def python(self, code: str) -> str:
        """Run a Python program on the same store; returns its stdout."""
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout
