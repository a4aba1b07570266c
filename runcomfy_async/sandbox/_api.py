"""The API origin: RunComfy's routes under ``/v1``, its auth, its errors and its faults.

Every route goes through `Api._endpoint`, which counts the request, draws a fault for it and
turns raised `ApiError`s into JSON answers, so each handler is only the happy path and its
checks (reading the request is `_requests`; what a fault answers, `_fault_answers`).

Anything outside the routes (an unknown path, a path with a trailing slash or an empty model
id segment, a method a path does not take) is answered in the API's own error shape, 404000 or
405000 (with ``Allow``), by one catch-all route that is reached only when nothing else matched:
the routes themselves pay nothing for it.

Where the sandbox knowingly differs from, or guesses at, the service (the body's
``Content-Type`` rule is in `_requests`):

- The cancel answer's ``status`` is ``completed`` when the job was just cancelled, as in the
  documentation's example (``{"status": "completed", "outcome": "cancelled"}``); otherwise it
  is the job's state in the ``/status`` vocabulary (``in_progress``, ``completed``,
  ``cancelled``). Clients must read ``outcome``.
- ``include_cost=true`` on ``/result`` adds ``cost``: what the job was billed, 0 until it
  succeeds and for a failed or cancelled job (not documented; the partner nodes read it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from ._catalog import RegisteredModel
from ._constants import (
    API_PREFIX,
    CATALOG_DEFAULT_LIMIT,
    CATALOG_MAX_LIMIT,
    CATALOG_MIN_LIMIT,
    CLIENT_MAX_SIZE_MARGIN_BYTES,
    MAX_REQUEST_BYTES,
)
from ._core import SandboxCore
from ._fault_answers import ANSWERED_INSTEAD, fault_answer, reset_connection
from ._faults import Endpoint
from ._http import (
    ApiError,
    invalid_input,
    json_response,
    not_yours,
    outside_api,
    unknown_model,
    unknown_request,
)
from ._images import ImageInput, InputProblem, check_mask, read_image_input
from ._jobs import Job
from ._requests import check_json_type, parse_object, query_flag, query_int, read_body
from ._stats import JobOutcome

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# /status speaks one vocabulary, /result another: `completed` covers success and failure.
STATUS_WORDS: Final[Mapping[JobOutcome, str]] = {
    "in_queue": "in_queue",
    "in_progress": "in_progress",
    "succeeded": "completed",
    "failed": "completed",
    "cancelled": "cancelled",
}
# One or more non-empty segments: a trailing slash or "//" is outside the API (404), while a
# one-segment id is a bad model id (400001), as the service answers it.
MODEL_ID_PATTERN: Final = r"[^/]+(?:/[^/]+)*"
# The stats' name for requests outside the API.
UNROUTED: Final = "unrouted"


class Api:
    """The API's handlers over one sandbox's state.

    Args:
        core: the sandbox state.
    """

    def __init__(self, core: SandboxCore) -> None:
        self._core = core

    def application(self) -> web.Application:
        """A fresh aiohttp application for the API (a restart builds a new one)."""
        # aiohttp's cap is above ours so that the sandbox writes the 413 body itself.
        app = web.Application(client_max_size=MAX_REQUEST_BYTES + CLIENT_MAX_SIZE_MARGIN_BYTES)
        route = app.router
        route.add_get(f"{API_PREFIX}/models", self._endpoint("models", self.catalog))
        # Before the model route, which would take "categories" for a model id.
        route.add_get(f"{API_PREFIX}/models/categories", self._endpoint("models", self.categories))
        model = f"{API_PREFIX}/models/{{model_id:{MODEL_ID_PATTERN}}}"
        route.add_get(model, self._endpoint("models", self.model))
        route.add_post(model, self._endpoint("submit", self.submit))
        requests = f"{API_PREFIX}/requests/{{request_id}}"
        route.add_get(f"{requests}/status", self._endpoint("status", self.status))
        route.add_get(f"{requests}/result", self._endpoint("result", self.result))
        route.add_post(f"{requests}/cancel", self._endpoint("cancel", self.cancel))
        # Last: aiohttp tries routes in order, so only requests nothing else took reach it.
        route.add_route("*", "/{tail:.*}", self.outside)
        return app

    async def outside(self, request: web.Request) -> web.StreamResponse:
        """Anything the routes above did not take: 405 if the path exists, else 404."""
        stats = self._core.stats
        stats.total_requests += 1
        stats.requests_by_endpoint[UNROUTED] += 1
        allowed: set[str] = set()
        own = request.match_info.route.resource
        for resource in request.app.router.resources():
            if resource is not own:
                _, methods = await resource.resolve(request)
                allowed |= methods
        error = outside_api(request.method, request.path, frozenset(allowed))
        headers = {"Allow": ", ".join(sorted(allowed))} if allowed else None
        stats.responses_by_status[error.status] += 1
        stats.responses_by_endpoint_status[(UNROUTED, error.status)] += 1
        return error.response(headers)

    def _endpoint(self, name: Endpoint, handler: Handler) -> Handler:
        core = self._core

        async def endpoint(request: web.Request) -> web.StreamResponse:
            stats = core.stats
            stats.total_requests += 1
            stats.requests_by_endpoint[name] += 1
            plan = core.options.faults
            fault = core.dice.roll(name, plan)
            kind = None if fault is None else fault.kind
            response: web.StreamResponse
            if kind == "reset":
                stats.faults_by_kind[kind] += 1
                return reset_connection(request)
            if fault is not None and kind in ANSWERED_INSTEAD:
                stats.faults_by_kind[fault.kind] += 1
                response = fault_answer(fault, plan)
            else:
                if kind == "slow":
                    stats.faults_by_kind[kind] += 1
                    await asyncio.sleep(plan.slow_s)
                try:
                    response = await handler(request)
                except ApiError as error:
                    response = error.response()
                if kind == "accepted_then_dropped" and response.status == 200:
                    # The job exists and runs; the client only sees its connection reset.
                    stats.faults_by_kind[kind] += 1
                    return reset_connection(request)
            stats.responses_by_status[response.status] += 1
            stats.responses_by_endpoint_status[(name, response.status)] += 1
            return response

        return endpoint

    def _job(self, request: web.Request) -> Job:
        """The job a request names, checking the token owns it."""
        core = self._core
        owner = core.tokens.check(request.headers.get("Authorization"))
        request_id = request.match_info["request_id"]
        job = core.queue.get(request_id)
        if job is None:
            raise unknown_request(request_id)
        if job.owner != owner:
            raise not_yours()
        return job

    def _model(self, request: web.Request) -> RegisteredModel:
        model_id = request.match_info["model_id"]
        model = self._core.registry.get(model_id)
        if model is None:
            raise unknown_model(model_id)
        return model

    async def submit(self, request: web.Request) -> web.StreamResponse:
        """POST /models/{model_id}: validate the input, create a job, answer its URLs."""
        core = self._core
        owner = core.tokens.check(request.headers.get("Authorization"))
        model = self._model(request)
        body = await read_body(request)
        check_json_type(request)
        payload = parse_object(body)
        problems = model.problems(payload)
        if problems:
            raise invalid_input(problems)
        images = await self._images(model, payload) if model.image_fields else {}
        core.check_balance(owner)
        request_id = core.create_job(owner, model, payload, images).request_id
        base = f"{core.api_base}/requests/{request_id}"
        return json_response(
            200,
            {
                "request_id": request_id,
                "status_url": f"{base}/status",
                "result_url": f"{base}/result",
                "cancel_url": f"{base}/cancel",
            },
        )

    async def _images(
        self, model: RegisteredModel, payload: Mapping[str, Any]
    ) -> dict[str, ImageInput]:
        images: dict[str, ImageInput] = {}
        problems: list[dict[str, Any]] = []
        for field in model.image_fields:
            if field in payload:
                try:
                    images[field] = await read_image_input(
                        field, payload[field], self._core.fetch, self._core.fetchable_hosts
                    )
                except InputProblem as problem:
                    problems.append(_image_problem(problem))
        if not problems and model.spec.render == "edit" and {"image", "mask"} <= images.keys():
            try:
                await asyncio.get_running_loop().run_in_executor(
                    None, check_mask, images["image"], images["mask"]
                )
            except InputProblem as problem:
                problems.append(_image_problem(problem))
        if problems:
            raise invalid_input(problems)
        return images

    async def status(self, request: web.Request) -> web.StreamResponse:
        """GET /requests/{id}/status: the job's state in the status vocabulary."""
        core = self._core
        job = self._job(request)
        base = f"{core.api_base}/requests/{job.request_id}"
        body: dict[str, Any] = {
            "request_id": job.request_id,
            "status": STATUS_WORDS[job.state],
            "status_url": f"{base}/status",
            "result_url": f"{base}/result",
        }
        if job.state == "in_queue":
            body["queue_position"] = core.queue.position(job)
        return json_response(200, body)

    async def result(self, request: web.Request) -> web.StreamResponse:
        """GET /requests/{id}/result: the outcome, or the current state before it."""
        core = self._core
        job = self._job(request)
        record = job.record
        state = job.state
        body: dict[str, Any] = {
            "request_id": job.request_id,
            "status": state,
            "created_at": core.iso(record.submitted_s),
        }
        if record.started_s is not None:
            body["started_at"] = core.iso(record.started_s)
        if record.finished_s is not None:
            body["finished_at"] = core.iso(record.finished_s)
        if state == "succeeded":
            body["output"] = core.output(job)
        elif state == "failed":
            body["error"] = job.fate.error
        if query_flag(request, "include_cost"):
            body["cost"] = record.cost_usd
        return json_response(200, body)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        """POST /requests/{id}/cancel: 202, cancelled only while queued.

        ``status`` is ``completed`` for a job this call cancelled, as in the documentation's
        example; otherwise the job's state as ``/status`` words it.
        """
        core = self._core
        job = self._job(request)
        cancelled = core.queue.cancel(job)
        if cancelled:
            core.stats.cancellations += 1
        return json_response(
            202,
            {
                "request_id": job.request_id,
                "status": "completed" if cancelled else STATUS_WORDS[job.state],
                "outcome": "cancelled" if cancelled else "not_cancellable",
            },
        )

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        """GET /models?limit&offset&search&category&kind&include_schema: one page and the
        total."""
        core = self._core
        core.tokens.check(request.headers.get("Authorization"))
        query = request.query
        limit = query_int(
            request,
            "limit",
            CATALOG_DEFAULT_LIMIT,
            minimum=CATALOG_MIN_LIMIT,
            maximum=CATALOG_MAX_LIMIT,
        )
        offset = query_int(request, "offset", 0, minimum=0)
        models, total = core.registry.catalog(
            limit=limit,
            offset=offset,
            search=query.get("search", ""),
            category=query.get("category", ""),
            kind=query.get("kind", ""),
            include_schema=query_flag(request, "include_schema"),
        )
        return json_response(200, {"models": models, "total": total})

    async def categories(self, request: web.Request) -> web.StreamResponse:
        """GET /models/categories: every category of a served model."""
        core = self._core
        core.tokens.check(request.headers.get("Authorization"))
        return json_response(200, {"categories": core.registry.categories()})

    async def model(self, request: web.Request) -> web.StreamResponse:
        """GET /models/{model_id}: the model's catalog entry with its input and output
        schemas."""
        self._core.tokens.check(request.headers.get("Authorization"))
        return json_response(200, self._model(request).detail)


def _image_problem(problem: InputProblem) -> dict[str, Any]:
    return {"loc": [problem.field], "msg": problem.message, "type": "image_uri"}
