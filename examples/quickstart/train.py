"""Quickstart: train a scikit-learn classifier three ways and track every run in Modelyard.

A parent run holds one child run per regularisation strength. Each child logs its params,
a learning curve (one metric point per epoch), final metrics, the dataset it trained on,
and its model coefficients and confusion matrix as artifacts.

Run it with nothing configured and everything lands in ./.modelyard (SQLite + artifacts).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import modelyard

EPOCHS = 30
ALPHAS = [0.1, 0.01, 0.0001]


def train_one(
    alpha: float,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    out: Path,
) -> float:
    model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=0)
    classes = np.unique(y_train)
    for epoch in range(EPOCHS):
        model.partial_fit(x_train, y_train, classes=classes)
        modelyard.log_metrics(
            {
                "train_accuracy": accuracy_score(y_train, model.predict(x_train)),
                "val_accuracy": accuracy_score(y_val, model.predict(x_val)),
            },
            step=epoch,
        )
    predicted = model.predict(x_val)
    val_accuracy = float(accuracy_score(y_val, predicted))
    modelyard.log_metrics(
        {
            "val_f1": float(f1_score(y_val, predicted)),
            "val_auc": float(roc_auc_score(y_val, model.predict_proba(x_val)[:, 1])),
        },
        step=EPOCHS,
    )
    coefficients = out / f"alpha-{alpha}" / "coefficients.json"
    coefficients.parent.mkdir(parents=True)
    coefficients.write_text(
        json.dumps({"coef": model.coef_.tolist(), "intercept": model.intercept_.tolist()})
    )
    matrix = coefficients.with_name("confusion_matrix.csv")
    pd.DataFrame(confusion_matrix(y_val, predicted)).to_csv(matrix, index=False)
    modelyard.log_artifact(coefficients, "model")
    modelyard.log_artifact(matrix, "evaluation")
    return val_accuracy


def main() -> None:
    data = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = data.frame
    train, val = train_test_split(frame, test_size=0.25, random_state=0, stratify=frame.target)
    scaler = StandardScaler().fit(train.drop(columns="target"))
    x_train = scaler.transform(train.drop(columns="target"))
    x_val = scaler.transform(val.drop(columns="target"))

    with (
        tempfile.TemporaryDirectory() as tmp,
        modelyard.start_run(
            "quickstart", run_name="sgd-sweep", description="alpha sweep of a logistic SGD model"
        ) as parent,
    ):
        modelyard.log_input(train, name="breast-cancer-train", source="sklearn.datasets")
        modelyard.log_params({"epochs": EPOCHS, "alphas": ",".join(map(str, ALPHAS))})
        results = {}
        for alpha in ALPHAS:
            with modelyard.start_run("quickstart", run_name=f"alpha-{alpha}", nested=True) as run:
                modelyard.log_input(train, name="breast-cancer-train", source="sklearn.datasets")
                modelyard.log_params({"alpha": alpha, "loss": "log_loss", "epochs": EPOCHS})
                modelyard.set_tag("model", "SGDClassifier")
                results[run.id] = train_one(
                    alpha, x_train, train.target.to_numpy(), x_val, val.target.to_numpy(), Path(tmp)
                )
        best = max(results, key=lambda run_id: results[run_id])
        modelyard.log_metric("best_val_accuracy", results[best])
        modelyard.set_tag("best_run", best)
    print(f"parent run {parent.id}: best child {best} (val_accuracy {results[best]:.3f})")
    Path(".modelyard").mkdir(exist_ok=True)
    Path(".modelyard/quickstart-best-run").write_text(best)


if __name__ == "__main__":
    main()
