"""Properties of every Ideogram input: valid ones build, validate and round-trip; broken
ones are refused, naming each broken field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from runcomfy_async import InvalidInputError
from runcomfy_async.api._schema_check import bundled_schema
from runcomfy_async.core._converter import converter

from ._strategies import INPUT_CLASSES, broken_arguments, valid_arguments

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

classes = pytest.mark.parametrize("cls", INPUT_CLASSES, ids=lambda cls: cls.__name__)


@classes
@PROPERTY_SETTINGS
@given(data=st.data())
def test_a_valid_input_builds_validates_against_its_schema_and_round_trips(
    cls: Any, data: st.DataObject
) -> None:
    arguments = data.draw(valid_arguments(cls))
    item = cls(**arguments)
    payload = item.to_payload()

    schema = bundled_schema(cls.model_id)
    assert schema is not None
    Draft202012Validator(schema).validate(payload)
    assert converter.structure(payload, cls) == item
    assert converter.structure(json.loads(json.dumps(payload)), cls) == item


@classes
@PROPERTY_SETTINGS
@given(data=st.data())
def test_only_what_was_set_is_sent(cls: Any, data: st.DataObject) -> None:
    arguments = data.draw(valid_arguments(cls))
    payload = cls(**arguments).to_payload()

    extra = arguments.get("extra", {})
    assert set(payload) == {key for key in arguments if key != "extra"} | set(extra)


@classes
@PROPERTY_SETTINGS
@given(data=st.data())
def test_a_broken_input_is_refused_naming_every_broken_field(cls: Any, data: st.DataObject) -> None:
    arguments, broken = data.draw(broken_arguments(cls))

    with pytest.raises(InvalidInputError) as caught:
        cls(**arguments)

    assert caught.value.model_id == cls.model_id
    named = {path.split(".")[0].split("[")[0] for path in caught.value.fields}
    assert broken <= named
