"""A model card tells the same story on every backend, from the records alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.cards.render import html_page, markdown
from modelyard.client.client import Client
from modelyard.errors import InvalidInput, NotFound
from modelyard.registry.models import RecordEvaluation
from modelyard.tracking.models import DatasetInput


def _champion(client: Client, model_dir: Path) -> None:
    """Two versions trained by runs; version 2 is evaluated, made champion and deployed."""
    exp = client.create_experiment("churn")
    for n, auc in ((1, 0.81), (2, 0.88)):
        run = client.create_run(exp.id)
        client.log_artifacts(run.id, model_dir, "model")
        client.log_batch(run.id, params={"C": n / 2}, metrics=[{"key": "auc", "value": auc}])
        client.log_input(
            run.id, DatasetInput(name="customers", digest=f"{n}" * 64, context="training")
        )
        client.registry.register(
            "churn", f"runs:/{run.id}/model", flavor="sklearn", reason=f"nightly {n}"
        )
    client.registry.record_evaluation(
        RecordEvaluation(
            model="churn",
            version=2,
            baseline_model="churn",
            baseline_version=1,
            data="holdout.parquet",
            data_sha256="e" * 64,
            rows=500,
            target="churned",
            metrics={"auc": 0.87},
            baseline_metrics={"auc": 0.80},
            gates=[{"metric": "auc", "passed": True}],
            passed=True,
        )
    )
    client.registry.set_alias("churn", "champion", 1, reason="first champion")
    client.registry.set_alias("churn", "champion", 2, reason="better AUC on holdout")
    client.registry.update(
        "churn",
        owner="retention-team",
        intended_use="rank customers by churn risk for retention offers",
        limitations="trained on EU customers only | not for credit <decisions>",
    )
    client.serving.create_endpoint("churn", port=7391)
    client.serving.create_deployment("churn", "blue", "models:/churn@champion")


def test_the_card_has_the_four_parts_from_the_records(client: Client, model_dir: Path) -> None:
    _champion(client, model_dir)
    card = client.registry.card("models:/churn@champion")
    details = card.model_details
    assert (details.uri, details.owner, details.flavor) == (
        "models:/churn/2",
        "retention-team",
        "sklearn",
    )
    assert details.aliases == ["champion"]
    assert details.registered_reason == "nightly 2"
    assert details.registered_by == "tester"

    parameters = card.model_parameters
    assert parameters.training_params == {"C": "1.0"}
    [data] = parameters.training_data
    assert (data.name, data.digest, data.context) == ("customers", "2" * 64, "training")
    assert data.via == f"runs:/{details.run_id}"

    quantitative = card.quantitative_analysis
    assert quantitative.metrics == {"auc": 0.88}
    [evaluation] = quantitative.evaluations
    assert (evaluation["data_sha256"], evaluation["passed"]) == ("e" * 64, True)

    considerations = card.considerations
    assert considerations.intended_use == "rank customers by churn risk for retention offers"
    assert [(m.from_version, m.to_version, m.reason) for m in considerations.alias_history] == [
        (1, 2, "better AUC on holdout")
    ]
    assert [(s.endpoint, s.deployment, s.traffic) for s in considerations.deployed] == [
        ("churn", "blue", 100)
    ]

    first = client.registry.card("models:/churn/1").considerations
    assert [(m.from_version, m.to_version) for m in first.alias_history] == [(None, 1), (1, 2)]
    assert first.deployed == []


def test_the_card_renders_as_markdown_and_escaped_html(client: Client, model_dir: Path) -> None:
    _champion(client, model_dir)
    card = client.registry.card("models:/churn@champion")
    text = markdown(card)
    for part in ("## Model details", "## Model parameters", "## Quantitative analysis"):
        assert part in text
    assert "## Considerations" in text
    assert "better AUC on holdout" in text
    assert "EU customers only \\| not for credit &lt;decisions&gt;" in text
    page = html_page(card)
    assert "<decisions>" not in page
    assert "&lt;decisions&gt;" in page
    assert page.count("<table>") == 4  # training data, evaluations, alias moves, deployed


def test_model_fields_change_and_clear_and_are_audited(client: Client, model_dir: Path) -> None:
    client.registry.register("churn", model_dir, flavor="sklearn")
    client.registry.update("churn", owner="team-a", limitations="small sample")
    updated = client.registry.update("churn", owner="team-b", reason="team reorg")
    assert (updated.owner, updated.limitations) == ("team-b", "small sample")
    assert client.registry.update("churn", limitations="").limitations is None
    [moved] = [
        r
        for r in client.audit.records(target="models:/churn", action="model.updated")
        if r.reason == "team reorg"
    ]
    assert moved.before is not None
    assert moved.before["owner"] == "team-a"
    assert moved.after is not None
    assert moved.after["owner"] == "team-b"
    with pytest.raises(NotFound, match="model 'nope'"):
        client.registry.update("nope", owner="x")
    with pytest.raises(InvalidInput, match="owner"):
        client.registry.update("churn", owner="x" * 300)


def test_a_card_of_nothing_is_404(client: Client) -> None:
    with pytest.raises(NotFound):
        client.registry.card("models:/nope/1")
    with pytest.raises(InvalidInput):
        client.registry.card("runs:/abc")
