"""Benchmark: re-materializing an environment that is already built (a cache hit).

Target (issue 3): under 100 ms. Measured two ways:

* in process: ``EnvironmentsClient.materialize(name)`` on an already-built environment,
  median of 50 calls (what a pipeline run pays per step environment);
* as a whole command: ``modelyard env materialize NAME``, median of 5 (what a user waits).

The environment is a small real one (``six==1.16.0``), built once first (not timed).

    .venv/bin/python bench/environments.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import describe_machine  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / ".work" / "environments-results.json"


def main() -> None:
    from modelyard.client.client import Client
    from modelyard.config import Settings
    from modelyard.environments.models import EnvironmentSpec

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            uri=f"sqlite:///{tmp}/m.db", artifact_root=f"{tmp}/art", env_cache=Path(tmp) / "envs"
        )
        client = Client(settings=settings)
        client.environments.create(
            EnvironmentSpec(name="bench-six", python="3.11", requirements=["six==1.16.0"]),
            resolve=False,
        )
        started = time.perf_counter()
        client.environments.materialize("bench-six")
        build = time.perf_counter() - started
        print(f"first build (not a target): {build:.2f} s", file=sys.stderr)

        hits = []
        for _ in range(50):
            started = time.perf_counter()
            client.environments.materialize("bench-six")
            hits.append(time.perf_counter() - started)

        env = {
            **os.environ,
            "MODELYARD_URI": settings.resolved_uri,
            "MODELYARD_ARTIFACT_ROOT": f"{tmp}/art",
            "MODELYARD_ENV_CACHE": f"{tmp}/envs",
        }
        exe = str(Path(sys.executable).parent / "modelyard")
        cli = []
        for _ in range(5):
            started = time.perf_counter()
            subprocess.run(
                [exe, "env", "materialize", "bench-six"], env=env, check=True, capture_output=True
            )
            cli.append(time.perf_counter() - started)
        client.close()

    in_process_ms = statistics.median(hits) * 1000
    cli_s = statistics.median(cli)
    rows = [
        (
            "materialize cache hit, in process (median of 50)",
            f"{in_process_ms:.2f} ms",
            "< 100 ms",
            "met" if in_process_ms < 100 else "MISSED",
        ),
        ("`modelyard env materialize` cache hit (median of 5)", f"{cli_s:.2f} s", "", ""),
        ("first build with uv (six==1.16.0)", f"{build:.2f} s", "", ""),
    ]
    for row in rows:
        print(f"{row[0]:<55} {row[1]:>10}  {row[2]:<9} {row[3]}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d"),
                "python": platform.python_version(),
                "machine": describe_machine(),
                "in_process_hit_ms": in_process_ms,
                "cli_hit_s": cli_s,
                "first_build_s": build,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
