"""Every output shape RunComfy's deployments return, and caps on what one result can do."""

from __future__ import annotations

import pytest

from runcomfy_async._constants import MAX_OUTPUT_URL_CHARS, MAX_OUTPUTS_PER_JOB
from runcomfy_async.core._parse import parse_result


def test_outputs_keyed_by_node_are_collected_in_order() -> None:
    # The shape of RunComfy's serverless and LoRA deployments: `outputs`, keyed by node.
    result = parse_result({
        "request_id": "r", "status": "succeeded",
        "outputs": {
            "9": {"images": [{"filename": "a.png", "url": "https://cdn.runcomfy.net/a.png"}]},
            "12": {"images": [{"filename": "b.png", "url": "https://cdn.runcomfy.net/b.png"}]},
        },
    })
    assert result.outputs == ("https://cdn.runcomfy.net/a.png", "https://cdn.runcomfy.net/b.png")


@pytest.mark.parametrize("output", [
    {"image": "https://x.runcomfy.net/1.png"},
    {"images": ["https://x.runcomfy.net/1.png"]},
    {"images": [{"url": "https://x.runcomfy.net/1.png"}]},
    {"video": {"url": "https://x.runcomfy.net/1.png"}},
])
def test_every_documented_output_shape_gives_its_url(output: object) -> None:
    result = parse_result({"request_id": "r", "status": "succeeded", "output": output})
    assert result.outputs == ("https://x.runcomfy.net/1.png",)


def test_a_result_cannot_make_a_batch_fetch_thousands_of_files(
    caplog: pytest.LogCaptureFixture,
) -> None:
    urls = [f"https://cdn.runcomfy.net/{i}.png" for i in range(3000)]
    result = parse_result({"request_id": "r", "status": "succeeded", "output": {"images": urls}})
    assert result.outputs == tuple(urls[:MAX_OUTPUTS_PER_JOB])
    assert "ignored" in caplog.text
    assert len(caplog.text) < 1000


def test_a_huge_url_is_dropped_not_logged_or_kept() -> None:
    huge = "https://cdn.runcomfy.net/" + "a" * 200_000
    result = parse_result({"request_id": "r", "status": "succeeded", "output": {"image": huge}})
    assert result.outputs == ()
    assert len(huge) > MAX_OUTPUT_URL_CHARS


def test_a_success_without_any_output_url_is_flagged_on_the_outcome() -> None:
    from runcomfy_async import InputState, Outcome

    result = parse_result({"request_id": "r", "status": "succeeded", "output": {"text": "hi"}})
    outcome = Outcome(index=0, input={}, model_id="m/x", request_id="r",
                      state=InputState.SUCCEEDED, result=result)
    assert outcome.ok
    assert outcome.missing_outputs


def test_a_result_says_it_is_missing_outputs_only_for_a_success_without_any() -> None:
    def parsed(status: str, output: object) -> bool:
        return parse_result({"request_id": "r", "status": status, "output": output}).missing_outputs

    assert parsed("succeeded", {"text": "hi"})
    assert not parsed("succeeded", {"image": "https://x.runcomfy.net/1.png"})
    assert not parsed("failed", None)
    assert not parsed("in_progress", None)


async def test_run_ending_in_a_success_without_any_output_url_flags_it_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiohttp import web

    from runcomfy_async import AsyncRunComfy
    from tests._rig import scripted_api

    async def submit(request: web.Request) -> web.Response:
        return web.json_response({"request_id": "r-7"})

    async def result(request: web.Request) -> web.Response:
        return web.json_response({"request_id": "r-7", "status": "succeeded",
                                  "output": {"text": "a fox, in words"}})

    routes = [web.post("/v1/models/{model:.*}", submit),
              web.get("/v1/requests/{rid}/result", result)]
    async with scripted_api(routes) as base_url, AsyncRunComfy(
        api_token="t", base_url=base_url
    ) as client:
        with caplog.at_level("WARNING", logger="runcomfy_async"):
            done = await client.run("acme/words", {"prompt": "a fox"}, timeout=30)

    assert (done.ok, done.outputs, done.missing_outputs) == (True, (), True)
    assert done.output == {"text": "a fox, in words"}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("r-7" in w and "no output URL" in w for w in warnings), warnings
