"""DVC projects for bench/pipelines.py: the same chain and fan-out as a ``dvc.yaml``.

Every stage is a ``python -c`` that copies a file (the first stage, and branch b01 of the
fan-out, also append a parameter read from ``params.yaml`` through ``${...}``), so what
is timed is DVC's orchestration plus one small interpreter start per stage that runs.

    python dvc_project.py chain|fanout DIR     # writes dvc.yaml, params.yaml, data/input
    python dvc_project.py set DIR NAME=VALUE   # changes one parameter in params.yaml
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CHAIN_STEPS = 20
BRANCHES = 98

COPY = "python -c \"import shutil; shutil.copyfile('{src}', '{dst}')\""
# Copies and appends a parameter; ${name} is substituted by DVC from params.yaml.
COPY_PARAM = (
    "python -c \"import sys; open('{dst}', 'w').write(open('{src}').read() + sys.argv[1])\""
    " ${{{param}}}"
)
SINK = (
    "python -c \"import sys; open('data/sink', 'w').write(''.join(open(p).read() "
    'for p in sys.argv[1:]))" {srcs}'
)


def _stage(cmd: str, deps: list[str], out: str, param: str | None = None) -> dict[str, object]:
    stage: dict[str, object] = {"cmd": cmd, "deps": deps, "outs": [out]}
    if param:
        stage["params"] = [param]
    return stage


def stages(shape: str) -> tuple[dict[str, object], dict[str, int]]:
    """The stages of ``dvc.yaml`` and the content of ``params.yaml`` for a shape."""
    if shape == "chain":
        result = {
            "s00": _stage(
                COPY_PARAM.format(src="data/input", dst="data/s00", param="k0"),
                ["data/input"],
                "data/s00",
                "k0",
            )
        }
        for i in range(1, CHAIN_STEPS):
            src, dst = f"data/s{i - 1:02d}", f"data/s{i:02d}"
            result[f"s{i:02d}"] = _stage(COPY.format(src=src, dst=dst), [src], dst)
        return result, {"k0": 1}
    result = {
        "source": _stage(
            COPY.format(src="data/input", dst="data/source"), ["data/input"], "data/source"
        )
    }
    branches = []
    for i in range(1, BRANCHES + 1):
        dst = f"data/b{i:02d}"
        branches.append(dst)
        if i == 1:
            cmd = COPY_PARAM.format(src="data/source", dst=dst, param="kb")
            result[f"b{i:02d}"] = _stage(cmd, ["data/source"], dst, "kb")
        else:
            cmd = COPY.format(src="data/source", dst=dst)
            result[f"b{i:02d}"] = _stage(cmd, ["data/source"], dst)
    result["sink"] = _stage(SINK.format(srcs=" ".join(branches)), branches, "data/sink")
    return result, {"kb": 1}


def write(shape: str, root: Path) -> None:
    """Write the project files into ``root`` (already ``dvc init``-ed)."""
    result, params = stages(shape)
    # JSON is YAML, so no YAML library is needed here.
    (root / "dvc.yaml").write_text(json.dumps({"stages": result}, indent=1))
    (root / "params.yaml").write_text(json.dumps(params))
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "input").write_text("input\n")


def set_param(root: Path, assignment: str) -> None:
    name, _, value = assignment.partition("=")
    params = json.loads((root / "params.yaml").read_text())
    params[name] = int(value)
    (root / "params.yaml").write_text(json.dumps(params))


if __name__ == "__main__":
    if sys.argv[1] == "set":
        set_param(Path(sys.argv[2]), sys.argv[3])
    else:
        write(sys.argv[1], Path(sys.argv[2]))
