"""Evaluating models on held-out data, and the gates that decide whether a candidate passes.

``modelyard model compare`` evaluates a candidate and (usually) a baseline version on one
table, then checks gates such as ``auc >= baseline + 0.01``; a failed gate makes the command
exit non-zero, so CI can stop a worse model from being promoted.

A gate reads ``METRIC OP VALUE``: OP is one of ``>= > <= < == !=`` and VALUE is a number,
``baseline`` (the baseline model's value of the same metric) or ``baseline`` followed by
``+ - * /`` and a number. Values within a relative 1e-9 of each other count as equal, so the
rounding in ``0.8 + 0.1`` cannot flip a gate. A metric that is not defined on the data (AUC
when the target holds one class) is NaN, and a gate on a NaN fails with a message saying so.

scikit-learn, pandas and NumPy are imported inside the functions that use them, so that
``import modelyard`` stays fast.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput
from modelyard.registry.gates import Gate, GateResult, json_float, no_baseline
from modelyard.registry.loading import LoadedModel
from modelyard.registry.metrics import METRICS, Metric, Outputs, get_metric

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "METRICS", "Comparison", "Metric", "MetricRow", "Outputs", "compare", "evaluate",
    "get_metric", "read_table",
]  # fmt: skip

logger = logging.getLogger("modelyard.models")


TABLE_FORMATS = ".parquet, .csv, .json (a list of records) or .jsonl (one record per line)"


def read_table(path: Path) -> pd.DataFrame:
    """The table in ``path``, read by its extension: .parquet, .csv, .json or .jsonl."""
    import pandas as pd

    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
        ".parquet": pd.read_parquet,
        ".csv": pd.read_csv,
        ".json": lambda p: pd.read_json(p, orient="records"),
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise InvalidInput(
            f"cannot read '{path}': unknown extension '{path.suffix}'; use {TABLE_FORMATS}",
            details={"path": str(path)},
        )
    if not path.is_file():
        raise InvalidInput(f"'{path}' does not exist or is not a file", details={"path": str(path)})
    try:
        frame = reader(path)
    # pandas and pyarrow report malformed files as ValueError subclasses (ParserError,
    # ArrowInvalid, EmptyDataError, UnicodeDecodeError); unreadable files as OSError.
    except (ValueError, OSError) as exc:
        raise InvalidInput(
            f"cannot read '{path}' as {path.suffix.lower()[1:]}: {exc}; the file must be "
            f"{TABLE_FORMATS}",
            details={"path": str(path)},
        ) from exc
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"'{path}' does not hold a table of records")
    return frame


def _model_name(model: LoadedModel) -> str:
    return f"{model.name} ({type(model.model).__qualname__})"


def _classes(model: Any, target: Any, predicted: Any) -> Any:
    import numpy as np

    known = getattr(model, "classes_", None)
    if known is not None:
        return np.asarray(known)
    return np.unique(np.concatenate([np.asarray(target), np.asarray(predicted)]))


def _compute(metric: Metric, out: Outputs, model: LoadedModel) -> float:
    try:
        value = metric.compute(out)
    except ValueError as exc:
        # Wrong kind of target for the metric (rmse on labels), a class the model never saw...
        raise InvalidInput(
            f"cannot compute {metric.name} for {_model_name(model)}: {exc}",
            details={"metric": metric.name},
        ) from exc
    if math.isnan(value):
        logger.warning("%s is not defined for %s on this data (NaN)", metric.name, model.name)
    return value


def evaluate(
    model: LoadedModel, frame: pd.DataFrame, target: str, metrics: Sequence[str]
) -> dict[str, float]:
    """``{metric: value}`` for ``model`` predicting ``target`` from the other columns of ``frame``.

    The features go through the model's signature check first (extra columns are dropped
    with a warning), exactly as on predict.
    """
    import numpy as np

    chosen = list({m.name: m for m in map(get_metric, metrics)}.values())
    if not chosen:
        raise InvalidInput(f"name at least one metric to evaluate: {', '.join(METRICS)}")
    if target not in frame.columns:
        raise InvalidInput(
            f"the data has no target column '{target}'; its columns are: "
            f"{', '.join(str(c) for c in frame.columns)}",
            details={"target": target, "columns": [str(c) for c in frame.columns]},
        )
    truth = frame[target]
    if len(truth) == 0:
        raise InvalidInput("the evaluation data has no rows")
    missing = int(truth.isna().sum())
    if missing:
        raise InvalidInput(
            f"target column '{target}' has {missing} missing value(s); drop those rows first",
            details={"target": target, "missing": missing},
        )
    needing = [m.name for m in chosen if m.needs_scores]
    predict_proba = getattr(model.model, "predict_proba", None)
    if needing and not callable(predict_proba):
        raise InvalidInput(
            f"{' and '.join(needing)} need{'' if len(needing) > 1 else 's'} class "
            f"probabilities, but {_model_name(model)} has no predict_proba; choose metrics "
            "computed from predictions (accuracy, f1, ...)",
            details={"metrics": needing},
        )
    features = model.check(frame.drop(columns=[target]))
    predicted = np.asarray(model.model.predict(features))
    if len(predicted) != len(truth):
        raise InvalidInput(
            f"{_model_name(model)} returned {len(predicted)} predictions for {len(truth)} rows"
        )
    target_values = truth.to_numpy()
    classes = _classes(model.model, target_values, predicted)
    scores = None
    if needing and callable(predict_proba):
        scores = np.asarray(predict_proba(features))
        if scores.ndim != 2 or scores.shape[1] != len(classes):
            raise InvalidInput(
                f"{_model_name(model)}'s predict_proba returned shape {list(scores.shape)}; "
                f"expected one column per class ({len(classes)})"
            )
    out = Outputs(target_values, predicted, scores, classes)
    return {m.name: _compute(m, out, model) for m in chosen}


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One line of the comparison table; ``delta`` is candidate minus baseline."""

    metric: str
    candidate: float
    baseline: float | None
    higher_is_better: bool

    @property
    def delta(self) -> float | None:
        return None if self.baseline is None else self.candidate - self.baseline

    @property
    def improved(self) -> bool | None:
        """Whether the candidate is better; None without a baseline, a tie or a NaN."""
        delta = self.delta
        if delta is None or math.isnan(delta) or delta == 0:
            return None
        return (delta > 0) == self.higher_is_better

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "candidate": json_float(self.candidate),
            "baseline": json_float(self.baseline),
            "delta": json_float(self.delta),
            "higher_is_better": self.higher_is_better,
            "improved": self.improved,
        }


