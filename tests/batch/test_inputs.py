"""What one element of a batch's inputs means (``split_input``), the common case included."""

from __future__ import annotations

from typing import Any

import pytest

from runcomfy_async import InvalidInputError
from runcomfy_async.batch._inputs import split_input
from runcomfy_async.ideogram import V3TextToImage

MODEL = "ideogram/ideogram-v3/text-to-image"


def test_a_plain_dict_is_taken_as_a_copy() -> None:
    given: dict[str, Any] = {"prompt": "a fox"}
    model_id, payload = split_input(MODEL, given)
    given["prompt"] = "changed after the pull"
    assert (model_id, payload) == (MODEL, {"prompt": "a fox"})


def test_a_dict_with_a_key_that_is_not_a_string_is_refused_by_name() -> None:
    with pytest.raises(InvalidInputError) as raised:
        split_input(MODEL, {"prompt": "a fox", 3: "x"})
    assert "input[3]" in str(raised.value)
    assert "field names must be strings" in str(raised.value)


def test_a_typed_input_and_a_pair_still_take_their_own_paths() -> None:
    assert split_input(None, V3TextToImage(prompt="a fox")) == (MODEL, {"prompt": "a fox"})
    assert split_input(None, (MODEL, {"prompt": "a fox"})) == (MODEL, {"prompt": "a fox"})
