"""What a model descriptor tells the registry about a new version, and what it may not."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidInput
from modelyard.registry.flavors import (
    MAX_DESCRIPTOR_BYTES,
    ModelDescriptor,
    parse_descriptor,
    registered_metadata,
)

SIGNATURE = {"type": "ndarray", "dtype": "float64", "kind": "float", "shape": [-1, 2]}


def _descriptor(**fields: object) -> ModelDescriptor:
    values: dict[str, object] = {
        "flavor": "sklearn",
        "signature": SIGNATURE,
        "python_version": "3.11.7",
        "libraries": {},
    }
    return ModelDescriptor.model_validate({**values, **fields})


def test_the_descriptor_fills_what_the_registrant_left_out() -> None:
    assert registered_metadata(_descriptor(), None, None, source="'m'") == ("sklearn", SIGNATURE)
    given = {"type": "dataframe", "columns": []}
    assert registered_metadata(_descriptor(), "sklearn", given, source="'m'") == (
        "sklearn",
        given,
    )


def test_a_contradicting_flavor_names_both() -> None:
    with pytest.raises(InvalidInput, match=r"'m' holds a 'sklearn' model .* not 'onnx'"):
        registered_metadata(_descriptor(), "onnx", None, source="'m'")


def test_a_descriptor_is_parsed_with_its_source_in_the_error() -> None:
    text = _descriptor(trusted=True).model_dump_json().encode()
    assert parse_descriptor(text).trusted is True
    with pytest.raises(InvalidInput, match=r"of 'runs:/r/m' is malformed: flavor: "):
        parse_descriptor(b'{"flavor": "keras"}', "'runs:/r/m'")
    with pytest.raises(InvalidInput, match="is malformed: Invalid JSON"):
        parse_descriptor(b"{", "'m'")
    with pytest.raises(InvalidInput, match="is over 8 MB: it is not a descriptor"):
        parse_descriptor(b" " * (MAX_DESCRIPTOR_BYTES + 1), "'m'")
