"""Operation declarations: each is complete and unambiguous, since everything derives from it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from modelyard.core.operations import OperationContext, OperationSet, Request
from modelyard.errors import InvalidInput
from modelyard.tracking.models import LogBatch
from modelyard.tracking.operations import OPERATIONS


def test_routes_and_names_are_unique() -> None:
    routes = [(op.method, op.path) for op in OPERATIONS]
    assert len(routes) == len(set(routes))
    names = [op.name for op in OPERATIONS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_declaration_is_complete(op: object) -> None:
    from modelyard.core.operations import Operation

    assert isinstance(op, Operation)
    assert op.permission.count(":") == 1
    assert issubclass(op.request, Request)
    assert issubclass(op.response, BaseModel)
    assert set(op.path_params) <= set(op.request.model_fields)
    assert op.summary
    assert not op.summary.startswith(op.handler.__name__)
    # Reads are GET (or POST for a search with a body); changes carry an audit action.
    if op.method == "GET":
        assert not op.writes
    if op.writes:
        assert op.audit is not None
        assert "." in op.audit


def test_parse_turns_validation_errors_into_invalid_input() -> None:
    op = next(o for o in OPERATIONS if o.request is LogBatch)
    with pytest.raises(InvalidInput, match=r"metrics\.0\.value") as caught:
        op.parse({"run_id": "r1", "metrics": [{"key": "m", "value": "not a number"}]})
    assert caught.value.details["errors"][0]["loc"] == ["metrics", 0, "value"]
    with pytest.raises(InvalidInput, match="unexpected"):
        op.parse({"run_id": "r1", "unexpected": 1})


def test_a_request_built_from_bad_values_reads_as_a_sentence() -> None:
    from modelyard.serving.models import StartRollout

    with pytest.raises(InvalidInput) as caught:
        StartRollout(endpoint="churn", target="green", steps=[10, 5, 100])
    assert caught.value.message == (
        "invalid start rollout request: steps: steps must increase, e.g. 10,50,100"
    )


class Empty(Request):
    pass


def test_a_path_parameter_missing_from_the_request_is_refused() -> None:
    ops = OperationSet("test")
    with pytest.raises(TypeError, match="run_id"):

        @ops.read("/runs/{run_id}", permission="runs:read")
        def broken(ctx: OperationContext, req: Empty) -> Empty:
            return req


def test_every_change_a_rule_can_protect_can_be_made_by_an_approval() -> None:
    from modelyard.approvals.operations import PROTECTED_OPERATIONS
    from modelyard.server.app import ALL_OPERATIONS

    guarded = {op.name for op in ALL_OPERATIONS if op.guard is not None}
    assert guarded == set(PROTECTED_OPERATIONS)
    assert guarded >= {"registry.set_alias", "serving.set_traffic", "serving.start_rollout"}
