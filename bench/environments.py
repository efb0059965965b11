"""Benchmark: re-materializing an environment that is already built (a cache hit).

Target (issue 3): under 100 ms. A cache hit is measured at three depths, because each is a
different question and the figures differ by three orders of magnitude:

* the marker check: ``environments.materialize.materialize(env, cache)`` for an ``env``
  record already in hand, which reads ``<cache>/<hash>/.modelyard-environment`` and
  compares it with the hash; median of 2,000 calls (what the docs' "a cache hit only
  reads the marker" costs);
* in process: ``Client().environments.materialize(NAME)`` on an open client, which looks the
  environment up in the store (one read transaction on SQLite) and then checks the
  marker; median of 200 calls (what a pipeline run pays per step environment);
* as a whole command: ``modelyard env materialize NAME`` as a new process, from its start to
  its exit; median of 10 after one untimed run (what a user waits). Its floors are timed
  the same way: ``python -c pass`` (the interpreter alone), ``python -c "import
  modelyard.cli.main"`` (the CLI's own imports: Typer and the command modules),
  ``python -c "import modelyard.client.client"`` (the store layer the command needs:
  SQLAlchemy and pydantic) and ``modelyard --help``.

The environment is a small real one (``six==1.16.0``), built once first with uv (timed,
not a target). Results: ``bench/.work/environments-results.json`` (or ``--out``), with the
versions, the machine, the load average and the raw times.

    .venv/bin/python bench/environments.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from machine_info import describe_machine  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / ".work" / "environments-results.json"
TARGET_MS = 100.0


def _times(call: Callable[[], object], n: int) -> list[float]:
    """Wall times of ``n`` calls, in seconds."""
    found = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        found.append(time.perf_counter() - started)
    return found


def _process_times(command: list[str], env: dict[str, str], n: int) -> list[float]:
    """Wall times of ``n`` runs of ``command`` (after one untimed run), in seconds."""
    run = lambda: subprocess.run(command, env=env, check=True, capture_output=True)  # noqa: E731
    run()
    return _times(run, n)


def _versions() -> dict[str, str]:
    # Imported here: it also names the uv this Modelyard builds environments with.
    from modelyard.environments.uv_runner import uv_binary

    found = {"python": platform.python_version()}
    for dist in ("modelyard", "sqlalchemy", "pydantic", "typer"):
        found[dist] = metadata.version(dist)
    uv = subprocess.run([uv_binary(), "--version"], capture_output=True, text=True, check=True)
    found["uv"] = uv.stdout.split()[1]
    return found


def _commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from modelyard.client.client import Client
    from modelyard.config import Settings
    from modelyard.environments.materialize import materialize
    from modelyard.environments.models import EnvironmentSpec

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            uri=f"sqlite:///{tmp}/m.db", artifact_root=f"{tmp}/art", env_cache=Path(tmp) / "envs"
        )
        client = Client(settings=settings)
        client.environments.create(
            EnvironmentSpec(name="bench-six", python="3.11", requirements=["six==1.16.0"]),
            resolve=False,
        )
        [build] = _times(lambda: client.environments.materialize("bench-six"), 1)
        print(f"first build (not a target): {build:.2f} s", file=sys.stderr)

        record = client.environments.lookup("bench-six")
        cache = settings.resolved_env_cache
        marker = _times(lambda: materialize(record, cache), 2000)
        in_process = _times(lambda: client.environments.materialize("bench-six"), 200)

        env = {
            **os.environ,
            "MODELYARD_URI": settings.resolved_uri,
            "MODELYARD_ARTIFACT_ROOT": f"{tmp}/art",
            "MODELYARD_ENV_CACHE": f"{tmp}/envs",
        }
        exe = str(Path(sys.executable).parent / "modelyard")
        print("timing processes ...", file=sys.stderr)
        command = _process_times([exe, "env", "materialize", "bench-six"], env, 10)
        python_alone = _process_times([sys.executable, "-c", "pass"], env, 10)
        cli_imports = _process_times([sys.executable, "-c", "import modelyard.cli.main"], env, 10)
        store_imports = _process_times(
            [sys.executable, "-c", "import modelyard.client.client"], env, 10
        )
        cli_help = _process_times([exe, "--help"], env, 10)
        client.close()
    load_after = os.getloadavg()

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    rows = [
        ("marker check, materialize(env, cache) (median of 2,000)", ms(marker), True),
        ("in process, Client().environments.materialize (median of 200)", ms(in_process), True),
        ("`modelyard env materialize` as a process (median of 10)", ms(command), True),
        ("  floor: `python -c pass`", ms(python_alone), False),
        ("  floor: `python -c 'import modelyard.cli.main'`", ms(cli_imports), False),
        ("  floor: `python -c 'import modelyard.client.client'`", ms(store_imports), False),
        ("  floor: `modelyard --help`", ms(cli_help), False),
        ("first build with uv (six==1.16.0)", build * 1000, False),
    ]
    for label, value, judged in rows:
        verdict = ("met" if value < TARGET_MS else "MISSED") if judged else ""
        shown = f"{value:.3f} ms" if value < 10 else f"{value:,.0f} ms"
        print(f"{label:<66} {shown:>12}  {verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _commit(),
        "versions": _versions(),
        "machine": describe_machine(),
        "load_average_1m": {"before": load_before[0], "after": load_after[0]},
        "target_ms": TARGET_MS,
        "median_ms": {
            "marker_check": ms(marker),
            "in_process": ms(in_process),
            "command": ms(command),
            "python_alone": ms(python_alone),
            "cli_imports": ms(cli_imports),
            "store_imports": ms(store_imports),
            "cli_help": ms(cli_help),
        },
        "first_build_s": build,
        "raw_s": {
            "marker_check": marker,
            "in_process": in_process,
            "command": command,
            "python_alone": python_alone,
            "cli_imports": cli_imports,
            "store_imports": store_imports,
            "cli_help": cli_help,
        },
    }
    args.out.write_text(json.dumps(results, indent=2))
    print(f"results: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
