"""What an injected fault looks like on the wire (the kinds and their rates are `_faults`).

Each answer is shaped after what a client meets in the wild, so that its handling is tested
against the real thing: a 429 with ``Retry-After`` in seconds or as an HTTP-date, a 5xx whose
body is the API's JSON or a gateway's HTML page, a 200 that carries an error body, and a
connection reset with an RST rather than a polite close.
"""

from __future__ import annotations

import socket
import struct
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Final

from aiohttp import web

from ._faults import FaultPlan, InjectedFault
from ._http import json_response

INTERNAL_ERROR: Final = {"error_code": 500001, "error_message": "internal error, please retry"}
# RunComfy documents no code for 429; 429001 follows the pattern of its other codes.
RATE_LIMITED: Final = {"error_code": 429001, "error_message": "too many requests"}
REASONS: Final = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
HTML_PAGE: Final = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}"
    "</h1></center><hr><center>nginx</center></body></html>"
)
LINGER_RESET: Final = struct.pack("ii", 1, 0)
# Faults answered in place of the handler; the others (slow, dropped) wrap its answer.
ANSWERED_INSTEAD: Final = frozenset({"rate_limit", "server_error", "error_in_200"})


def fault_answer(fault: InjectedFault, plan: FaultPlan) -> web.Response:
    """The answer given instead of the handler's for a fault in `ANSWERED_INSTEAD`."""
    if fault.kind == "rate_limit":
        if plan.retry_after_form == "http-date":
            when = datetime.now(timezone.utc) + timedelta(seconds=plan.retry_after_s)
            retry_after = format_datetime(when, usegmt=True)
        else:
            # Whole seconds print as integers ("1"); fractions stay fractions ("0.05") so
            # tests can run fast, which tolerant clients read as floats.
            retry_after = f"{plan.retry_after_s:g}"
        return json_response(429, RATE_LIMITED, headers={"Retry-After": retry_after})
    if fault.kind == "server_error":
        if fault.html:
            reason = REASONS.get(fault.status, "Server Error")
            page = HTML_PAGE.format(status=fault.status, reason=reason)
            return web.Response(status=fault.status, text=page, content_type="text/html")
        return json_response(fault.status, INTERNAL_ERROR)
    return json_response(200, INTERNAL_ERROR)


def reset_connection(request: web.Request) -> web.Response:
    """Reset the connection (RST, not a polite close) and give aiohttp a response to drop."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        transport.abort()
    return web.Response()
