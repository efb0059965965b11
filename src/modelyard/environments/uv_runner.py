"""Running uv: never prompting, never downloading a Python, failing with uv's own words.

Modelyard resolves and builds environments with uv (https://docs.astral.sh/uv/). uv is a
dependency, so its binary ships with Modelyard; a ``uv`` on ``PATH`` is the fallback.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence

from modelyard.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 800

# uv may not fetch interpreters behind the user's back, ask questions or draw progress bars.
_UV_ENV = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", "NO_COLOR": "1"}


class UvFailed(Exception):
    """uv exited with an error; ``message`` is its own explanation on one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def missing_python(self) -> bool:
        return "No interpreter found" in self.message or "Failed to inspect Python" in self.message


def uv_binary() -> str:
    """The uv executable: the one installed with Modelyard, else the first on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise InvalidInput(
                "uv is not installed; Modelyard resolves and builds environments with it: "
                "`pip install uv`"
            ) from None
        return found


def trim_message(stderr: str) -> str:
    """uv's error output as one line: from its first ``error:``, causes joined with ': '."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), 0)
    message = ""
    for line in lines[start:]:
        if line.startswith("cause:"):
            message = message.rstrip(":") + ": " + line.removeprefix("cause:").strip()
        else:
            message += (" " if message else "") + line.removeprefix("error:").strip()
    message = message.rstrip(".") or "uv failed without saying why"
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return message


def run_uv(args: Sequence[str]) -> str:
    """Run ``uv <args>`` and return its standard output; raise ``UvFailed`` if it fails."""
    command = [uv_binary(), *args]
    log.debug("running %s", " ".join(command))
    # The child needs the whole environment (PATH, proxies, uv's own settings) plus ours.
    env = {**os.environ, **_UV_ENV}
    done = subprocess.run(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise UvFailed(trim_message(done.stderr))
    return done.stdout


def missing_python_hint(python: str) -> str:
    return (
        f"Install Python {python} (for example `uv python install {python}`) or choose a "
        "Python version installed on this machine (`uv python list --only-installed`)"
    )
