"""The Ideogram inputs, one behaviour at a time: palettes, styles, extra keys, reframe sizes,
and how problems are reported."""

from __future__ import annotations

import enum
from typing import Any

import attrs
import pytest

from runcomfy_async import InvalidInputError
from runcomfy_async.api._schema_check import MISSING
from runcomfy_async.core._converter import converter
from runcomfy_async.ideogram import (
    ColorPalette,
    PaletteMember,
    Style,
    V2Generate,
    V3Edit,
    V3Reframe,
    V3TextToImage,
)

URL = "https://cdn.example/image.png"


def problems_of(error: pytest.ExceptionInfo[InvalidInputError]) -> dict[str, str]:
    return {problem.path: problem.allowed for problem in error.value.problems}


# --- Colour palettes ---------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["ember", "EMBER", "Ember", "eMbEr"])
def test_a_preset_palette_is_named_in_any_case_and_sent_in_title_case(spelling: str) -> None:
    palette = ColorPalette.preset(spelling)

    assert converter.unstructure(palette) == {"name": "Ember"}


def test_a_palette_of_colours_sends_capital_six_digit_hex_and_only_the_weights_given() -> None:
    palette = ColorPalette.of(("#ff0000", 0.8), "#0f0")

    assert converter.unstructure(palette) == {
        "members": [{"color_hex": "#FF0000", "color_weight": 0.8}, {"color_hex": "#00FF00"}]
    }


def test_a_palette_takes_members_as_palette_members() -> None:
    palette = ColorPalette(members=[PaletteMember(color_hex="#123456", color_weight=1)])

    assert palette.members == (PaletteMember(color_hex="#123456", color_weight=1.0),)


def test_a_palette_keeps_the_order_of_its_colours() -> None:
    palette = ColorPalette.of(("#000", 0.2), ("#fff", 0.9))

    assert [member.color_hex for member in palette.members or ()] == ["#000000", "#FFFFFF"]


def test_a_palette_with_both_a_name_and_members_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        ColorPalette(name="ember", members=["#fff"])

    assert caught.value.fields == ("members",)


def test_a_palette_with_neither_a_name_nor_members_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        ColorPalette()

    assert caught.value.fields == ("name",)


@pytest.mark.parametrize("count", [0, 9])
def test_a_palette_has_one_to_eight_colours(count: int) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ColorPalette(members=["#fff"] * count)

    assert caught.value.fields == ("members",)
    assert "1 to 8 colours" in caught.value.problems[0].allowed


