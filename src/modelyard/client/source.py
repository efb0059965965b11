"""Where a run's code comes from: git commit, uncommitted changes, entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modelyard.tracking.models import Source


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def capture_source(entry_point: str | None = None) -> Source:
    """The git state of the entry point's folder (or the working folder) and the entry point."""
    entry = entry_point if entry_point is not None else (sys.argv[0] if sys.argv else None)
    folder = Path(entry).resolve().parent if entry and Path(entry).is_file() else Path.cwd()
    commit = _git(["rev-parse", "HEAD"], folder)
    dirty = None
    if commit is not None:
        status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
        dirty = bool(status) if status is not None else None
    return Source(commit=commit, dirty=dirty, entry_point=entry or None)
