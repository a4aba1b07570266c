"""Image inputs (data: URIs, loopback URLs, masks) and the output files drawn from them."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from runcomfy_async.sandbox import ModelSpec, Sandbox

from ._support import (
    EDIT,
    REFRAME,
    T2I,
    V2,
    call,
    data_uri,
    download,
    image_of,
    mask_png,
    noise_png,
    png,
    submit,
    wait_result,
)

V3_SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1312, 736),
    "9:16": (736, 1312),
    "4:3": (1152, 864),
    "3:4": (864, 1152),
}
V2_SIZES = {
    **V3_SIZES,
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "16:10": (1280, 800),
    "10:16": (800, 1280),
    "3:1": (1536, 512),
    "1:3": (512, 1536),
}


async def first_file(
    sandbox: Sandbox, session: aiohttp.ClientSession, model_id: str, payload: dict[str, Any]
) -> bytes:
    """Submit, wait, and download the job's first output file."""
    job = await submit(session, sandbox.base_url, model_id, payload)
    result = await wait_result(session, job["result_url"])
    output = result["output"]
    url = output["images"][0] if "images" in output else output["image"]
    response, data = await download(url)
    assert response.status == 200
    return data


async def refusal(
    sandbox: Sandbox, session: aiohttp.ClientSession, model_id: str, payload: dict[str, Any]
) -> list[Any]:
    """Submit an input that must be refused with 422001; the detail's locations."""
    status, body = await call(
        session, "POST", f"{sandbox.base_url}/models/{model_id}", json=payload
    )
    assert (status, body["error_code"]) == (422, 422001), body
    return [item["loc"] for item in body["detail"]]


@pytest.mark.parametrize(("ratio", "size"), sorted(V3_SIZES.items()))
async def test_v3_output_size_follows_aspect_ratio(
    sandbox: Sandbox, session: aiohttp.ClientSession, ratio: str, size: tuple[int, int]
) -> None:
    data = await first_file(sandbox, session, T2I, {"prompt": "x", "aspect_ratio": ratio})

    assert image_of(data).size == size


@pytest.mark.parametrize(("ratio", "size"), sorted(V2_SIZES.items()))
async def test_v2_output_size_follows_aspect_ratio(
    sandbox: Sandbox, session: aiohttp.ClientSession, ratio: str, size: tuple[int, int]
) -> None:
    data = await first_file(sandbox, session, V2, {"prompt": "x", "aspect_ratio": ratio})

    assert image_of(data).size == size


@pytest.mark.parametrize(("model_id", "size"), [(T2I, (1312, 736)), (V2, (1024, 1024))])
async def test_output_size_defaults_to_the_schemas_aspect_ratio(
    sandbox: Sandbox, session: aiohttp.ClientSession, model_id: str, size: tuple[int, int]
) -> None:
    data = await first_file(sandbox, session, model_id, {"prompt": "x"})

    assert image_of(data).size == size


@pytest.mark.parametrize(
    ("extra", "size"), [({"width": 640, "height": 480}, (640, 480)), ({}, (1024, 1024))]
)
async def test_custom_aspect_ratio_takes_width_and_height_else_square(
    sandbox: Sandbox,
    session: aiohttp.ClientSession,
    extra: dict[str, int],
    size: tuple[int, int],
) -> None:
    payload = {"prompt": "x", "aspect_ratio": "Custom", **extra}

    data = await first_file(sandbox, session, T2I, payload)

    assert image_of(data).size == size


async def test_output_is_a_png_with_its_type_and_length(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, T2I, {"prompt": "x"})
    result = await wait_result(session, job["result_url"])

    response, data = await download(result["output"]["images"][0])

    assert response.headers["Content-Type"] == "image/png"
    assert int(response.headers["Content-Length"]) == len(data)
    assert image_of(data).format == "PNG"


async def test_output_files_are_on_the_cdn_origin_not_the_api(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, T2I, {"prompt": "x"})
    result = await wait_result(session, job["result_url"])

    url = result["output"]["images"][0]

    assert url.startswith(f"{sandbox.cdn_base_url}/files/{job['request_id']}/")
    assert not url.startswith(sandbox.base_url)