@pytest.mark.parametrize("weight", [0.04, 1.01, True, float("nan"), "0.5"])
def test_a_colour_weight_is_a_number_from_0_05_to_1(weight: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        PaletteMember(color_hex="#fff", color_weight=weight)

    assert caught.value.fields == ("color_weight",)


@pytest.mark.parametrize("color", ["fff", "#ffff", "#ggg", "#1234567", "red", 0xFFFFFF])
def test_a_colour_is_hex_rgb_or_rrggbb(color: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        PaletteMember(color_hex=color)

    assert caught.value.fields == ("color_hex",)


def test_every_broken_colour_of_a_palette_is_named_by_its_index() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3TextToImage(prompt="a fox", color_palette={"members": ["#fff", "#12", ("#000", 7)]})

    assert caught.value.fields == (
        "color_palette.members[1].color_hex",
        "color_palette.members[2].color_weight",
    )


def test_a_palette_object_with_an_unknown_key_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3TextToImage(prompt="a fox", color_palette={"name": "Ember", "shade": "dark"})

    assert caught.value.fields == ("color_palette.shade",)


# --- Styles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["realistic", "REALISTIC", "Realistic"])
def test_a_style_type_is_named_in_any_case_and_sent_in_title_case(spelling: str) -> None:
    assert converter.unstructure(Style(style_type=spelling)) == {"style_type": "Realistic"}


def test_a_style_passes_unknown_keys_through_untouched() -> None:
    style = Style(style_type="auto", extra={"style_reference": {"weight": 0.5}, "codes_v2": [1]})

    assert converter.unstructure(style) == {
        "style_type": "Auto",
        "style_reference": {"weight": 0.5},
        "codes_v2": [1],
    }


def test_a_style_read_from_json_keeps_its_unknown_keys() -> None:
    style = converter.structure({"style_type": "Auto", "future": True}, Style)

    assert style == Style(style_type="AUTO", extra={"future": True})


def test_style_codes_are_sent_as_a_list() -> None:
    style = Style(style_codes=("0123abcd", "DEADBEEF"), style_preset="ART_DECO")

    assert converter.unstructure(style) == {
        "style_codes": ["0123abcd", "DEADBEEF"],
        "style_preset": "ART_DECO",
    }


def test_style_codes_do_not_combine_with_a_style_type() -> None:
    with pytest.raises(InvalidInputError) as caught:
        Style(style_type="auto", style_codes=["0123abcd"])

    assert caught.value.fields == ("style_codes",)


@pytest.mark.parametrize("codes", ["0123abcd", [], ["0123abc"], ["0123abcg"], [12345678]])
def test_style_codes_are_a_list_of_eight_hex_digit_codes(codes: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Style(style_codes=codes)

    assert all(field.startswith("style_codes") for field in caught.value.fields)


def test_a_style_extra_key_may_not_name_a_typed_key() -> None:
    with pytest.raises(InvalidInputError) as caught:
        Style(extra={"style_type": "Auto"})

    assert caught.value.fields == ("extra.style_type",)


def test_a_v3_input_takes_a_style_as_a_mapping() -> None:
    item = V3TextToImage(prompt="a fox", style={"style_type": "fiction"})

    assert item.style == Style(style_type="Fiction")


def test_v2_style_is_a_plain_word_with_its_case() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V2Generate(prompt="a fox", style="Render_3d")  # type: ignore[arg-type]

    assert caught.value.fields == ("style",)
    assert V2Generate(prompt="a fox", style="render_3D").to_payload()["style"] == "render_3D"


# --- Extra keys and the Custom aspect ratio ------------------------------------------------------


def test_a_custom_aspect_ratio_sends_its_size_as_extra_keys() -> None:
    item = V3TextToImage(
        prompt="a fox", aspect_ratio="Custom", extra={"width": 1280, "height": 704}
    )

    assert item.to_payload() == {
        "prompt": "a fox",
        "aspect_ratio": "Custom",
        "width": 1280,
        "height": 704,
    }


def test_an_extra_key_may_not_override_a_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3TextToImage(prompt="a fox", extra={"prompt": "a wolf", "seed": 3})

    assert caught.value.fields == ("extra.prompt", "extra.seed")


def test_extra_values_must_be_json() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V2Generate(prompt="a fox", extra={"a": [1, {"b": float("inf")}], 3: "x", "c": {1, 2}})  # type: ignore[dict-item]

    assert set(caught.value.fields) == {"extra.a[1].b", "extra[3]", "extra.c"}


def test_extra_is_a_read_only_copy_and_the_payload_is_a_fresh_copy() -> None:
    given = {"options": {"steps": [1, 2]}}
    item = V2Generate(prompt="a fox", extra=given)
    given["options"]["steps"].append(3)
    item.to_payload()["options"]["steps"].append(4)

    assert item.extra == {"options": {"steps": [1, 2]}}
    with pytest.raises(TypeError):
        item.extra["new"] = 1  # type: ignore[index]


def test_keys_a_payload_has_that_the_class_does_not_come_back_as_extra() -> None:
    item = converter.structure({"prompt": "a fox", "width": 1280}, V3TextToImage)

    assert item.extra == {"width": 1280}
    assert item.to_payload() == {"prompt": "a fox", "width": 1280}


# --- Reframe resolutions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resolution", ["1152:864 (4:3)", "1152x864", "1152 X 864", "1152:864", (1152, 864), [1152, 864]]
)
def test_a_reframe_resolution_is_normalised_to_its_schema_label(resolution: Any) -> None:
    item = V3Reframe(image=URL, resolution=resolution)

    assert item.resolution == "1152:864 (4:3)"
    assert item.to_payload()["resolution"] == "1152:864 (4:3)"


def test_an_unknown_reframe_size_is_refused_with_the_nearest_sizes() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3Reframe(image=URL, resolution=(1000, 1000))

    allowed = problems_of(caught)["resolution"]
    assert "nearest: '1024:1024 (1:1)'" in allowed


def test_a_bare_aspect_ratio_for_reframe_suggests_that_shape() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3Reframe(image=URL, resolution="4:3")

    assert "nearest: '1152:864 (4:3)'" in problems_of(caught)["resolution"]


@pytest.mark.parametrize("resolution", ["big", (0, 0), (1152, True), "1152:864 (3:4)", None])
def test_a_reframe_resolution_that_names_no_size_is_refused(resolution: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3Reframe(image=URL, resolution=resolution)

    assert caught.value.fields == ("resolution",)


# --- Reporting -----------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_in_field_order() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3TextToImage(
            prompt=" ",
            seed=-1,
            aspect_ratio="2:1",  # type: ignore[arg-type]
            rendering_speed="fast",  # type: ignore[arg-type]
            magic_prompt="on",  # type: ignore[arg-type]
            negative_prompt=5,  # type: ignore[arg-type]
            color_palette="Ember",  # type: ignore[arg-type]
            style="Auto",  # type: ignore[arg-type]
        )

    assert caught.value.fields == (
        "prompt",
        "seed",
        "aspect_ratio",
        "rendering_speed",
        "magic_prompt",
        "negative_prompt",
        "color_palette",
        "style",
    )
    assert caught.value.model_id == "ideogram/ideogram-v3/text-to-image"


def test_a_schema_word_in_the_wrong_case_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3Edit(image=URL, mask=URL, prompt="a fox", rendering_speed="turbo")  # type: ignore[arg-type]

    assert problems_of(caught) == {
        "rendering_speed": "one of 'TURBO', 'BALANCED', 'QUALITY' (with this case)"
    }


@pytest.mark.parametrize("seed", [0, 2_147_483_647])
def test_a_seed_may_be_either_end_of_its_range(seed: int) -> None:
    assert V2Generate(prompt="a fox", seed=seed).to_payload()["seed"] == seed


@pytest.mark.parametrize("seed", [True, False, -1, 2_147_483_648, 3.0])
def test_a_seed_is_an_integer_and_not_a_bool(seed: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        V2Generate(prompt="a fox", seed=seed)

    assert problems_of(caught) == {"seed": "an integer from 0 to 2147483647"}


@pytest.mark.parametrize("flag", [1, 0, "true", None])
def test_expand_prompt_is_a_bool_or_unset(flag: Any) -> None:
    if flag is None:
        assert "expand_prompt" not in V2Generate(prompt="a fox", expand_prompt=flag).to_payload()
        return
    with pytest.raises(InvalidInputError) as caught:
        V2Generate(prompt="a fox", expand_prompt=flag)
    assert caught.value.fields == ("expand_prompt",)


def test_an_enum_member_is_accepted_and_sent_as_its_plain_word() -> None:
    class Speed(str, enum.Enum):
        TURBO = "TURBO"

    payload = V3TextToImage(prompt="a fox", rendering_speed=Speed.TURBO).to_payload()  # type: ignore[arg-type]

    assert type(payload["rendering_speed"]) is str


def test_negative_prompt_exists_only_where_the_model_has_it() -> None:
    assert "negative_prompt" not in attrs.fields_dict(V3Edit)
    assert "negative_prompt" not in attrs.fields_dict(V3Reframe)
    with pytest.raises(TypeError):
        V3Edit(image=URL, mask=URL, prompt="a fox", negative_prompt="blur")  # type: ignore[call-arg]


def test_a_payload_missing_required_fields_names_each_one() -> None:
    with pytest.raises(InvalidInputError) as caught:
        converter.structure({"seed": 3}, V3Edit)

    assert caught.value.fields == ("image", "mask", "prompt")
    assert all(problem.received is MISSING for problem in caught.value.problems)
    assert all(problem.allowed.startswith("required") for problem in caught.value.problems)


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        converter.structure(["a fox"], V2Generate)

    assert caught.value.fields == ("input",)


# --- Values ------------------------------------------------------------------------------------


def test_an_input_is_a_frozen_hashable_value() -> None:
    first = V3TextToImage(prompt="a fox", color_palette=ColorPalette.of("#fff"), extra={"a": 1})
    second = V3TextToImage(prompt="a fox", color_palette=ColorPalette.of("#FFFFFF"), extra={"a": 1})

    assert first == second
    assert hash(first) == hash(second)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.prompt = "a wolf"  # type: ignore[misc]


def test_evolve_checks_the_new_value_and_keeps_the_others() -> None:
    item = V3Reframe(image=URL, resolution="1152x864", style={"style_type": "auto"})

    changed = attrs.evolve(item, seed=7)

    assert (changed.seed, changed.resolution, changed.style) == (7, item.resolution, item.style)
    with pytest.raises(InvalidInputError):
        attrs.evolve(item, seed=-7)
