"""The metrics ``model compare`` computes: each with its direction and whether it needs scores.

scikit-learn is imported inside the functions that use it, so ``import modelyard`` stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelyard.errors import InvalidInput

__all__ = ["METRICS", "Metric", "Outputs", "get_metric"]


@dataclass(frozen=True, slots=True)
class Outputs:
    """What a model produced on the evaluation data, next to the true target values.

    ``scores`` are ``predict_proba``'s columns, one per entry of ``classes`` (None when no
    metric asked for them); ``classes`` are the model's ``classes_``, or the sorted labels
    seen in the target and predictions for a model without that attribute.
    """

    target: Any
    predicted: Any
    scores: Any  # None when no metric needs probabilities
    classes: Any


@dataclass(frozen=True, slots=True)
class Metric:
    """One supported metric: how to compute it and which way is better."""

    name: str
    higher_is_better: bool
    needs_scores: bool
    compute: Callable[[Outputs], float]
    description: str


def _label_options(out: Outputs) -> dict[str, Any]:
    # The positive class is the second of the model's classes, as for predict_proba's
    # column 1; string labels ("no"/"yes") would break sklearn's default pos_label=1.
    if len(out.classes) <= 2:
        return {"average": "binary", "pos_label": out.classes[-1]}
    return {"average": "macro"}


def _auc(out: Outputs) -> float:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    if len(np.unique(out.target)) < 2:
        # Undefined; older scikit-learn raises here, newer returns NaN with a warning.
        return math.nan
    if len(out.classes) == 2:
        positive = out.target == out.classes[1]
        return float(roc_auc_score(positive, out.scores[:, 1]))
    return float(roc_auc_score(out.target, out.scores, multi_class="ovr", labels=out.classes))


def _accuracy(out: Outputs) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(out.target, out.predicted))


def _f1(out: Outputs) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(out.target, out.predicted, **_label_options(out)))


def _precision(out: Outputs) -> float:
    from sklearn.metrics import precision_score

    return float(precision_score(out.target, out.predicted, **_label_options(out)))


def _recall(out: Outputs) -> float:
    from sklearn.metrics import recall_score

    return float(recall_score(out.target, out.predicted, **_label_options(out)))


def _log_loss(out: Outputs) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(out.target, out.scores, labels=out.classes))


def _rmse(out: Outputs) -> float:
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(out.target, out.predicted))


def _mse(out: Outputs) -> float:
    from sklearn.metrics import mean_squared_error

    return float(mean_squared_error(out.target, out.predicted))


def _mae(out: Outputs) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(out.target, out.predicted))


def _r2(out: Outputs) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(out.target, out.predicted))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("auc", True, True, _auc, "ROC AUC (one-vs-rest, macro, for multiclass)"),
        Metric("accuracy", True, False, _accuracy, "share of correct predictions"),
        Metric("f1", True, False, _f1, "F1 (macro for multiclass)"),
        Metric("precision", True, False, _precision, "precision (macro for multiclass)"),
        Metric("recall", True, False, _recall, "recall (macro for multiclass)"),
        Metric("log_loss", False, True, _log_loss, "cross-entropy of the class probabilities"),
        Metric("rmse", False, False, _rmse, "root mean squared error"),
        Metric("mse", False, False, _mse, "mean squared error"),
        Metric("mae", False, False, _mae, "mean absolute error"),
        Metric("r2", True, False, _r2, "coefficient of determination"),
    )
}


def get_metric(name: str) -> Metric:
    """The metric called ``name`` (case-insensitive); ``InvalidInput`` listing the known ones."""
    found = METRICS.get(name.strip().lower())
    if found is None:
        raise InvalidInput(
            f"unknown metric '{name}'; known metrics: {', '.join(METRICS)}",
            details={"metric": name, "known": list(METRICS)},
        )
    return found