async def test_palette_members_colour_the_background(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    palette = {"members": [{"color_hex": "#123456", "color_weight": 1.0}]}

    data = await first_file(sandbox, session, T2I, {"prompt": "x", "color_palette": palette})

    assert image_of(data).convert("RGB").getpixel((5, 5)) == (0x12, 0x34, 0x56)


async def test_palette_preset_name_colours_the_background(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    payload = {"prompt": "x", "color_palette": {"name": "Ultramarine"}}

    data = await first_file(sandbox, session, T2I, payload)

    assert image_of(data).convert("RGB").getpixel((5, 5)) == (0x03, 0x04, 0x5E)


async def test_the_prompt_shows_in_the_image(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    common = {"seed": 5, "color_palette": {"name": "Ember"}}

    fox = await first_file(sandbox, session, T2I, {"prompt": "a fox", **common})
    owl = await first_file(sandbox, session, T2I, {"prompt": "an owl", **common})

    centre = (656, 368)
    assert image_of(fox).getpixel(centre) != image_of(fox).getpixel((656, 5))
    assert image_of(fox).tobytes() != image_of(owl).tobytes()


async def test_data_uri_image_input_is_accepted(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    payload = {"image": data_uri(png((64, 64))), "resolution": "1024:1024 (1:1)"}

    await submit(session, sandbox.base_url, REFRAME, payload)


async def test_loopback_url_image_input_is_fetched(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, T2I, {"prompt": "source", "aspect_ratio": "1:1"})
    source_url = (await wait_result(session, job["result_url"]))["output"]["images"][0]

    data = await first_file(
        sandbox, session, REFRAME, {"image": source_url, "resolution": "1312:736 (41:23)"}
    )

    assert image_of(data).size == (1312, 736)
    assert sandbox.stats.cdn_requests == 2


@pytest.mark.parametrize(
    "image",
    [
        "https://example.com/cat.png",
        "ftp://127.0.0.1/cat.png",
        "data:image/png;base64,***",
        data_uri(b"GIF89a" + bytes(20), "image/gif"),
        data_uri(b"not an image at all"),
        12,
    ],
    ids=["public url", "ftp", "bad base64", "gif", "not an image", "not a string"],
)
async def test_unreachable_or_unreadable_image_is_422_naming_the_field(
    sandbox: Sandbox, session: aiohttp.ClientSession, image: object
) -> None:
    payload = {"image": image, "resolution": "1024:1024 (1:1)"}

    assert await refusal(sandbox, session, REFRAME, payload) == [["image"]]


async def test_loopback_url_that_does_not_answer_200_is_422_naming_the_field(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    missing = f"{sandbox.cdn_base_url}/files/nothing/0.png"

    assert await refusal(
        sandbox, session, REFRAME, {"image": missing, "resolution": "1024:1024 (1:1)"}
    ) == [["image"]]


@pytest.mark.parametrize(
    ("mask_size", "black_box"),
    [((64, 48), None), ((64, 48), (0, 0, 64, 48)), ((32, 32), (0, 0, 8, 8))],
    ids=["all white", "all black", "wrong size"],
)
async def test_edit_mask_must_be_partial_and_the_images_size(
    sandbox: Sandbox,
    session: aiohttp.ClientSession,
    mask_size: tuple[int, int],
    black_box: tuple[int, int, int, int] | None,
) -> None:
    payload = {
        "prompt": "x",
        "image": data_uri(png((64, 48))),
        "mask": data_uri(mask_png(mask_size, black_box)),
    }

    assert await refusal(sandbox, session, EDIT, payload) == [["mask"]]


async def test_edit_without_mask_is_422_naming_mask(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    payload = {"prompt": "x", "image": data_uri(png((64, 48)))}

    assert await refusal(sandbox, session, EDIT, payload) == [["mask"]]


async def test_edit_changes_only_the_masked_area(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    size, box = (64, 48), (16, 8, 40, 32)
    original = image_of(noise_png(size)).convert("RGB")
    payload = {
        "prompt": "x",
        "image": data_uri(noise_png(size)),
        "mask": data_uri(mask_png(size, box)),
    }

    edited = image_of(await first_file(sandbox, session, EDIT, payload)).convert("RGB")

    assert edited.size == size
    inside = [(x, y) for x in range(box[0], box[2]) for y in range(box[1], box[3])]
    outside = [
        (x, y)
        for x in range(size[0])
        for y in range(size[1])
        if not (box[0] <= x < box[2] and box[1] <= y < box[3])
    ]
    assert all(edited.getpixel(p) == original.getpixel(p) for p in outside)
    assert sum(edited.getpixel(p) != original.getpixel(p) for p in inside) > len(inside) * 0.9


async def test_reframe_centres_the_image_on_the_requested_canvas(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    payload = {
        "image": data_uri(png((100, 100), (255, 0, 0))),
        "resolution": "1152:864 (4:3)",
        "color_palette": {"members": [{"color_hex": "#00FF00"}]},
    }

    framed = image_of(await first_file(sandbox, session, REFRAME, payload)).convert("RGB")

    assert framed.size == (1152, 864)
    assert framed.getpixel((576, 432)) == (255, 0, 0)
    assert framed.getpixel((526, 382)) == (255, 0, 0)
    assert framed.getpixel((524, 432)) == (0, 255, 0)
    assert framed.getpixel((5, 5)) == (0, 255, 0)


async def test_generic_models_check_fields_named_image_or_mask_or_formatted_as_uris(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    properties = {
        "init_image": {"type": "string"},
        "inpaint_mask": {"type": "string"},
        "reference": {"type": "string", "format": "image_uri"},
        "source": {"type": "string", "format": "uri"},
        "caption": {"type": "string"},
    }
    sandbox.register_model(
        ModelSpec("acme/generic-images", {"type": "object", "properties": properties})
    )
    payload = dict.fromkeys(properties, "https://example.com/x.png")

    locations = await refusal(sandbox, session, "acme/generic-images", payload)

    assert sorted(locations) == [["init_image"], ["inpaint_mask"], ["reference"], ["source"]]
