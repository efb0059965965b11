"""Kedro pipelines for bench/pipelines.py: the same chain and fan-out as Modelyard's.

Built programmatically with ``kedro.pipeline.node``/``pipeline`` and run with a
``SequentialRunner`` on a ``DataCatalog`` of ``MemoryDataset``s (no Kedro project, no
cache: Kedro has none, so a "cached rerun" is a plain rerun).

As a command (one whole process, what the benchmark times):

    python kedro_pipelines.py chain|fanout [-p k0=N | -p kb=N]
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

CHAIN_STEPS = 20
BRANCHES = 98


def source(k: int) -> int:
    return k


def inc(x: int, k: int) -> int:
    return x + k


def sink(*branches: int) -> int:
    return sum(branches)


def build(shape: str) -> Any:
    """The Kedro pipeline of a shape: ``chain`` (20 nodes) or ``fanout`` (100 nodes)."""
    from kedro.pipeline import node, pipeline

    if shape == "chain":
        nodes = [node(source, "params:k0", "d00", name="source")]
        for i in range(1, CHAIN_STEPS):
            nodes.append(node(inc, [f"d{i - 1:02d}", "params:one"], f"d{i:02d}", name=f"s{i:02d}"))
        return pipeline(nodes)
    nodes = [node(source, "params:one", "src", name="source")]
    for i in range(1, BRANCHES + 1):
        k = "params:kb" if i == 1 else f"params:k{i:02d}"
        nodes.append(node(inc, ["src", k], f"b{i:02d}", name=f"b{i:02d}"))
    nodes.append(node(sink, [f"b{i:02d}" for i in range(1, BRANCHES + 1)], "out", name="sink"))
    return pipeline(nodes)


def catalog(shape: str, params: dict[str, int]) -> Any:
    """Every dataset in memory, parameters included (``params:NAME``)."""
    from kedro.io import DataCatalog, MemoryDataset

    values = {"one": 1}
    if shape == "chain":
        values["k0"] = params.get("k0", 1)
    else:
        values["kb"] = params.get("kb", 1)
        values.update({f"k{i:02d}": i for i in range(2, BRANCHES + 1)})
    return DataCatalog({f"params:{k}": MemoryDataset(v) for k, v in values.items()})


def run(pipe: Any, shape: str, params: dict[str, int]) -> dict[str, Any]:
    from kedro.runner import SequentialRunner

    free = SequentialRunner().run(pipe, catalog(shape, params))
    return {name: dataset.load() for name, dataset in free.items()}


def quiet() -> None:
    """Kedro logs every node at INFO through Rich; the benchmark times orchestration."""
    import kedro.framework.project  # noqa: F401  (it configures logging when imported)

    logging.getLogger("kedro").setLevel(logging.WARNING)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shape", choices=["chain", "fanout"])
    parser.add_argument("-p", "--param", action="append", default=[])
    args = parser.parse_args()
    quiet()
    params = {k: int(v) for k, _, v in (p.partition("=") for p in args.param)}
    pipe = build(args.shape)
    outputs = run(pipe, args.shape, params)
    print(f"kedro {args.shape}: {len(pipe.nodes)} nodes ran; outputs {outputs}")


if __name__ == "__main__":
    main()