@dataclass(frozen=True)
class Comparison:
    """A candidate's metric values next to a baseline's, and the gates' outcomes."""

    candidate: Mapping[str, float]
    baseline: Mapping[str, float] | None
    gates: tuple[GateResult, ...] = ()

    @classmethod
    def of(
        cls,
        candidate: Mapping[str, float],
        baseline: Mapping[str, float] | None,
        gates: Sequence[Gate] = (),
    ) -> Comparison:
        """Check ``gates`` against the two sets of metric values."""
        results = tuple(gate.check(candidate, baseline) for gate in gates)
        return cls(dict(candidate), None if baseline is None else dict(baseline), results)

    @property
    def rows(self) -> list[MetricRow]:
        return [
            MetricRow(
                name,
                value,
                None if self.baseline is None else self.baseline.get(name),
                get_metric(name).higher_is_better,
            )
            for name, value in self.candidate.items()
        ]

    @property
    def passed(self) -> bool:
        """True when every gate passed (and trivially when there are none)."""
        return all(gate.passed for gate in self.gates)

    @property
    def failures(self) -> list[GateResult]:
        return [gate for gate in self.gates if not gate.passed]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (NaN becomes null), as stored on the candidate version."""
        return {
            "passed": self.passed,
            "metrics": [row.to_dict() for row in self.rows],
            "gates": [gate.to_dict() for gate in self.gates],
        }


def compare(
    candidate: LoadedModel,
    baseline: LoadedModel | None,
    frame: pd.DataFrame,
    target: str,
    metrics: Sequence[str],
    gates: Sequence[Gate] = (),
) -> Comparison:
    """Evaluate both models on ``frame`` (the gates' metrics included) and check the gates."""
    names = list(dict.fromkeys([get_metric(m).name for m in metrics] + [g.metric for g in gates]))
    if baseline is None:
        # Refuse before spending minutes on an evaluation whose gate cannot be checked.
        for gate in gates:
            if gate.uses_baseline:
                raise no_baseline(gate)
    candidate_values = evaluate(candidate, frame, target, names)
    baseline_values = None if baseline is None else evaluate(baseline, frame, target, names)
    return Comparison.of(candidate_values, baseline_values, gates)
