"""A user's journey through `modelyard gc`: a dry run lists what would go, then it goes."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.conftest import Cli, store_env


def test_dry_run_then_gc_frees_the_old_orphan_and_keeps_the_artifact(tmp_path: Path) -> None:
    cli = Cli(store_env(tmp_path), cwd=tmp_path)
    (tmp_path / "kept.txt").write_text("kept")
    orphan = cli.python(
        "import modelyard\n"
        "c = modelyard.Client()\n"
        "run = c.create_run(c.get_or_create_experiment('gc').id)\n"
        "c.log_artifact(run.id, 'kept.txt')\n"
        "print(c.backend.put_blob_bytes(b'never named').sha256)\n"
    ).strip()
    for path in (tmp_path / "art" / "blobs").rglob("*"):
        if path.is_file():
            os.utime(path, (1e9, 1e9))

    dry = cli("gc", "--dry-run").stdout
    assert "would delete: 1 blobs, 11 bytes" in dry
    assert orphan in dry
    report = cli("gc", "--min-age", "1h", "--json").json()
    assert (report["deleted"], report["bytes_freed"], report["live"]) == (1, 11, 1)
    assert "deleted:      0 blobs" in cli("gc").stdout
    (line,) = cli("gc", "--min-age", "soon", expect=2).assert_user_error()
    assert line == "error: --min-age 'soon': write a duration such as 24h, 30m or 90s"
    assert "--min-age" in cli("gc", "--help").stdout
