"""What a batch hands back for each input: an :class:`Outcome`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .._constants import OUTCOME_REPR_CHARS
from ..core._errors import RunComfyError
from ..core._files import StoredFile
from ..core._lifecycle import InputState
from ..core._text import short_repr
from ..core._timings import Timings
from ..core._wire import JobResult

__all__ = ["Outcome", "OutcomeState", "Timings"]


OutcomeState = InputState
"""The state an :class:`Outcome` ends in: the batch's one vocabulary, :class:`InputState`
(kept under this name too, since it is what callers compare outcomes with)."""


@attrs.frozen(kw_only=True)
class Outcome:
    """The end of one input's journey through a batch.

    Attributes:
        index: the input's position in the input sequence (0-based).
        input: the input as given (a mapping or a typed input).
        model_id: the model the job was for.
        request_id: the job's request id, once the server gave one.
        state: how it ended (a final :class:`~runcomfy_async.InputState`).
        result: the final result answer, when there was one.
        error: the typed error, for every state but ``SUCCEEDED``; a ``SUCCEEDED`` outcome
            whose files could not all be downloaded carries the ``DownloadError`` here
            (``files`` then holds those that arrived; a resumed batch fetches the rest).
        attempts: submits made for this input (more than 1 only with resubmission).
        timings: when it was submitted, finished on the server, and noticed.
        files: downloaded output files, when the batch downloads.
        from_journal: True when a resumed batch took this outcome from its journal.
    """

    index: int
    input: Mapping[str, Any] | Any = attrs.field(
        repr=lambda value: short_repr(value, OUTCOME_REPR_CHARS)
    )
    model_id: str | None
    request_id: str | None
    state: InputState
    result: JobResult | None = None
    error: RunComfyError | None = None
    attempts: int = 1
    timings: Timings = attrs.field(factory=Timings)
    files: tuple[StoredFile, ...] = ()
    from_journal: bool = False

    @property
    def ok(self) -> bool:
        """True when the job succeeded."""
        return self.state is InputState.SUCCEEDED

    def _repr_html_(self) -> str:
        """A card with the prompt and the images (downloaded files first), for notebooks."""
        from ..core._display import html_card

        prompt = self.input.get("prompt") if isinstance(self.input, Mapping) else None
        sources = [f.path for f in self.files] if self.files else list(self.outputs)
        lines = [str(prompt) if prompt else "", f"request {self.request_id or '—'}"]
        if self.error is not None:
            lines.append(f"{type(self.error).__name__}: {self.error}")
        return html_card(f"#{self.index} {self.state.value}", sources, lines, failed=not self.ok)

    def image(self, position: int = 0, *, folder: str | os.PathLike[str] = ".") -> Any:
        """The output image at ``position`` as a Pillow image (``pip install
        'runcomfy-async[images]'``), read from the file the batch downloaded.

        Args:
            position: which output (0 for the first).
            folder: the batch's ``download_to`` folder (file paths are relative to it).

        Raises:
            LookupError: no downloaded file at that position.
            ImportError: Pillow is not installed.
        """
        if position >= len(self.files):
            raise LookupError(
                f"input {self.index} has {len(self.files)} downloaded file(s); run the batch "
                "with download_to= to get images"
            )
        from PIL import Image

        with Image.open(Path(folder) / self.files[position].path) as image:
            image.load()
            return image.copy()

    @property
    def missing_outputs(self) -> bool:
        """True when the job succeeded but its result named no output URL at all (logged as
        a warning when it happens: a model or deployment whose output shape is not known)."""
        return self.ok and not self.outputs

    @property
    def cost_usd(self) -> float | None:
        """What the job cost in USD, as the service reported it (batches ask for it:
        ``include_cost``); None when there was no job, or no report."""
        return self.result.cost if self.result is not None else None

    @property
    def outputs(self) -> tuple[str, ...]:
        """The output URLs, in order (empty unless the job succeeded)."""
        return self.result.outputs if self.result is not None else ()
