"""OpenTelemetry: a span per job, made from the library's events.

``pip install 'runcomfy-async[otel]'`` (the OpenTelemetry API; the application installs and
configures its SDK and exporter, as it does for everything else it traces)::

    from runcomfy_async import AsyncRunComfy
    from runcomfy_async.telemetry import OpenTelemetryHook

    async with AsyncRunComfy(on_event=OpenTelemetryHook()) as client:
        ...

Each job becomes one span, ``runcomfy.job``, from the moment the service accepted it (or,
for a job submitted elsewhere, the first poll that saw it) to the moment it was seen over.
Its attributes: ``runcomfy.request_id``, ``runcomfy.model_id``, ``runcomfy.state`` (the
final one), ``runcomfy.cost_usd`` (when the service reported it), ``runcomfy.batch_index``
(in a batch); each state a poll saw is a span event, and so is each retry of a request
about the job. A failed, cancelled or lost job has an error status.

The hook is an ordinary ``on_event`` hook (:mod:`runcomfy_async.core._events`): it never
raises into the library, and spans of jobs still open when the program stops are ended by
:meth:`OpenTelemetryHook.close` (marked ``runcomfy.abandoned``).
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .batch._events import JobCompleted, JobEnded, JobStateChanged, JobSubmitted
from .core._events import RetryEvent
from .core._lifecycle import InputState
from .core._wire import JobResult, JobState

__all__ = ["SPAN_NAME", "OpenTelemetryHook"]

SPAN_NAME = "runcomfy.job"

# Ends that are not a success: the span's status says so.
_ERROR_STATES = frozenset({"failed", "cancelled", "expired", "timed_out", "unknown"})


class OpenTelemetryHook:
    """An ``on_event`` hook that makes a span per job (see the module's docstring).

    Args:
        tracer_provider: where spans go; the global provider when None.
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise ImportError(
                "OpenTelemetryHook needs the OpenTelemetry API: "
                "pip install 'runcomfy-async[otel]'"
            ) from exc
        provider = tracer_provider or trace.get_tracer_provider()
        self._tracer = provider.get_tracer("runcomfy_async", __version__)
        self._open: dict[str, Any] = {}

    def __call__(self, event: object) -> None:
        if isinstance(event, JobSubmitted):
            span = self._span(event.request_id, event.model_id)
            span.set_attribute("runcomfy.submit_attempt", event.attempt)
            if event.index is not None:
                span.set_attribute("runcomfy.batch_index", event.index)
        elif isinstance(event, JobStateChanged):
            span = self._span(event.request_id, None)
            attributes: dict[str, Any] = {"runcomfy.state": event.state.value}
            if event.queue_position is not None:
                attributes["runcomfy.queue_position"] = event.queue_position
            span.add_event("state", attributes)
        elif isinstance(event, RetryEvent) and event.request_id in self._open:
            self._open[event.request_id].add_event(
                "retry", {"runcomfy.attempt": event.attempt, "runcomfy.reason": event.reason}
            )
        elif isinstance(event, JobEnded):
            self._end(event.request_id, event.model_id, event.result.state.value,
                      event.result, None)
        elif isinstance(event, JobCompleted):
            outcome = event.outcome
            if outcome.request_id is not None:
                self._end(outcome.request_id, outcome.model_id, outcome.state.value,
                          outcome.result, outcome.index)

    @property
    def open_spans(self) -> int:
        """Jobs whose span is still open."""
        return len(self._open)

    def close(self) -> None:
        """End the spans of jobs still open (the program stops before seeing them over)."""
        for span in self._open.values():
            span.set_attribute("runcomfy.abandoned", True)
            span.end()
        self._open.clear()

    def _span(self, request_id: str, model_id: str | None) -> Any:
        span = self._open.get(request_id)
        if span is None:
            span = self._tracer.start_span(
                SPAN_NAME, attributes={"runcomfy.request_id": request_id}
            )
            self._open[request_id] = span
        if model_id is not None:
            span.set_attribute("runcomfy.model_id", model_id)
        return span

    def _end(
        self,
        request_id: str,
        model_id: str | None,
        state: str,
        result: JobResult | None,
        index: int | None,
    ) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = self._span(request_id, model_id)
        del self._open[request_id]
        span.set_attribute("runcomfy.state", state)
        if index is not None:
            span.set_attribute("runcomfy.batch_index", index)
        if result is not None and result.cost is not None:
            span.set_attribute("runcomfy.cost_usd", result.cost)
        if state in _ERROR_STATES or state == JobState.FAILED.value:
            span.set_status(Status(StatusCode.ERROR, state))
        elif state in (InputState.SUCCEEDED.value, JobState.SUCCEEDED.value):
            span.set_status(Status(StatusCode.OK))
        span.end()
