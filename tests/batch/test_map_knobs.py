"""``map`` and ``collect`` take every setting either as flat keywords (``MapKnobs``) or as one
``MapOptions``, never both, and the flat keywords are one set with one set of defaults."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runcomfy_async import (
    AsyncRunComfy,
    ConfigurationError,
    Deadlines,
    Limits,
    MapKnobs,
    MapOptions,
)
from runcomfy_async.batch._options import knob_default

MODEL = "test/model"
KNOBS = list(MapKnobs.__annotations__)


@pytest.fixture
async def client() -> AsyncIterator[AsyncRunComfy]:
    # Nothing is sent: a batch does no I/O until it is entered.
    async with AsyncRunComfy("token", "http://127.0.0.1:9", allow_insecure_http=True) as c:
        yield c


async def test_map_hands_its_keywords_to_the_batch_as_options(client: AsyncRunComfy) -> None:
    batch = client.map(MODEL, [], max_in_flight=5, deadline=60.0, track_cost=True,
                       download_to="out", download_origins=["http://127.0.0.1:8"])
    options = batch.options
    assert options.limits == Limits(max_in_flight=5)
    assert options.deadlines == Deadlines(batch=60.0)
    assert options.budget.track
    assert options.downloads is not None
    assert (options.downloads.folder, options.downloads.origins) == ("out", ["http://127.0.0.1:8"])


async def test_map_without_keywords_runs_on_the_default_options(client: AsyncRunComfy) -> None:
    assert client.map(MODEL, []).options == MapOptions()
    assert MapOptions.build() == MapOptions()


async def test_map_takes_one_options_value_as_it_is(client: AsyncRunComfy) -> None:
    options = MapOptions(limits=Limits(max_in_flight=3), ordered=True)
    assert client.map(MODEL, [], options=options).options is options


@pytest.mark.parametrize("method", ["map", "collect"])
async def test_options_and_keywords_together_are_refused_by_name(
    client: AsyncRunComfy, method: str
) -> None:
    call: Any = getattr(client, method)
    first: tuple[Any, ...] = (MODEL, []) if method == "map" else (["a-request-id"],)
    with pytest.raises(ConfigurationError, match=r"not both: got options= and max_in_flight$"):
        call(*first, options=MapOptions(), max_in_flight=5)


async def test_collect_takes_the_same_keywords(client: AsyncRunComfy) -> None:
    batch = client.collect(["a-request-id"], job_timeout=0.2, ordered=True)
    assert batch.options.deadlines.job_timeout == 0.2
    assert batch.options.ordered


async def test_an_unknown_keyword_is_a_type_error_naming_it(client: AsyncRunComfy) -> None:
    with pytest.raises(TypeError, match="'max_inflight'"):
        client.map(MODEL, [], max_inflight=5)  # type: ignore[call-arg]


def test_downloads_are_set_up_only_with_a_folder() -> None:
    assert MapOptions.build(download_origins=["http://127.0.0.1:8"]).downloads is None
    assert MapOptions.build(download_to=None).downloads is None


@pytest.mark.parametrize(
    ("knob", "value", "field"),
    [("max_in_flight", 0, "max_in_flight"), ("cancel_timeout", -1.0, "cancel"),
     ("resubmit_failed", -1, "failed"), ("max_spend", -1.0, "max_spend")],
)
def test_a_keyword_out_of_range_is_refused_by_its_field(
    knob: str, value: Any, field: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{field} must be"):
        MapOptions.build(**{knob: value})


@pytest.mark.parametrize("method", [AsyncRunComfy.map, AsyncRunComfy.collect])
def test_help_and_notebooks_see_every_keyword_with_its_default(method: Any) -> None:
    parameters = inspect.signature(method).parameters
    assert [name for name in parameters if name in MapKnobs.__annotations__] == KNOBS
    assert {name: parameters[name].default for name in KNOBS} == {
        name: knob_default(name) for name in KNOBS
    }
    assert parameters["max_in_flight"].default == Limits().max_in_flight
    assert parameters["download_to"].default is None
    assert all(p.kind is not p.VAR_KEYWORD for p in parameters.values())
