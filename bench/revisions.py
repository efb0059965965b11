"""Benchmarks that compare this checkout with another git revision of Modelyard."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"


def export_src(rev: str, label: str) -> str:
    """``src/`` of git revision ``rev`` under bench/.work/LABEL-REV, for PYTHONPATH."""
    target = WORK / f"{label}-{rev.replace('/', '_')}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True)
    archive.check_returncode()
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return str(target / "src")
