"""Registry benchmark: Modelyard and MLflow side by side, embedded on SQLite, in one run.

Run by hand (it is not a test):

    .venv/bin/python bench/registry.py            # full run
    .venv/bin/python bench/registry.py --quick    # smoke run, small N

Like tracking.py, each tool's side runs in its own interpreter (``--side modelyard`` under
.venv, ``--side mlflow`` under bench/.venv-mlflow) and prints JSON on stdout. Only the
standard library is imported at module level.

Registration is timed on two paths: from a local folder (Modelyard hashes the files and
stores those it does not have; MLflow's create_model_version records the path), and from
runs:/RUN_ID/model after the folder was logged as the run's artifacts (Modelyard
registry.register, MLflow mlflow.register_model). Runs are created off the clock.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine_info import (  # bench/ is on sys.path when run as a script
    versus_mlflow,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
MODELYARD_PY = ROOT / ".venv" / "bin" / "python"
MLFLOW_PY = BENCH / ".venv-mlflow" / "bin" / "python"

SIZES = {
    "full": {"register": 200, "alias": 200, "resolve": 10_000},
    "quick": {"register": 20, "alias": 20, "resolve": 500},
}
MODEL = "bench-model"
ALIAS = "champion"
RESOLVE_WARMUPS = 50
REGISTER_TARGET = 5.0  # Modelyard registers at least 5x MLflow's rate
RESOLVE_LIMIT_MS = 1.0  # alias resolution under 1 ms embedded


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def make_model_folder(root: Path) -> Path:
    """A small model folder: a 4 KB weights file and a short metadata file."""
    folder = root / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 16)
    (folder / "MLmodel").write_text("flavors:\n  bench: {}\n")
    return folder


def latencies(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, round(0.95 * len(samples)) - 1)]
    return {"median_ms": statistics.median(samples) * 1e3, "p95_ms": p95 * 1e3}


def check(what: str, got: Any, expected: Any) -> None:
    if got != expected:
        raise AssertionError(f"{what}: expected {expected}, got {got}")


def measure(side: Any, sizes: dict[str, int], folder: Path) -> dict[str, Any]:
    n = sizes["register"]
    progress(f"  registering {n} versions from the folder {folder}")
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        side.register(folder)
    folder_s, folder_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    check("versions", side.count_versions(), n)

    progress(f"  creating {n} runs and logging the folder as their artifacts (not timed)")
    run_ids = side.make_runs(folder, n)
    progress(f"  registering {n} versions from runs:/RUN_ID/model")
    # MLflow prints a line per registration ("Registered model ... already exists") to
    # stderr; both sides' stderr is discarded here so the log stays readable.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        t0, cpu0 = time.perf_counter(), time.process_time()
        for run_id in run_ids:
            side.register_run(run_id)
        run_s, run_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    check("versions", side.count_versions(), 2 * n)

    n_alias = sizes["alias"]
    progress(f"  setting '{ALIAS}' {n_alias} times")
    targets = [i % n + 1 for i in range(n_alias)]
    t0 = time.perf_counter()
    for v in targets:
        side.set_alias(v)
    alias_s = time.perf_counter() - t0
    last = targets[-1]
    check("alias target", side.resolve(), last)

    n_res = sizes["resolve"]
    progress(f"  resolving models:/{MODEL}@{ALIAS} {n_res:,} times")
    for _ in range(RESOLVE_WARMUPS):
        side.resolve()
    samples = []
    for _ in range(n_res):
        t = time.perf_counter()
        side.resolve()
        samples.append(time.perf_counter() - t)
    check("resolved version", side.resolve(), last)
    return {
        "register_folder_per_s": n / folder_s,
        "register_folder_ms": folder_s / n * 1e3,
        "register_run_per_s": n / run_s,
        "register_run_ms": run_s / n * 1e3,
        # CPU of this process: what is not CPU here was spent waiting (on the disk).
        "register_folder_cpu_ms": folder_cpu_s / n * 1e3,
        "register_run_cpu_ms": run_cpu_s / n * 1e3,
        "alias_ms": alias_s / n_alias * 1e3,
        "resolve": latencies(samples),
        "sizes": sizes,
    }


class ModelyardSide:
    def __init__(self) -> None:
        import modelyard

        self.client = modelyard.Client()
        self.registry = self.client.registry

    def setup(self) -> None:
        self.registry.create(MODEL)  # creates the schema and the model off the clock

    def register(self, folder: Path) -> None:
        self.registry.register(MODEL, folder)

    def make_runs(self, folder: Path, n: int) -> list[str]:
        experiment = self.client.create_experiment("bench-runs")
        run_ids = []
        for _ in range(n):
            run = self.client.create_run(experiment.id)
            self.client.log_artifacts(run.id, folder, "model")
            self.client.set_terminated(run.id)
            run_ids.append(run.id)
        return run_ids

    def register_run(self, run_id: str) -> None:
        self.registry.register(MODEL, f"runs:/{run_id}/model")

    def count_versions(self) -> int:
        return len(self.registry.versions(MODEL))

    def set_alias(self, version: int) -> None:
        self.registry.set_alias(MODEL, ALIAS, version)

    def resolve(self) -> int:
        return int(self.registry.resolve(f"models:/{MODEL}@{ALIAS}").version)

    @staticmethod
    def versions() -> dict[str, str]:
        import sqlalchemy

        import modelyard

        return {"modelyard": modelyard.__version__, "sqlalchemy": sqlalchemy.__version__}


class MlflowSide:
    def __init__(self, uri: str, artifact_root: Path) -> None:
        import logging

        import mlflow
        from mlflow import MlflowClient

        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.mlflow = mlflow
        self.client = MlflowClient()
        self.artifact_root = artifact_root

    def setup(self) -> None:
        self.client.create_registered_model(MODEL)

    def register(self, folder: Path) -> None:
        self.client.create_model_version(MODEL, source=str(folder))

    def make_runs(self, folder: Path, n: int) -> list[str]:
        # Artifacts go under the temporary folder, not ./mlartifacts.
        experiment_id = self.client.create_experiment(
            "bench-runs", artifact_location=self.artifact_root.as_uri()
        )
        run_ids = []
        for _ in range(n):
            with self.mlflow.start_run(experiment_id=experiment_id) as run:
                self.mlflow.log_artifacts(str(folder), "model")
            run_ids.append(run.info.run_id)
        return run_ids

    def register_run(self, run_id: str) -> None:
        self.mlflow.register_model(f"runs:/{run_id}/model", MODEL)

    def count_versions(self) -> int:
        return len(self.client.search_model_versions(f"name='{MODEL}'", max_results=10_000))

    def set_alias(self, version: int) -> None:
        self.client.set_registered_model_alias(MODEL, ALIAS, str(version))

    def resolve(self) -> int:
        return int(self.client.get_model_version_by_alias(MODEL, ALIAS).version)

    @staticmethod
    def versions() -> dict[str, str]:
        import mlflow
        import sqlalchemy

        return {"mlflow": mlflow.__version__, "sqlalchemy": sqlalchemy.__version__}


def run_side(name: str, quick: bool, profile: Path | None) -> dict[str, Any]:
    sizes = SIZES["quick" if quick else "full"]
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"registry-{name}-", dir=WORK) as tmp_name:
        tmp = Path(tmp_name)
        folder = make_model_folder(tmp)
        if name == "modelyard":
            os.environ["MODELYARD_URI"] = f"sqlite:///{tmp / 'm.db'}"
            os.environ["MODELYARD_ARTIFACT_ROOT"] = str(tmp / "art")
            side: Any = ModelyardSide()
        else:
            side = MlflowSide(f"sqlite:///{tmp / 'mlflow.db'}", tmp / "mlartifacts")
        side.setup()
        if profile is None:
            result = measure(side, sizes, folder)
        else:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            result = measure(side, sizes, folder)
            prof.disable()
            prof.dump_stats(profile)
        result["versions"] = side.versions()
        return result


def call_side(name: str, python: Path, quick: bool) -> dict[str, Any]:
    cmd = [str(python), str(Path(__file__).resolve()), "--side", name]
    if quick:
        cmd.append("--quick")
    progress(f"=== {name} side ({python}) ===")
    done = subprocess.run(cmd, stdout=subprocess.PIPE, cwd=WORK, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"the {name} side failed (exit {done.returncode})")
    return dict(json.loads(done.stdout))


def build_rows(my: dict[str, Any], ml: dict[str, Any], n: dict[str, int]) -> list[dict[str, Any]]:
    """Table rows; ``ratio`` is always "how many times better Modelyard is"."""
    rows: list[dict[str, Any]] = []
    for path, label in (
        ("folder", "from a local 4 KB folder"),
        ("run", "from runs:/RUN_ID/model"),
    ):
        ratio = my[f"register_{path}_per_s"] / ml[f"register_{path}_per_s"]
        rows.append(
            {
                "measurement": f"register {n['register']} versions {label}",
                "unit": "/s",
                "modelyard": my[f"register_{path}_per_s"],
                "mlflow": ml[f"register_{path}_per_s"],
                "ratio": ratio,
                "target": f"≥{REGISTER_TARGET:g}x",
                "met": ratio >= REGISTER_TARGET,
            }
        )
        for key, measurement in (("ms", "ms per registration"), ("cpu_ms", "of which CPU")):
            mine, theirs = my[f"register_{path}_{key}"], ml[f"register_{path}_{key}"]
            rows.append(
                {
                    "measurement": f"  {measurement}",
                    "unit": "ms",
                    "modelyard": mine,
                    "mlflow": theirs,
                    "ratio": theirs / mine,
                    "target": None,
                    "met": None,
                }
            )
    rows += [
        {
            "measurement": f"set alias ({n['alias']} moves), per call",
            "unit": "ms",
            "modelyard": my["alias_ms"],
            "mlflow": ml["alias_ms"],
            "ratio": ml["alias_ms"] / my["alias_ms"],
            "target": None,
            "met": None,
        },
    ]
    for stat in ("median", "p95"):
        a, b = my["resolve"][f"{stat}_ms"], ml["resolve"][f"{stat}_ms"]
        rows.append(
            {
                "measurement": f"resolve @{ALIAS} ({n['resolve']:,}x), {stat}",
                "unit": "ms",
                "modelyard": a,
                "mlflow": b,
                "ratio": b / a,
                "target": f"<{RESOLVE_LIMIT_MS:g} ms",
                "met": a < RESOLVE_LIMIT_MS,
            }
        )
    return rows


def fmt(value: float, unit: str) -> str:
    return f"{value:,.1f}/s" if unit == "/s" else f"{value:,.3f} ms"


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    header = ["measurement", "Modelyard", "MLflow", "ratio", "target", ""]
    cells = [
        [
            r["measurement"],
            fmt(r["modelyard"], r["unit"]),
            fmt(r["mlflow"], r["unit"]),
            f"{r['ratio']:,.1f}x",
            r["target"] or "",
            "" if r["met"] is None else ("met" if r["met"] else "MISSED"),
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *cells, strict=True)]
    print(title)
    for line in [header, *cells]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N: a smoke run")
    parser.add_argument("--side", choices=["modelyard", "mlflow"], help="internal")
    parser.add_argument("--profile", type=Path, help="with --side: write cProfile stats here")
    parser.add_argument("--out", type=Path, help="results JSON")
    args = parser.parse_args()
    if args.side:
        # Keep stdout for the JSON alone.
        results = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        results.write(json.dumps(run_side(args.side, args.quick, args.profile)))
        results.close()
        return

    started = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    if not MLFLOW_PY.exists():
        raise SystemExit(f"{MLFLOW_PY} is missing: run bench/tracking.py once to create it")
    my = call_side("modelyard", MODELYARD_PY, args.quick)
    ml = call_side("mlflow", MLFLOW_PY, args.quick)
    sizes = SIZES["quick" if args.quick else "full"]
    rows = build_rows(my, ml, sizes)
    title, header = versus_mlflow("Registry, embedded SQLite: ", my, ml, quick=args.quick)
    print_table(rows, title)
    out = args.out or WORK / (
        "registry-results-quick.json" if args.quick else "registry-results.json"
    )
    out.write_text(
        json.dumps(
            {
                **header,
                "sizes": sizes,
                "rows": rows,
                "raw": {"modelyard": my, "mlflow": ml},
                "wall_s": time.perf_counter() - started,
            },
            indent=2,
        )
    )
    print(f"results: {out}  (total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
