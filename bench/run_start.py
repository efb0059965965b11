"""What starting a run costs: the first ``start_run`` in a process, and each one after it.

Run by hand (it is not a test):

    .venv/bin/python bench/run_start.py                 # this tree
    .venv/bin/python bench/run_start.py --base main     # this tree and a git revision, interleaved

Each sample is a new interpreter on an embedded SQLite store: it imports modelyard, connects,
times its first ``with start_run(): pass`` (where once-per-process work such as capturing
the environment lands), then N more. "fresh store" samples start on an empty store each
time; "existing store" samples reuse one store, as every run after the first on a machine
does. With ``--base`` the revision's ``src/`` is exported (``git archive``) under
bench/.work and put first on PYTHONPATH for its samples; the two sides alternate, so load
from other work on the machine falls on both. Results: bench/.work/run-start-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from revisions import export_src  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"

SAMPLE = """
import json, os, sys, time
store, n = sys.argv[1], int(sys.argv[2])
os.environ["MODELYARD_URI"] = f"sqlite:///{store}/m.db"
os.environ["MODELYARD_HOME"] = f"{store}/.modelyard"
os.chdir(store)
import modelyard
modelyard.connect()
t0 = time.perf_counter()
with modelyard.start_run("bench"):
    pass
t1 = time.perf_counter()
for _ in range(n):
    with modelyard.start_run("bench"):
        pass
t2 = time.perf_counter()
print(json.dumps({"first_ms": (t1 - t0) * 1e3, "each_ms": (t2 - t1) / max(n, 1) * 1e3}))
"""


def sample(python_path: str | None, store: Path, n: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    if python_path:
        env["PYTHONPATH"] = python_path
    done = subprocess.run(
        [sys.executable, "-c", SAMPLE, str(store), str(n)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="a git revision to compare with, e.g. main")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200, help="runs timed after the first")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    sides: dict[str, str | None] = {"this tree": None}
    if args.base:
        sides[args.base] = export_src(args.base, "src")
    raw: dict[str, dict[str, list[dict[str, float]]]] = {s: {} for s in sides}
    with tempfile.TemporaryDirectory(prefix="modelyard-run-start-") as tmp:
        existing = {side: Path(tmp) / f"existing-{i}" for i, side in enumerate(sides)}
        for folder in existing.values():
            folder.mkdir()
        for side, path in sides.items():
            sample(path, existing[side], 0)  # the store's first run, not measured
        for i in range(args.repeats):
            for side, path in sides.items():
                fresh = Path(tmp) / f"fresh-{i}-{abs(hash(side))}"
                fresh.mkdir()
                raw[side].setdefault("fresh store", []).append(sample(path, fresh, args.runs))
                raw[side].setdefault("existing store", []).append(sample(path, existing[side], 0))
    summary: dict[str, Any] = {}
    for side, kinds in raw.items():
        summary[side] = {
            "first start_run, fresh store (ms)": statistics.median(
                s["first_ms"] for s in kinds["fresh store"]
            ),
            "first start_run, existing store (ms)": statistics.median(
                s["first_ms"] for s in kinds["existing store"]
            ),
            "each start_run after (ms)": statistics.median(
                s["each_ms"] for s in kinds["fresh store"]
            ),
        }
    for side, rows in summary.items():
        print(side)
        for label, value in rows.items():
            print(f"  {label:40} {value:8.1f}")
    out = WORK / "run-start-results.json"
    load = os.getloadavg()
    out.write_text(json.dumps({"summary": summary, "raw": raw, "loadavg": load}, indent=2))
    print(f"results: {out}  (load average {load[0]:.1f})")


if __name__ == "__main__":
    main()
