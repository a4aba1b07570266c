"""The numbers Ideogram's inputs are held to, named once.

They come from the published input schemas and Ideogram's own API reference (see
``shared/api/IDEOGRAM.md``); the library-wide defaults live in ``runcomfy_async._constants``.
"""

from __future__ import annotations

from typing import Final

# Every model takes a seed in this range (the schemas' minimum and maximum).
SEED_MIN: Final = 0
SEED_MAX: Final = 2_147_483_647

# A palette given by its members has 1 to 8 of them, each weighted 0.05 to 1.0 when weighted.
PALETTE_MIN_MEMBERS: Final = 1
PALETTE_MAX_MEMBERS: Final = 8
COLOR_WEIGHT_MIN: Final = 0.05
COLOR_WEIGHT_MAX: Final = 1.0

# A style code is this many hexadecimal digits.
STYLE_CODE_DIGITS: Final = 8

# How many of the nearest reframe resolutions an error message suggests.
NEARBY_RESOLUTIONS_SHOWN: Final = 4
