"""Steps and pipelines the pipeline tests run (a real module, so worker processes and Dask
workers can import it). Each step appends its name to the file ``$STEP_LOG`` when it runs,
so tests can tell executed steps from cached ones."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

import modelyard


def _ran(name: str) -> None:
    log = os.environ.get("STEP_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{name}\n")


@modelyard.step
def make_data(n_rows: int = 20, seed: int = 0) -> pd.DataFrame:
    _ran("make_data")
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n_rows), "y": rng.integers(0, 2, size=n_rows)})


@modelyard.step(outputs=["train", "test"])
def split(data: pd.DataFrame, fraction: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    _ran("split")
    cut = int(len(data) * fraction)
    return data.iloc[:cut], data.iloc[cut:]


@modelyard.step
def fit(train: pd.DataFrame, C: float = 1.0) -> dict:
    _ran("fit")
    modelyard.log_metric("train_rows", len(train))
    return {"mean": float(train.x.mean()) * C, "rows": len(train)}


@modelyard.step
def evaluate(model: dict, test: pd.DataFrame) -> dict:
    _ran("evaluate")
    modelyard.log_metric("score", abs(model["mean"]))
    return {"score": abs(model["mean"]), "test_rows": len(test)}


@modelyard.pipeline
def training(n_rows: int = 20, C: float = 1.0):
    """prepare -> split -> fit -> evaluate"""
    data = make_data(n_rows=n_rows)
    train, test = split(data)
    model = fit(train, C=C)
    return evaluate(model, test)


@modelyard.pipeline
def data_report(n_rows: int = 20):
    """Reuses make_data: shares its cache with `training`."""
    data = make_data(n_rows=n_rows)
    return summarize(data)


@modelyard.step
def summarize(data: pd.DataFrame) -> dict:
    _ran("summarize")
    return {"rows": len(data)}


@modelyard.step
def flaky(data: pd.DataFrame) -> dict:
    """Fails until $FLAKY_FILE holds 'ok'; counts its attempts in $FLAKY_FILE.count."""
    _ran("flaky")
    marker = Path(os.environ["FLAKY_FILE"])
    count = Path(f"{marker}.count")
    count.write_text(str(int(count.read_text() or 0) + 1 if count.exists() else 1))
    if marker.read_text().strip() != "ok":
        raise RuntimeError("not yet")
    return {"mean": 0.5, "rows": len(data)}


@modelyard.step(retries=2, retry_backoff_seconds=0.05)
def flaky_with_retries(data: pd.DataFrame) -> dict:
    return flaky.fn(data)


@modelyard.pipeline
def fragile(n_rows: int = 20):
    data = make_data(n_rows=n_rows)
    checked = flaky(data)
    summarize(data)
    return evaluate(checked, data)


@modelyard.pipeline
def retried(n_rows: int = 20):
    return flaky_with_retries(make_data(n_rows=n_rows))


@modelyard.step(timeout_seconds=1)
def slow(data: pd.DataFrame) -> dict:
    time.sleep(30)
    return {}


@modelyard.pipeline
def too_slow():
    return slow(make_data())


@modelyard.step
def branch(data: pd.DataFrame, k: int = 0) -> dict:
    _ran(f"branch{k}")
    time.sleep(0.3)
    return {"k": k, "rows": len(data)}


@modelyard.step
def join(a: dict, b: dict, c: dict) -> dict:
    _ran("join")
    return {"ks": [a["k"], b["k"], c["k"]]}


@modelyard.pipeline
def fan(n_rows: int = 20):
    data = make_data(n_rows=n_rows)
    a = branch.node("a")(data, k=1)
    b = branch.node("b")(data, k=2)
    c = branch.node("c")(data, k=3)
    return join(a, b, c)


# Steps whose JSON-typed arguments take another step's output (or a value) -------------------


@modelyard.step
def pick_threshold(level: int = 1) -> float:
    _ran("pick_threshold")
    return 0.25 * level


@modelyard.step
def count_rows(data: pd.DataFrame) -> int:
    _ran("count_rows")
    return len(data)


@modelyard.step
def add(x: int, y: int) -> dict:
    _ran("add")
    # The output of a step returning int comes back as that int, not a string or an array.
    return {"sum": x + y, "types": [type(x).__name__, type(y).__name__]}


@modelyard.step
def passes(metrics: dict, threshold: float) -> dict:
    _ran("passes")
    return {"passes": metrics["score"] >= threshold, "threshold": threshold}


@modelyard.pipeline
def tuned_gate(n_rows: int = 20, level: int = 1):
    """A tuning step passes its threshold, an evaluation its dict of metrics, to a decision."""
    data = make_data(n_rows=n_rows)
    train, test = split(data)
    metrics = evaluate(fit(train), test)
    return passes(metrics, pick_threshold(level=level))


@modelyard.pipeline
def fixed_gate(n_rows: int = 20, threshold: float = 0.25):
    """The same decision with its threshold as a value."""
    data = make_data(n_rows=n_rows)
    train, test = split(data)
    return passes(evaluate(fit(train), test), threshold)


@modelyard.pipeline
def rows_plus(n_rows: int = 20, extra: int = 1):
    return add(count_rows(make_data(n_rows=n_rows)), extra)


# A step that reads a file and says so (``modelyard.log_input``) -----------------------------


@modelyard.step
def read_table(path: str) -> pd.DataFrame:
    _ran("read_table")
    modelyard.log_input(path, name="table")
    return pd.read_csv(path)


@modelyard.pipeline
def fit_a_file(path: str):
    """read_table -> fit: the read file is the fit's dataset, through the step run."""
    return fit(read_table(path=path))
