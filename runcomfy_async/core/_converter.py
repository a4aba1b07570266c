"""The project's one cattrs converter: typed inputs to payloads and back, and the rows the
journal and the manifest keep.

Its own module, apart from the wire types: a client that sends plain dicts and runs no
batch never imports cattrs. The wire's values are read the way the parsers read them
(:mod:`._wire`): a state by its service spelling, a timestamp in any of the forms seen.
"""

from __future__ import annotations

from datetime import datetime

import cattrs

from ._wire import CancelOutcome, JobState, parse_datetime

__all__ = ["converter"]

converter = cattrs.Converter(forbid_extra_keys=False)
"""Typed inputs out (unset fields omitted), stored rows in and out."""

converter.register_structure_hook(JobState, lambda v, _: JobState.from_raw(v))
converter.register_structure_hook(CancelOutcome, lambda v, _: CancelOutcome.from_raw(v))
converter.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
converter.register_unstructure_hook(datetime, lambda v: v.isoformat())
