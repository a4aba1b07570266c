"""Prompts drawn on sandbox images keep their accents and symbols (not boxes)."""

from __future__ import annotations

import pytest

pytest.importorskip("PIL")

from PIL import ImageFont

from runcomfy_async.sandbox._constants import PROMPT_FONTS
from runcomfy_async.sandbox._render import _font


def _a_wide_font_is_installed() -> bool:
    for name in PROMPT_FONTS:
        try:
            ImageFont.truetype(name, 10)
        except OSError:
            continue
        return True
    return False


@pytest.mark.skipif(not _a_wide_font_is_installed(),
                    reason="no DejaVu, Noto or Liberation font here (fonts-dejavu-core)")
def test_the_prompt_font_has_accents_euro_and_dashes() -> None:
    font = _font(20)
    missing = bytes(font.getmask("\uffff"))  # the font's "no such glyph" box
    assert [bytes(font.getmask(ch)) == missing for ch in "éü€—ñ"] == [False] * 5
