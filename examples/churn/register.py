"""Register the churn models the pipeline trained, straight from their ``train`` steps.

Run after `modelyard pipeline run examples/churn/pipeline.py -p C=0.5` and `-p C=2.0`:
registers the newest finished run of each as a version of the model ``churn`` (with a
signature, so bad inputs are refused by name), points ``champion`` at C=0.5 and
``challenger`` at C=2.0, and writes a held-out table for `modelyard model compare` and
`modelyard score`.

    python examples/churn/register.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import modelyard
from modelyard.registry.signatures import infer_signature

sys.path.insert(0, str(Path(__file__).parent))
from pipeline import FEATURES, prepare

HOLDOUT = Path(".modelyard/churn-holdout.parquet")


def main() -> None:
    client = modelyard.Client()
    newest: dict[float, str] = {}
    for run in client.pipelines.runs("churn", max_results=100):  # newest first
        if run.status.value == "FINISHED":
            newest.setdefault(float(run.params["C"]), run.run_id)
    missing = [c for c in (0.5, 2.0) if c not in newest]
    if missing:
        sys.exit(f"run the churn pipeline with C={missing[0]} first (see the module docstring)")
    # Customers the pipeline never saw (another seed): the comparison's held-out data.
    holdout = prepare(n_customers=2000, seed=1)[[*FEATURES, "churned"]]
    HOLDOUT.parent.mkdir(exist_ok=True)
    holdout.to_parquet(HOLDOUT)
    signature = infer_signature(holdout[FEATURES].head())
    for alias, c in (("champion", 0.5), ("challenger", 2.0)):
        version = client.registry.register(
            "churn",
            f"pipelines:/{newest[c]}/train/output",
            signature=signature,
            description=f"logistic regression, C={c}",
            reason="quickstart",
        )
        client.registry.set_alias("churn", alias, version.version, reason=f"C={c}")
        print(f"{version.uri} ({version.flavor}, from step run {version.run_id}) is {alias}")
    print(f"held-out customers: {HOLDOUT} ({len(holdout)} rows)")


if __name__ == "__main__":
    main()
