"""The output sizes of Ideogram 3 reframe, and the spellings of them that are accepted.

The reframe schema lists 69 labels written ``"W:H (a:b)"``, e.g. ``"1152:864 (4:3)"``; the
``W:H`` part is one of Ideogram's fixed output sizes. A size may be given as the label, as
``"1152x864"`` (or ``"1152:864"``), or as ``(1152, 864)``; it is sent as the label. The
labels are read from the bundled schema, so that the two cannot drift apart.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Final, TypeAlias

from runcomfy_async.api._schema_check import bundled_schema

from ._checks import Refused, refuse
from ._limits import NEARBY_RESOLUTIONS_SHOWN

__all__ = ["REFRAME_MODEL_ID", "ResolutionLike", "check_resolution", "reframe_resolutions"]

REFRAME_MODEL_ID: Final = "ideogram/ideogram-v3/reframe"

ResolutionLike: TypeAlias = "str | tuple[int, int]"
"""A reframe size: ``"1152:864 (4:3)"``, ``"1152x864"`` or ``(1152, 864)``."""

_SIZE: Final = re.compile(r"\s*(\d+)\s*[xX×:]\s*(\d+)\s*")


@functools.cache
def reframe_resolutions() -> tuple[str, ...]:
    """The labels the reframe schema lists, in its order."""
    schema = bundled_schema(REFRAME_MODEL_ID)
    if schema is None:  # pragma: no cover - the schema ships with the package
        raise RuntimeError(f"the bundled schema of {REFRAME_MODEL_ID} is missing")
    labels: list[str] = schema["properties"]["resolution"]["enum"]
    return tuple(labels)


@functools.cache
def _labels_by_size() -> dict[tuple[int, int], str]:
    by_size = {}
    for label in reframe_resolutions():
        match = _SIZE.match(label.partition(" ")[0])
        if match:
            by_size[int(match[1]), int(match[2])] = label
    return by_size


def _size_of(value: object) -> tuple[int, int] | None:
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        return (int(match[1]), int(match[2])) if match else None
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    ):
        return value[0], value[1]
    return None


def _nearest(width: int, height: int) -> list[str]:
    """The labels closest in shape to ``width`` x ``height``, then closest in area."""
    shape = math.log(width / height)

    def distance(size: tuple[int, int]) -> tuple[float, int]:
        return abs(math.log(size[0] / size[1]) - shape), abs(size[0] * size[1] - width * height)

    by_size = _labels_by_size()
    return [by_size[size] for size in sorted(by_size, key=distance)[:NEARBY_RESOLUTIONS_SHOWN]]


def check_resolution(value: ResolutionLike) -> str | Refused:
    """The converter of ``V3Reframe.resolution``: the schema's label for a size, or refused.

    Args:
        value: ``"1152:864 (4:3)"``, ``"1152x864"``, ``"1152:864"`` or ``(1152, 864)``.
    """
    received: object = value
    if isinstance(received, str) and received in reframe_resolutions():
        return received
    size = _size_of(received)
    if size is not None and size in _labels_by_size():
        return _labels_by_size()[size]
    allowed = (
        f"one of the {len(reframe_resolutions())} reframe sizes, as 'W:H (a:b)', 'WxH' or (W, H)"
    )
    if size is not None and size[0] > 0 and size[1] > 0:
        allowed += "; nearest: " + ", ".join(repr(label) for label in _nearest(*size))
    else:
        allowed += ", e.g. '1024:1024 (1:1)' or '1152:864 (4:3)'"
    return refuse(received, allowed)
