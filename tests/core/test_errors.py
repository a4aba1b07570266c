"""Every documented error code and HTTP status maps to its typed error."""

from __future__ import annotations

import pytest
from aioresponses import aioresponses

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy

from .conftest import BASE

RID = "3f1c9a2e-0000-4000-8000-000000000001"
STATUS_URL = f"{BASE}/requests/{RID}/status"


@pytest.mark.parametrize(
    ("http_status", "code", "error_type"),
    [
        (400, 400001, rc.InvalidRequestError),
        (400, 400002, rc.InsufficientBalanceError),
        (402, None, rc.InsufficientBalanceError),
        (400, 400004, rc.AuthenticationError),
        (401, 401001, rc.AuthenticationError),
        (403, 403001, rc.PermissionDeniedError),
        (404, 404001, rc.NotFoundError),
        (422, 422001, rc.InvalidRequestError),
        (429, None, rc.RateLimitedError),
        (500, 500001, rc.ServerError),
    ],
)
async def test_error_code_maps_to_typed_error(
    http: aioresponses, clock: object, http_status: int, code: int | None, error_type: type
) -> None:
    body = {"error_code": code, "error_message": "server says no"} if code else {"x": 1}
    async with AsyncRunComfy(api_token="t", base_url=BASE, retry=rc.RetryPolicy.never()) as client:
        http.get(STATUS_URL, status=http_status, payload=body)
        with pytest.raises(error_type) as info:
            await client.status(RID)
    error = info.value
    assert error.status == http_status
    assert error.error_code == code
    assert error.request_id == RID
    assert RID in str(error)


async def test_not_found_says_unknown_or_expired(http: aioresponses, client: AsyncRunComfy) -> None:
    http.get(STATUS_URL, status=404, payload={"error_code": 404001, "error_message": "nope"})
    with pytest.raises(rc.NotFoundError, match="unknown or expired"):
        await client.status(RID)


async def test_validation_error_lists_each_field(http: aioresponses, client: AsyncRunComfy) -> None:
    detail = [
        {"loc": ["body", "prompt"], "msg": "field required", "type": "missing"},
        {"loc": ["body", "seed"], "msg": "must be <= 2147483647", "type": "range"},
    ]
    http.post(
        f"{BASE}/models/ideogram/ideogram-v3/text-to-image",
        status=422,
        payload={"error_code": 422001, "error_message": "invalid input", "detail": detail},
    )
    with pytest.raises(rc.InvalidRequestError) as info:
        await client.submit("ideogram/ideogram-v3/text-to-image", {"seed": -1})
    assert info.value.fields == ("body.prompt", "body.seed")
    text = str(info.value)
    assert "body.prompt: field required" in text
    assert "body.seed: must be <= 2147483647" in text
    assert info.value.model_id == "ideogram/ideogram-v3/text-to-image"


async def test_200_with_error_code_is_an_error(http: aioresponses, client: AsyncRunComfy) -> None:
    http.get(STATUS_URL, status=200, payload={"error_code": 403001, "error_message": "not yours"})
    with pytest.raises(rc.PermissionDeniedError, match="not yours"):
        await client.status(RID)


async def test_200_with_5xx_error_code_is_retried_for_gets(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    http.get(STATUS_URL, status=200, payload={"error_code": 500001, "error_message": "oops"})
    http.get(STATUS_URL, status=200, payload={"request_id": RID, "status": "in_progress"})
    status = await client.status(RID)
    assert status.state is rc.JobState.RUNNING


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, "<html><body>Gateway</body></html>", "text/html"),
        (200, "", "application/json"),
        (200, "{not json", "application/json"),
    ],
)
async def test_non_json_answer_is_malformed_and_quoted(
    http: aioresponses, client: AsyncRunComfy, status: int, body: str, content_type: str
) -> None:
    http.get(STATUS_URL, status=status, body=body, content_type=content_type)
    with pytest.raises(rc.MalformedResponseError) as info:
        await client.status(RID)
    assert info.value.status == 200
    if body:
        assert body[:10] in str(info.value)


async def test_long_bodies_are_quoted_truncated(http: aioresponses, client: AsyncRunComfy) -> None:
    http.get(STATUS_URL, status=200, body="x" * 10_000, content_type="text/plain")
    with pytest.raises(rc.MalformedResponseError) as info:
        await client.status(RID)
    assert len(str(info.value)) < 500


@pytest.mark.parametrize("body", [[1, 2], "a string", 42, None])
async def test_json_of_the_wrong_shape_is_malformed(
    http: aioresponses, client: AsyncRunComfy, body: object
) -> None:
    http.get(STATUS_URL, status=200, payload=body)
    with pytest.raises(rc.MalformedResponseError):
        await client.status(RID)


@pytest.mark.parametrize(
    "body", [[1, 2], "a string", 42, None, {"status": "in_queue"}, {"request_id": ["x"]}]
)
async def test_a_submit_accepted_without_a_request_id_is_an_unknown_outcome(
    http: aioresponses, client: AsyncRunComfy, body: object
) -> None:
    # The server said yes: a paid job may exist, so this is not retried but reported.
    http.post(f"{BASE}/models/a/b", status=200, payload=body)
    with pytest.raises(rc.SubmitOutcomeUnknownError) as info:
        await client.submit("a/b", {"prompt": "x"})
    assert info.value.fingerprint == rc.input_fingerprint("a/b", {"prompt": "x"})


async def test_html_5xx_page_becomes_server_error(http: aioresponses, clock: object) -> None:
    async with AsyncRunComfy(api_token="t", base_url=BASE, retry=rc.RetryPolicy.never()) as c:
        http.get(STATUS_URL, status=502, body="<html>Bad Gateway</html>", content_type="text/html")
        with pytest.raises(rc.ServerError, match="Bad Gateway") as info:
            await c.status(RID)
    assert info.value.status == 502


async def test_redirects_are_not_followed(http: aioresponses, client: AsyncRunComfy) -> None:
    http.get(STATUS_URL, status=302, headers={"Location": "https://elsewhere.test/x"})
    with pytest.raises(rc.MalformedResponseError, match="redirect"):
        await client.status(RID)


def test_errors_survive_pickling() -> None:
    import pickle

    error = rc.NotFoundError("gone", status=404, error_code=404001, request_id=RID)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is rc.NotFoundError
    assert copy.request_id == RID
    assert str(copy) == str(error)


async def test_an_answer_error_says_which_request_it_answers(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    http.get(STATUS_URL, status=404, payload={"error_code": 404001, "error_message": "nope"})
    with pytest.raises(rc.NotFoundError) as info:
        await client.status(RID)
    assert (info.value.method, info.value.path) == ("GET", f"/requests/{RID}/status")
    # The request id says what the call was about; the route would only repeat it.
    assert "GET /requests" not in str(info.value)
    assert f"request_id={RID}" in str(info.value)


async def test_a_listing_error_names_its_route_and_keeps_the_servers_message(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    http.get(f"{BASE}/models?limit=100&offset=0", status=403,
             payload={"error_code": 403001, "error_message": "no"})
    with pytest.raises(rc.PermissionDeniedError) as info:
        await client.models.list()
    assert info.value.message == "no"  # the route is context, not part of the message
    assert (info.value.method, info.value.path) == ("GET", "/models")
    assert str(info.value) == "HTTP 403 error_code 403001: no (GET /models)"


def test_the_answered_request_survives_pickling() -> None:
    import pickle

    error = rc.ServerError("down", status=503, method="GET", path="/models")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.method, copy.path) == ("GET", "/models")
    assert str(copy) == str(error) == "HTTP 503: down (GET /models)"
