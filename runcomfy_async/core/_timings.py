"""When things happened to one input: one record for outcomes, the manifest and the gallery."""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["Timings"]


@attrs.frozen(kw_only=True)
class Timings:
    """When things happened to an input's job (wall-clock, timezone-aware UTC), as far as
    they are known.

    Attributes:
        created_at: when the input was first recorded (its first intent).
        submitted_at: when the service's answer to the submit arrived.
        finished_at: when the service says the job finished (its ``finished_at``).
        detected_at: when this side learned the outcome.
    """

    created_at: datetime | None = None
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    detected_at: datetime | None = None

    @property
    def lag(self) -> float | None:
        """Seconds between the service finishing the job and this side noticing."""
        if self.finished_at is None or self.detected_at is None:
            return None
        return (self.detected_at - self.finished_at).total_seconds()
