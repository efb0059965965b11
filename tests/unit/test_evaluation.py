"""Evaluating models for ``modelyard model compare``: metric values agree with scikit-learn,
gates parse and decide as written, and every mistake a user can make is an InvalidInput
that says what to do."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.datasets import make_classification, make_regression
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC

from modelyard.errors import InvalidInput
from modelyard.registry.evaluation import Comparison, compare, evaluate, read_table
from modelyard.registry.flavors import save_model
from modelyard.registry.gates import Gate
from modelyard.registry.loading import LoadedModel, load_folder
from modelyard.registry.metrics import METRICS, get_metric

CLASSIFICATION = ["auc", "accuracy", "f1", "precision", "recall", "log_loss"]
REGRESSION = ["rmse", "mse", "mae", "r2"]


def _frame(x: Any, y: Any) -> pd.DataFrame:
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    return frame.assign(y=y)


def _saved(model: Any, frame: pd.DataFrame, folder: Path) -> LoadedModel:
    """Fit on ``frame``, save with its signature, load back as the registry would."""
    features = frame.drop(columns=["y"])
    model.fit(features, frame["y"])
    save_model(model, folder, sample=features)
    return load_folder(folder)


@pytest.fixture(scope="module")
def binary_data() -> pd.DataFrame:
    x, y = make_classification(n_samples=300, n_features=5, n_informative=3, random_state=0)
    return _frame(x, y)


@pytest.fixture(scope="module")
def multiclass_data() -> pd.DataFrame:
    x, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=1
    )
    return _frame(x, y)


@pytest.fixture(scope="module")
def regression_data() -> pd.DataFrame:
    x, y = make_regression(n_samples=200, n_features=4, noise=10.0, random_state=2)
    return _frame(x, y)


@pytest.fixture(scope="module")
def binary_model(binary_data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _saved(LogisticRegression(), binary_data, tmp_path_factory.mktemp("binary"))


@pytest.fixture(scope="module")
def weak_model(binary_data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _saved(DummyClassifier(), binary_data, tmp_path_factory.mktemp("dummy"))


@pytest.fixture(scope="module")
def multiclass_model(
    multiclass_data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    return _saved(LogisticRegression(), multiclass_data, tmp_path_factory.mktemp("multi"))


@pytest.fixture(scope="module")
def regression_model(
    regression_data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    return _saved(LinearRegression(), regression_data, tmp_path_factory.mktemp("regression"))


def _xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series[Any]]:
    return frame.drop(columns=["y"]), frame["y"]


# --- reading the evaluation table -------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "write"),
    [
        (".parquet", lambda f, p: f.to_parquet(p)),
        (".csv", lambda f, p: f.to_csv(p, index=False)),
        (".json", lambda f, p: f.to_json(p, orient="records")),
        (".jsonl", lambda f, p: f.to_json(p, orient="records", lines=True)),
    ],
)
def test_reads_each_table_format(suffix: str, write: Any, tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "label": ["x", "y", "x"]})
    path = tmp_path / f"holdout{suffix}"
    write(frame, path)
    pd.testing.assert_frame_equal(read_table(path), frame, check_dtype=False)


def test_unknown_extension_names_the_accepted_formats(tmp_path: Path) -> None:
    path = tmp_path / "holdout.xlsx"
    path.write_bytes(b"not read")
    with pytest.raises(InvalidInput, match=r"unknown extension '\.xlsx'.*\.parquet, \.csv"):
        read_table(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"holdout\.parquet' does not exist"):
        read_table(tmp_path / "holdout.parquet")


@pytest.mark.parametrize("name", ["holdout.parquet", "holdout.json", "holdout.csv"])
def test_malformed_file_says_what_it_should_be(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if name.endswith(".csv") else b"\x00\x01 not a table {")
    with pytest.raises(InvalidInput, match=r"cannot read .* the file must be \.parquet"):
        read_table(path)


# --- metrics ----------------------------------------------------------------------------


def test_binary_metrics_match_scikit_learn(
    binary_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    x, y = _xy(binary_data)
    predicted = binary_model.model.predict(x)
    scores = binary_model.model.predict_proba(x)
    expected = {
        "auc": skm.roc_auc_score(y, scores[:, 1]),
        "accuracy": skm.accuracy_score(y, predicted),
        "f1": skm.f1_score(y, predicted),
        "precision": skm.precision_score(y, predicted),
        "recall": skm.recall_score(y, predicted),
        "log_loss": skm.log_loss(y, scores),
    }
    got = evaluate(binary_model, binary_data, "y", CLASSIFICATION)
    assert got == pytest.approx(expected)
    assert all(type(v) is float for v in got.values())
    assert 0.5 < got["auc"] < 1.0  # a real, imperfect model, so the comparison means something


def test_multiclass_metrics_match_scikit_learn(
    multiclass_model: LoadedModel, multiclass_data: pd.DataFrame
) -> None:
    x, y = _xy(multiclass_data)
    predicted = multiclass_model.model.predict(x)
    scores = multiclass_model.model.predict_proba(x)
    expected = {
        "auc": skm.roc_auc_score(y, scores, multi_class="ovr"),
        "accuracy": skm.accuracy_score(y, predicted),
        "f1": skm.f1_score(y, predicted, average="macro"),
        "precision": skm.precision_score(y, predicted, average="macro"),
        "recall": skm.recall_score(y, predicted, average="macro"),
        "log_loss": skm.log_loss(y, scores),
    }
    assert evaluate(multiclass_model, multiclass_data, "y", CLASSIFICATION) == pytest.approx(
        expected
    )


def test_regression_metrics_match_scikit_learn(
    regression_model: LoadedModel, regression_data: pd.DataFrame
) -> None:
    x, y = _xy(regression_data)
    predicted = regression_model.model.predict(x)
    expected = {
        "rmse": math.sqrt(skm.mean_squared_error(y, predicted)),
        "mse": skm.mean_squared_error(y, predicted),
        "mae": skm.mean_absolute_error(y, predicted),
        "r2": skm.r2_score(y, predicted),
    }
    assert evaluate(regression_model, regression_data, "y", REGRESSION) == pytest.approx(expected)


def test_the_table_covers_every_metric_and_says_which_way_is_better() -> None:
    assert set(METRICS) == set(CLASSIFICATION + REGRESSION)
    lower = {name for name, m in METRICS.items() if not m.higher_is_better}
    assert lower == {"log_loss", "rmse", "mse", "mae"}
    assert {name for name, m in METRICS.items() if m.needs_scores} == {"auc", "log_loss"}


def test_string_labels_use_the_second_class_as_positive(
    binary_data: pd.DataFrame, tmp_path: Path
) -> None:
    labelled = binary_data.assign(y=np.where(binary_data["y"] == 1, "yes", "no"))
    model = _saved(LogisticRegression(), labelled, tmp_path / "m")
    x, y = _xy(labelled)
    predicted = model.model.predict(x)
    got = evaluate(model, labelled, "y", ["f1", "auc"])
    assert got["f1"] == pytest.approx(skm.f1_score(y, predicted, pos_label="yes"))
    assert got["auc"] == pytest.approx(
        skm.roc_auc_score(y == "yes", model.model.predict_proba(x)[:, 1])
    )


def test_metric_names_ignore_case_and_repeats(
    binary_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    assert list(evaluate(binary_model, binary_data, "y", ["AUC", "auc", "Accuracy"])) == [
        "auc",
        "accuracy",
    ]


def test_auc_with_one_class_present_is_nan_not_a_crash(
    binary_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    only_positives = binary_data[binary_data["y"] == 1]
    got = evaluate(binary_model, only_positives, "y", ["auc", "accuracy"])
    assert math.isnan(got["auc"])
    assert 0.0 < got["accuracy"] <= 1.0


# --- bad input to evaluate ----------------------------------------------------------------


def test_unknown_metric_lists_the_known_ones(
    binary_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    with pytest.raises(InvalidInput, match="unknown metric 'aucc'; known metrics: auc, accuracy"):
        evaluate(binary_model, binary_data, "y", ["aucc"])
    with pytest.raises(InvalidInput, match="unknown metric 'top5'"):
        get_metric("top5")


def test_no_metrics_is_refused(binary_model: LoadedModel, binary_data: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="at least one metric"):
        evaluate(binary_model, binary_data, "y", [])


def test_missing_target_is_named_with_the_columns(
    binary_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    with pytest.raises(
        InvalidInput, match="no target column 'label'; its columns are: x0, x1"
    ) as info:
        evaluate(binary_model, binary_data, "label", ["accuracy"])
    assert info.value.details["target"] == "label"
    assert "y" in info.value.details["columns"]


def test_missing_target_values_are_refused(
    binary_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    holes = binary_data.astype({"y": "float64"})
    holes.loc[holes.index[:3], "y"] = np.nan
    with pytest.raises(InvalidInput, match="'y' has 3 missing value"):
        evaluate(binary_model, holes, "y", ["accuracy"])


def test_empty_data_is_refused(binary_model: LoadedModel, binary_data: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="no rows"):
        evaluate(binary_model, binary_data.iloc[:0], "y", ["accuracy"])


def test_probability_metric_on_a_model_without_predict_proba(
    binary_data: pd.DataFrame, tmp_path: Path
) -> None:
    model = _saved(LinearSVC(), binary_data, tmp_path / "svc")
    with pytest.raises(InvalidInput, match=r"log_loss needs class probabilities.*LinearSVC"):
        evaluate(model, binary_data, "y", ["accuracy", "log_loss"])
    # Metrics computed from predictions still work for it.
    assert evaluate(model, binary_data, "y", ["accuracy"])["accuracy"] > 0.5


def test_features_go_through_the_signature_check(
    binary_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    with pytest.raises(InvalidInput, match="missing column"):
        evaluate(binary_model, binary_data.drop(columns=["x2"]), "y", ["accuracy"])
    with pytest.warns(UserWarning, match="'note'.*dropping"):
        got = evaluate(binary_model, binary_data.assign(note="a"), "y", ["accuracy"])
    assert got == evaluate(binary_model, binary_data, "y", ["accuracy"])


def test_regression_metric_on_text_labels_is_invalid_input(
    binary_data: pd.DataFrame, tmp_path: Path
) -> None:
    labelled = binary_data.assign(y=np.where(binary_data["y"] == 1, "yes", "no"))
    model = _saved(LogisticRegression(), labelled, tmp_path / "m")
    with pytest.raises(InvalidInput, match="cannot compute rmse"):
        evaluate(model, labelled, "y", ["rmse"])


# --- gates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metric", "op", "uses_baseline", "arithmetic", "number"),
    [
        ("auc >= baseline + 0.01", "auc", ">=", True, "+", 0.01),
        ("rmse <= baseline * 1.05", "rmse", "<=", True, "*", 1.05),
        ("accuracy > 0.8", "accuracy", ">", False, None, 0.8),
        ("log_loss < baseline", "log_loss", "<", True, None, None),
        ("f1 >= baseline - 0.02", "f1", ">=", True, "-", 0.02),
        ("mae<=baseline/2", "mae", "<=", True, "/", 2.0),
        ("  R2 == 1e-3 ", "r2", "==", False, None, 0.001),
        ("precision != -.5", "precision", "!=", False, None, -0.5),
        ("recall >= BASELINE + -0.1", "recall", ">=", True, "+", -0.1),
    ],
)
def test_parses_gates(
    text: str,
    metric: str,
    op: str,
    uses_baseline: bool,
    arithmetic: str | None,
    number: float | None,
) -> None:
    gate = Gate.parse(text)
    assert (gate.metric, gate.op, gate.uses_baseline, gate.arithmetic, gate.number) == (
        metric,
        op,
        uses_baseline,
        arithmetic,
        number,
    )
    assert gate.expression == text


@pytest.mark.parametrize(
    ("op", "value", "passed"),
    [
        (">=", 0.81, True), (">=", 0.8, True), (">=", 0.79, False),
        (">", 0.81, True), (">", 0.8, False), (">", 0.79, False),
        ("<=", 0.79, True), ("<=", 0.8, True), ("<=", 0.81, False),
        ("<", 0.79, True), ("<", 0.8, False), ("<", 0.81, False),
        ("==", 0.8, True), ("==", 0.81, False),
        ("!=", 0.81, True), ("!=", 0.8, False),
    ],
)  # fmt: skip
def test_each_operator_decides(op: str, value: float, passed: bool) -> None:
    result = Gate.parse(f"accuracy {op} 0.8").check({"accuracy": value})
    assert result.passed is passed
    assert result.threshold == 0.8
    assert result.candidate == value
    assert ("passes" if passed else "fails") in result.message


@pytest.mark.parametrize(
    ("text", "threshold"),
    [
        ("auc >= baseline", 0.8),
        ("auc >= baseline + 0.05", 0.85),
        ("auc >= baseline - 0.05", 0.75),
        ("auc >= baseline * 1.1", 0.88),
        ("auc >= baseline / 2", 0.4),
    ],
)
def test_baseline_arithmetic(text: str, threshold: float) -> None:
    result = Gate.parse(text).check({"auc": 0.86}, {"auc": 0.8})
    assert result.threshold == pytest.approx(threshold)
    assert result.baseline == 0.8
    assert result.passed is (threshold <= 0.86)


def test_float_rounding_does_not_flip_a_gate() -> None:
    # 0.2 + 0.1 is 0.30000000000000004 in floating point.
    def passes(text: str) -> bool:
        return Gate.parse(text).check({"accuracy": 0.3}, {"accuracy": 0.2}).passed

    assert passes("accuracy >= baseline + 0.1")
    assert passes("accuracy == baseline + 0.1")
    assert not passes("accuracy > baseline + 0.1")
    assert not passes("accuracy != baseline + 0.1")


def test_lower_is_better_gate_fails_a_worse_candidate() -> None:
    gate = Gate.parse("rmse <= baseline * 1.05")
    assert gate.check({"rmse": 10.4}, {"rmse": 10.0}).passed
    assert not gate.check({"rmse": 10.6}, {"rmse": 10.0}).passed


def test_baseline_gate_without_a_baseline() -> None:
    with pytest.raises(InvalidInput, match="no baseline model was evaluated"):
        Gate.parse("auc >= baseline + 0.01").check({"auc": 0.9}, None)


def test_gate_on_a_metric_that_was_not_evaluated() -> None:
    with pytest.raises(InvalidInput, match="needs f1, which was not evaluated"):
        Gate.parse("f1 > 0.5").check({"auc": 0.9})
    with pytest.raises(InvalidInput, match="baseline's f1"):
        Gate.parse("f1 > baseline").check({"f1": 0.9}, {"auc": 0.9})


@pytest.mark.parametrize(
    ("candidate", "baseline", "whose"),
    [(math.nan, 0.8, "candidate"), (0.9, math.nan, "baseline")],
)
def test_nan_fails_the_gate_and_says_why(candidate: float, baseline: float, whose: str) -> None:
    result = Gate.parse("auc >= baseline").check({"auc": candidate}, {"auc": baseline})
    assert not result.passed
    assert f"not defined for the {whose}" in result.message
    assert json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("auc = 0.9", 4, "unexpected character '=' (use == to test equality)"),
        ("auc 0.9", 4, "expected a comparison operator"),
        ("auc", 3, "expected a comparison operator (>=, >, <=, <, ==, !=), found the end"),
        ("", 0, "expected a metric name, found the end of the gate"),
        (">= 0.9", 0, "expected a metric name, found '>='"),
        ("aucc >= 0.9", 0, "unknown metric 'aucc' (known metrics: auc, accuracy"),
        ("auc >= base", 7, "expected a number or 'baseline', found 'base'"),
        ("auc >=", 6, "expected a number or 'baseline', found the end"),
        ("auc >= baseline +", 17, "expected a number, found the end"),
        ("auc >= baseline + baseline", 18, "expected a number, found 'baseline'"),
        ("auc >= baseline 0.01", 16, "expected +, -, *, / or the end of the gate"),
        ("auc >= 0.9 and f1 > 0.5", 11, "unexpected 'and'; expected the end of the gate"),
        ("auc >= 0.01 + baseline", 12, "unexpected '+'"),
        ("auc >= baseline / 0", 18, "cannot divide by 0"),
        ("auc >= 0.9 # note", 11, "unexpected character '#'"),
    ],
)
def test_syntax_errors_point_at_the_position(text: str, position: int, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Gate.parse(text)
    error = info.value
    assert error.details == {"expression": text, "position": position}
    assert message in error.message
    assert f"{text}\n{' ' * position}^" in error.message
    assert "a gate reads METRIC OP VALUE" in error.message


@given(st.text(alphabet="aucr2 bselin<>=!+-*/.0123456789e_#", max_size=30))
def test_any_text_parses_or_is_invalid_input(text: str) -> None:
    try:
        metric, position = Gate.parse(text).metric, None
    except InvalidInput as error:
        metric, position = None, error.details["position"]
    assert metric in METRICS if position is None else 0 <= position <= len(text)


# --- comparing two models -----------------------------------------------------------------


def test_a_better_candidate_passes_and_a_worse_one_fails(
    binary_model: LoadedModel, weak_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    gates = [Gate.parse("auc >= baseline + 0.01"), Gate.parse("log_loss < baseline")]
    better = compare(binary_model, weak_model, binary_data, "y", ["accuracy"], gates)
    assert better.passed
    assert list(better.candidate) == ["accuracy", "auc", "log_loss"]  # gate metrics added
    worse = compare(weak_model, binary_model, binary_data, "y", ["accuracy"], gates)
    assert not worse.passed
    assert [g.expression for g in worse.failures] == [g.expression for g in gates]


def test_comparison_rows_and_json(
    binary_model: LoadedModel, weak_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    result = compare(
        binary_model, weak_model, binary_data, "y", ["auc", "log_loss"], [Gate.parse("auc > 0.99")]
    )
    auc, log_loss = result.rows
    assert auc.metric == "auc"
    assert auc.baseline == pytest.approx(0.5)
    assert auc.delta == pytest.approx(auc.candidate - 0.5)
    assert auc.improved is True
    assert log_loss.improved is True  # lower log loss is better, and the delta is negative
    assert log_loss.delta is not None
    assert log_loss.delta < 0
    body = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert body["passed"] is False
    assert body["metrics"][0]["metric"] == "auc"
    assert body["gates"][0]["expression"] == "auc > 0.99"
    assert body["gates"][0]["passed"] is False


def test_compare_without_a_baseline(binary_model: LoadedModel, binary_data: pd.DataFrame) -> None:
    result = compare(binary_model, None, binary_data, "y", [], [Gate.parse("accuracy > 0.6")])
    assert result.passed
    assert result.rows[0].baseline is None
    assert result.rows[0].improved is None
    assert result.to_dict()["metrics"][0]["delta"] is None
    with pytest.raises(InvalidInput, match="no baseline model was evaluated"):
        compare(binary_model, None, binary_data, "y", ["auc"], [Gate.parse("auc >= baseline")])


def test_nan_metric_fails_the_comparison_and_stores_as_null(
    binary_model: LoadedModel, weak_model: LoadedModel, binary_data: pd.DataFrame
) -> None:
    only_positives = binary_data[binary_data["y"] == 1]
    result = compare(
        binary_model, weak_model, only_positives, "y", [], [Gate.parse("auc >= baseline")]
    )
    assert not result.passed
    body = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert body["metrics"][0]["candidate"] is None
    assert "NaN" in body["gates"][0]["message"]


def test_no_gates_means_passed() -> None:
    assert Comparison.of({"auc": 0.7}, {"auc": 0.9}).passed
