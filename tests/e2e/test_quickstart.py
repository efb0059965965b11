"""The README's first command: ``scripts/quickstart`` runs every capability end to end.

It is the main job a new user runs; a capability that works in its own tests but not in
the quickstart's sequence (register from a step, serve that version, score a file) is
caught here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
QUICKSTART_TIMEOUT_S = 600


@pytest.mark.slow
def test_the_quickstart_runs_every_capability(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(
        QUICKSTART_DIR=str(tmp_path),
        QUICKSTART_SKIP_INSTALL="1",  # .venv is the one running these tests
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="200",
        NO_COLOR="1",
    )
    process = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "quickstart")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the supervisor, its deployments and the server go with it
    )
    try:
        output, _ = process.communicate(timeout=QUICKSTART_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, output[-6000:]

    assert "4 of 4 steps from cache" in output  # the unchanged rerun
    assert "pass  auc" in output  # the CI gate
    assert re.search(r"^ok: \d+ files verified$", output, re.MULTILINE)  # the package
    assert '"code": "unprocessable_input"' in output  # a bad request named, not a crash
    assert "(none failed)" in output  # the rollout under live requests
    assert "green has 100% of the traffic" in output
    store = tmp_path / ".modelyard"
    scores = pd.read_parquet(store / "churn-scores.parquet")
    assert len(scores) == len(pd.read_parquet(store / "churn-holdout.parquet"))
    assert "inference log: " in output
    assert "model.alias.set" in output  # who moved champion, from the audit log
    assert "logged in to http://127.0.0.1:" in output
    assert re.search(r"needs the permission \w+:write \(the contributor role or above", output)
    assert re.search(r"^checkpoint: seq \d+ .* still holds$", output, re.MULTILINE)
    # A contributor's move of the protected champion waited for, and got, an approval.
    assert "is approval request 1; an approver decides it" in output
    assert "approved request 1: point churn@champion at version 2 (asked by carol)" in output
    supervised = (store / "supervisor.log").read_text()
    assert "deployment churn/green: ready" in supervised
    assert "HTTP Request" not in supervised  # its own progress, not every readiness probe
