"""Churn: prepare -> split -> train -> evaluate, as a Modelyard pipeline.

The data is synthetic (made here, nothing is downloaded): customers with a tenure, a
monthly charge, a number of support calls and a contract type; whether they churn
follows a known logistic rule plus noise, so a model has something real to learn.

    modelyard pipeline run examples/churn/pipeline.py -p C=0.5
    modelyard pipeline run examples/churn/pipeline.py -p C=0.5   # every step from cache
    modelyard pipeline run examples/churn/pipeline.py -p C=2.0   # only train + evaluate rerun

Later issues extend it to registration and deployment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import modelyard

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_years"]


@modelyard.step
def prepare(n_customers: int = 5000, seed: int = 0) -> pd.DataFrame:
    """Synthetic customers with a churn label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure_months": rng.integers(1, 72, n_customers),
            "monthly_charges": rng.normal(70, 25, n_customers).clip(15, 150),
            "support_calls": rng.poisson(1.5, n_customers),
            "contract_years": rng.choice([0, 1, 2], n_customers, p=[0.5, 0.3, 0.2]),
        }
    )
    logit = (
        -1.0
        - 0.04 * frame.tenure_months
        + 0.02 * frame.monthly_charges
        + 0.45 * frame.support_calls
        - 0.9 * frame.contract_years
    )
    frame["churned"] = (rng.random(n_customers) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


@modelyard.step(outputs=["train", "test"])
def split(
    data: pd.DataFrame, test_fraction: float = 0.25, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random train/test split."""
    test = data.sample(frac=test_fraction, random_state=seed)
    return data.drop(test.index), test


@modelyard.step
def train(train: pd.DataFrame, C: float = 1.0, max_iter: int = 500) -> Pipeline:
    """A scaled logistic regression."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    model.fit(train[FEATURES], train.churned)
    modelyard.log_metric("train_rows", len(train))
    return model


@modelyard.step
def evaluate(model: Pipeline, test: pd.DataFrame) -> dict:
    """AUC and accuracy on the held-out customers."""
    scores = model.predict_proba(test[FEATURES])[:, 1]
    metrics = {
        "auc": float(roc_auc_score(test.churned, scores)),
        "accuracy": float(accuracy_score(test.churned, scores > 0.5)),
    }
    modelyard.log_metrics(metrics)
    return metrics


@modelyard.pipeline
def churn(n_customers: int = 5000, C: float = 1.0):
    """Train and evaluate a churn classifier on synthetic customers."""
    data = prepare(n_customers=n_customers)
    train_set, test_set = split(data)
    model = train(train_set, C=C)
    return {"model": model, "metrics": evaluate(model, test_set)}
