"""Token and base URL resolution; the token never shows in reprs, logs or errors."""

from __future__ import annotations

import logging

import pytest
from aioresponses import aioresponses

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy

from .conftest import BASE, TOKEN

RID = "3f1c9a2e-0000-4000-8000-000000000004"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "RUNCOMFY_API_TOKEN",
        "RUNCOMFY_TOKEN",
        "RUNCOMFY_API_KEY",
        "RUNCOMFY_MODEL_API_BASE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_missing_token_names_every_variable_looked_at() -> None:
    with pytest.raises(rc.ConfigurationError) as info:
        AsyncRunComfy()
    for name in ("RUNCOMFY_API_TOKEN", "RUNCOMFY_TOKEN", "RUNCOMFY_API_KEY"):
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ({"RUNCOMFY_API_KEY": "c"}, "c"),
        ({"RUNCOMFY_TOKEN": "b", "RUNCOMFY_API_KEY": "c"}, "b"),
        ({"RUNCOMFY_API_TOKEN": "a", "RUNCOMFY_TOKEN": "b", "RUNCOMFY_API_KEY": "c"}, "a"),
    ],
)
def test_token_environment_variables_in_order(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str], expected: str
) -> None:
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    assert rc.resolve_token(None) == expected


def test_argument_token_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "env")
    assert rc.resolve_token("arg") == "arg"


def test_base_url_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(AsyncRunComfy(api_token="t").base_url) == "https://model-api.runcomfy.net/v1"
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", "https://staging.example/v2/")
    assert str(AsyncRunComfy(api_token="t").base_url) == "https://staging.example/v2"


@pytest.mark.parametrize(
    "url", ["http://api.example.com/v1", "http://10.0.0.5/v1", "http://runcomfy.net.evil/v1"]
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(rc.ConfigurationError, match="plain-http"):
        AsyncRunComfy(api_token="t", base_url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/v1", "http://localhost:1/v1", "http://[::1]:9/v1"]
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    AsyncRunComfy(api_token="t", base_url=url)


def test_plain_http_opt_out() -> None:
    client = AsyncRunComfy(
        api_token="t", base_url="http://api.example.com/v1", allow_insecure_http=True
    )
    assert client.base_url.scheme == "http"


@pytest.mark.parametrize(
    "url", ["ftp://x/v1", "not a url", "https://user:pw@api.example/v1", "https://x/v1?token=1"]
)
def test_odd_base_urls_are_refused(url: str) -> None:
    with pytest.raises(rc.ConfigurationError):
        AsyncRunComfy(api_token="t", base_url=url)


def test_token_is_not_in_repr() -> None:
    client = AsyncRunComfy(api_token=TOKEN, base_url=BASE)
    assert TOKEN not in repr(client)
    assert TOKEN not in repr(client._transport)
    assert TOKEN not in str(vars(client).get("base_url"))


@pytest.mark.parametrize("status", [401, 403, 404, 422, 500])
async def test_token_is_not_in_logs_or_errors(
    http: aioresponses, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    url = f"{BASE}/requests/{RID}/status"
    http.get(
        url,
        status=status,
        payload={"error_code": status * 1000 + 1, "error_message": "nope", "detail": ["d"]},
    )
    async with AsyncRunComfy(
        api_token=TOKEN, base_url=BASE, retry=rc.RetryPolicy.never()
    ) as client:
        with caplog.at_level(logging.DEBUG), pytest.raises(rc.APIError) as info:
            await client.status(RID)
    text = caplog.text + str(info.value) + repr(info.value)
    assert TOKEN not in text
    assert "nope" in str(info.value)


@pytest.mark.parametrize("rid", ["../models", "a/b", "", "x" * 300, "a b", "?q=1"])
async def test_bad_request_ids_are_refused_before_sending(rid: str) -> None:
    async with AsyncRunComfy(api_token="t", base_url=BASE) as client:
        with pytest.raises(rc.InvalidInputError, match="request_id"):
            await client.status(rid)


@pytest.mark.parametrize("model", ["", "single", "a//b", "a/../b", "a/b c", "/a/b", 5])
async def test_bad_model_ids_are_refused_before_sending(model: object) -> None:
    async with AsyncRunComfy(api_token="t", base_url=BASE) as client:
        with pytest.raises(rc.InvalidInputError, match="model_id"):
            await client.submit(model, {"prompt": "x"})  # type: ignore[call-overload]


async def test_closed_client_refuses_calls() -> None:
    client = AsyncRunComfy(api_token="t", base_url=BASE)
    await client.aclose()
    with pytest.raises(rc.RunComfyError, match="closed"):
        await client.status(RID)
