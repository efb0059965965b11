"""Run the ``modelyard`` command as a user would: its own environment and working folder.

A call runs the command in this process (Typer's test runner), as the console script
would: the environment and working folder are the call's for its duration, the settings
are read anew, and what a process exit would release (backends the command opened, the
notebook API's session, signal handlers, logging handlers) is released when it returns.
``Cli.python`` runs a user's program so too. A subprocess costs ~1.5 s a call (imports,
coverage start-up), more for a program importing scikit-learn; in-process, milliseconds.
``Cli(..., subprocess=True)`` runs the real console script in a child process: the user
journeys that are about the process (tests/e2e/test_cli.py, the quickstart) keep it, and
long-running commands (servers, supervisors) are started as processes by their tests.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import modelyard

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


_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _ours(module: object) -> bool:
    """A module of the interpreter, an installed package, Modelyard or the tests: not one
    of a user's files that a command or program loaded (a pipeline file, a model's code)."""
    file = getattr(module, "__file__", None)
    if file is None:
        return True
    path = Path(file).resolve()
    homes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    homes |= {Path(modelyard.__file__).resolve().parent, Path(__file__).resolve().parents[1]}
    return any(path.is_relative_to(home) for home in homes)


@contextmanager
def as_its_own_process(env: dict[str, str], cwd: Path) -> Iterator[None]:
    """For the block, this process has exactly ``env`` and works in ``cwd``, as a child
    process would, with no notebook session and settings read anew. Afterwards what the
    child's exit would have taken with it goes: the backends its clients opened, its
    notebook session, the modules of the user's files it loaded (a file changed since is
    loaded anew next time, as by a new process), its sys.path entries, materializers,
    signal handlers and logging handlers; the environment and folder are ours again."""
    import modelyard.client.client as client_module
    from modelyard.client import fluent
    from modelyard.config import get_settings
    from modelyard.pipelines import materializers

    saved_env = dict(os.environ)
    saved_path = sys.path[:]
    saved_modules = set(sys.modules)
    saved_materializers = materializers._REGISTERED[:]
    opened: list[Any] = []
    open_backend = client_module.open_backend

    def recorded(*a: Any, **kw: Any) -> Any:
        backend = open_backend(*a, **kw)
        opened.append(backend)
        return backend

    handlers = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    root = logging.getLogger()
    logging_state = (root.handlers[:], root.level)
    session, fluent._session = fluent._session, None  # a new process has none yet
    before = os.getcwd()
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)
    os.chdir(cwd)
    get_settings.cache_clear()
    client_module.open_backend = recorded  # type: ignore[assignment]
    try:
        yield
    finally:
        client_module.open_backend = open_backend
        try:
            fluent._at_exit()  # what the process's exit would do: end its runs, flush
            for backend in opened:
                backend.close()
        finally:
            fluent._session = session
            os.chdir(before)
            for name in set(os.environ) - set(saved_env):
                del os.environ[name]
            os.environ.update(saved_env)
            get_settings.cache_clear()
            sys.path[:] = saved_path
            for name in set(sys.modules) - saved_modules:
                if not _ours(sys.modules[name]):
                    del sys.modules[name]
            materializers._REGISTERED[:] = saved_materializers
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            root.handlers[:], root.level = logging_state


def run_in_process(
    args: tuple[str, ...], env: dict[str, str], cwd: Path, stdin: str | None = None
) -> Result:
    """``modelyard *args`` run in this process with exactly ``env`` in ``cwd``, reading
    ``stdin``."""
    from typer.testing import CliRunner

    from modelyard.cli.main import app

    with as_its_own_process(env, cwd):
        done = CliRunner().invoke(app, list(args), prog_name="modelyard", input=stdin)
    stderr = done.stderr
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        # What the interpreter prints for an uncaught exception (exit code 1).
        stderr += "".join(traceback.format_exception(done.exception))
    return Result(args, done.exit_code, done.stdout, stderr)


class Cli:
    """Calls ``modelyard ...`` in ``cwd`` with ``env``; checks the exit code it is told to.

    In this process unless ``subprocess`` (see the module's docstring).
    """

    def __init__(self, env: dict[str, str], cwd: Path, *, subprocess: bool = False) -> None:
        self.exe = modelyard_executable()
        self.env = env
        self.cwd = cwd
        self.subprocess = subprocess

    def with_env(self, **changes: str) -> Cli:
        return Cli({**self.env, **changes}, self.cwd, subprocess=self.subprocess)

    def __call__(self, *args: str, expect: int | None = 0, stdin: str | None = None) -> Result:
        if self.subprocess:
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
        else:
            result = run_in_process(tuple(args), self.env, self.cwd, stdin)
        if expect is not None:
            assert result.code == expect, result
        return result

    def python(self, code: str) -> str:
        """Run a Python program on the same store; returns its stdout. In this process
        unless ``subprocess``, as its ``__main__``: an exception it raises fails the test."""
        if not self.subprocess:
            out = io.StringIO()
            with as_its_own_process(self.env, self.cwd), redirect_stdout(out):
                exec(compile(code, "<program>", "exec"), {"__name__": "__main__"})
            return out.getvalue()
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
