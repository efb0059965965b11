"""The machine a benchmark ran on, recorded with every result file."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any


def describe_machine() -> dict[str, Any]:
    """CPU count and model, memory and platform (Linux /proc; 'unknown' elsewhere)."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
    }


def versus_mlflow(
    what: str, my: dict[str, Any], ml: dict[str, Any], *, quick: bool
) -> tuple[str, dict[str, Any]]:
    """The title and the header every Modelyard-vs-MLflow result file starts with.

    ``my`` and ``ml`` are the JSON results of each side; each carries its ``versions``.
    """
    import datetime as dt

    machine = describe_machine()
    title = (
        f"{what}Modelyard {my['versions']['modelyard']} vs MLflow {ml['versions']['mlflow']} "
        f"- {machine['nproc']} CPU {machine['cpu_model']}, {machine['memory_gib']} GiB"
        f"{' - QUICK (smoke run)' if quick else ''}"
    )
    header = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "versions": {
            "modelyard": my["versions"]["modelyard"],
            "mlflow": ml["versions"]["mlflow"],
            "python": platform.python_version(),
            "sqlalchemy": {
                "modelyard": my["versions"]["sqlalchemy"],
                "mlflow": ml["versions"]["sqlalchemy"],
            },
        },
        "machine": machine,
    }
    return title, header
