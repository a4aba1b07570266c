"""Images as inputs: formats sniffed, sizes read from headers, caps, URLs, masks, reprs."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from runcomfy_async import InvalidInputError, media
from runcomfy_async.ideogram import V3Edit, V3Reframe
from runcomfy_async.media import (
    InputImage,
    _inline,
    as_input_image,
    image_dimensions,
    jpeg_dimensions,
    png_dimensions,
    sniff_image_type,
    webp_dimensions,
)

from ._pictures import encode, half_mask, noise, picture_bytes, solid

FORMATS = [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
URL = "https://cdn.example/image.png"


def data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


# --- Reading headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("image_format", "media_type"), FORMATS)
def test_the_type_is_sniffed_from_the_data(image_format: str, media_type: str) -> None:
    assert sniff_image_type(picture_bytes(image_format)) == media_type


def test_png_dimensions_come_from_the_ihdr_chunk() -> None:
    assert png_dimensions(picture_bytes("PNG", (37, 21))) == (37, 21)


@pytest.mark.parametrize(
    "options",
    [{}, {"progressive": True}, {"exif": Image.Exif(), "icc_profile": b"\x00" * 300}],
    ids=["baseline", "progressive", "with-app-segments"],
)
def test_jpeg_dimensions_come_from_the_frame_header(options: dict[str, Any]) -> None:
    data = picture_bytes("JPEG", (37, 21), **options)

    assert jpeg_dimensions(data) == (37, 21)


def test_a_progressive_jpeg_has_a_progressive_frame_header() -> None:
    data = picture_bytes("JPEG", (5, 3), progressive=True)

    assert b"\xff\xc2" in data
    assert jpeg_dimensions(data) == (5, 3)


def test_jpeg_fill_bytes_between_segments_are_skipped() -> None:
    data = picture_bytes("JPEG", (9, 4))
    padded = data[:2] + b"\xff\xff" + data[2:]

    assert jpeg_dimensions(padded) == (9, 4)


@pytest.mark.parametrize(
    ("options", "mode", "chunk"),
    [
        ({"quality": 80}, "RGB", b"VP8 "),
        ({"lossless": True}, "RGB", b"VP8L"),
        ({"quality": 80}, "RGBA", b"VP8X"),
    ],
    ids=["lossy", "lossless", "extended"],
)
def test_webp_dimensions_come_from_each_kind_of_first_chunk(
    options: dict[str, Any], mode: str, chunk: bytes
) -> None:
    data = encode(
        solid((37, 21), (200, 10, 10, 128) if mode == "RGBA" else "red", mode), "WEBP", **options
    )

    assert data[12:16] == chunk
    assert webp_dimensions(data) == (37, 21)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(
    image_format=st.sampled_from(["PNG", "JPEG", "WEBP"]),
    size=st.tuples(st.integers(1, 300), st.integers(1, 300)),
    progressive=st.booleans(),
)
def test_the_header_size_is_the_size_pillow_reads(
    image_format: str, size: tuple[int, int], progressive: bool
) -> None:
    options: dict[str, Any] = {"progressive": progressive} if image_format == "JPEG" else {}
    data = picture_bytes(image_format, size, **options)

    assert image_dimensions(data) == size


@pytest.mark.parametrize(("image_format", "_"), FORMATS)
def test_a_header_cut_short_has_no_dimensions(image_format: str, _: str) -> None:
    data = picture_bytes(image_format, (37, 21))

    assert image_dimensions(data[:20]) is None


def test_a_jpeg_whose_scan_starts_before_any_frame_header_has_no_dimensions() -> None:
    assert jpeg_dimensions(b"\xff\xd8\xff\xda\x00\x02") is None


# --- Local images become data URIs ----------------------------------------------------------


@pytest.mark.parametrize(("image_format", "media_type"), FORMATS)
def test_bytes_become_a_data_uri_of_the_sniffed_type(image_format: str, media_type: str) -> None:
    data = picture_bytes(image_format, (12, 7))

    image = as_input_image(data)

    assert image.uri == data_uri(data, media_type)
    assert (image.media_type, image.width, image.height, image.byte_size) == (
        media_type,
        12,
        7,
        len(data),
    )
    assert image.data() == data


@pytest.mark.parametrize(("image_format", "media_type"), FORMATS)
def test_a_path_is_read_and_its_extension_ignored(
    tmp_path: Path, image_format: str, media_type: str
) -> None:
    file = tmp_path / "misnamed.gif"
    file.write_bytes(picture_bytes(image_format))

    assert as_input_image(file).media_type == media_type


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK", "I;16"])
def test_a_pillow_image_is_sent_as_png(mode: str) -> None:
    image = as_input_image(Image.new(mode, (6, 5)))

    assert (image.media_type, image.width, image.height) == ("image/png", 6, 5)


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_byte_buffers_are_taken_like_bytes(wrap: Any) -> None:
    data = picture_bytes("PNG")

    assert as_input_image(wrap(data)) == as_input_image(data)


@pytest.mark.parametrize(("image_format", "media_type"), FORMATS)
def test_a_data_uri_is_checked_and_kept_as_given(image_format: str, media_type: str) -> None:
    uri = data_uri(picture_bytes(image_format, (3, 4)), media_type)

    image = as_input_image(uri)

    assert (image.uri, image.width, image.height) == (uri, 3, 4)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        (data_uri(picture_bytes("PNG"), "image/jpeg"), "declared type matches"),
        ("data:image/png,rawdata", "base64 data: URI"),
        ("data:image/png;base64,@@@@", "valid base64"),
        (data_uri(b"hello world", "text/plain"), "JPEG, PNG or WebP"),
    ],
    ids=["mislabelled", "not-base64", "bad-base64", "not-an-image"],
)
def test_a_bad_data_uri_is_refused(uri: str, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        as_input_image(uri)

    assert reason in caught.value.problems[0].allowed


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (picture_bytes("GIF"), "GIF"),
        (picture_bytes("BMP"), "BMP"),
        (picture_bytes("TIFF"), "TIFF"),
        (b"\x00garbage" * 10, "not an image type that was recognised"),
    ],
    ids=["gif", "bmp", "tiff", "garbage"],
)
def test_formats_other_than_jpeg_png_and_webp_are_refused_by_name(data: bytes, kind: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        as_input_image(data)

    assert kind in caught.value.problems[0].allowed


def test_a_truncated_image_is_refused_as_corrupt() -> None:
    with pytest.raises(InvalidInputError) as caught:
        as_input_image(picture_bytes("PNG")[:16])

    assert "truncated or corrupt" in caught.value.problems[0].allowed


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        as_input_image(tmp_path / "nowhere.png")

    assert "readable image file" in caught.value.problems[0].allowed


@pytest.mark.parametrize("value", ["photo.png", "/tmp/photo.png", 42, None, ["https://a.b/c.png"]])
def test_anything_else_is_refused_saying_what_is_taken(value: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        as_input_image(value)

    assert caught.value.fields == ("image",)


# --- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        URL,
        "HTTPS://cdn.example/a.webp?x=1",
        "http://127.0.0.1:8080/a.png",
        "http://127.9.9.9/a.png",
        "http://localhost/a.png",
        "http://[::1]:9000/a.png",
    ],
)
def test_https_urls_and_loopback_http_urls_are_sent_as_given(url: str) -> None:
    image = as_input_image(url)

    assert (image.uri, image.is_inline) == (url, False)


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.example/a.png",
        "http://10.0.0.1/a.png",
        "http://localhost.evil.example/a.png",
        "ftp://cdn.example/a.png",
        "https:///a.png",
        "https://cdn.example/a photo.png",
        "https://[::1/a.png",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError):
        as_input_image(url)


# The same answer on every Python: 3.13's ipaddress calls ::ffff:127.0.0.1 loopback and
# earlier versions do not, and this module once asked ipaddress directly.
@pytest.mark.parametrize(
    "host",
    ["[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::FFFF:127.9.9.9]", "[0:0:0:0:0:ffff:7f00:1]:8080"],
)
def test_ipv4_mapped_loopback_http_urls_are_taken_on_every_python(host: str) -> None:
    url = f"http://{host}/a.png"

    assert media.image_reference_problem(url) is None
    assert as_input_image(url).uri == url


@pytest.mark.parametrize("host", ["[::ffff:10.0.0.1]", "[::ffff:a00:1]", "[::ffff:8.8.8.8]"])
def test_ipv4_mapped_addresses_of_other_hosts_are_refused_over_http(host: str) -> None:
    assert media.image_reference_problem(f"http://{host}/a.png") is not None
    with pytest.raises(InvalidInputError):
        as_input_image(f"http://{host}/a.png")


# --- Size caps -----------------------------------------------------------------------------------


@pytest.fixture
def small_image_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(_inline, "MAX_INPUT_IMAGE_BYTES", 200)
    return 200


def test_bytes_over_the_image_cap_are_refused(small_image_cap: int) -> None:
    with pytest.raises(InvalidInputError) as caught:
        as_input_image(encode(noise((16, 16)), "PNG"))

    assert "at most 200 B" in caught.value.problems[0].allowed


def test_a_file_over_the_image_cap_is_refused_from_its_size(
    small_image_cap: int, tmp_path: Path
) -> None:
    file = tmp_path / "big.png"
    file.write_bytes(encode(noise((16, 16)), "PNG"))

    with pytest.raises(InvalidInputError) as caught:
        as_input_image(file)

    assert f"this one is {file.stat().st_size} B" in caught.value.problems[0].allowed


def test_a_data_uri_over_the_image_cap_is_refused_before_decoding(small_image_cap: int) -> None:
    with pytest.raises(InvalidInputError):
        as_input_image(data_uri(encode(noise((16, 16)), "PNG"), "image/png"))


def test_an_image_at_the_cap_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    data = picture_bytes("PNG")
    monkeypatch.setattr(_inline, "MAX_INPUT_IMAGE_BYTES", len(data))

    assert as_input_image(data).byte_size == len(data)


def test_a_request_over_the_request_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_inline, "MAX_REQUEST_BYTES", 1000)
    image = encode(noise((16, 16)), "PNG")

    with pytest.raises(InvalidInputError) as caught:
        V3Reframe(image=image, resolution="1024:1024 (1:1)")

    assert caught.value.fields == ("input",)
    assert "at most 1000 B in all" in caught.value.problems[0].allowed


# --- Edit masks ------------------------------------------------------------------------------


def test_a_mask_of_another_size_than_its_image_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3Edit(image=solid((8, 8)), mask=half_mask((8, 6)), prompt="a fox")

    assert caught.value.fields == ("mask",)
    assert "the image's size, 8x8 (this one is 8x6)" in caught.value.problems[0].allowed


@pytest.mark.parametrize(("fill", "whole"), [(0, "all black"), (255, "all white")])
def test_a_mask_that_is_not_partial_is_refused(fill: int, whole: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        V3Edit(image=solid((8, 8)), mask=solid((8, 8), fill, "L"), prompt="a fox")

    assert caught.value.problems[0].allowed == (
        "the mask must be partial: black marks the area to edit, white is kept "
        f"(this mask is {whole})"
    )


def test_a_jpeg_mask_with_compression_noise_still_counts_as_partial() -> None:
    mask = encode(half_mask((64, 64)), "JPEG", quality=30)

    edit = V3Edit(image=solid((64, 64)), mask=mask, prompt="a fox")

    assert edit.mask.media_type == "image/jpeg"


def test_without_pillow_only_the_partial_mask_check_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = encode(solid((8, 8)), "PNG")
    black = encode(solid((8, 8), 0, "L"), "PNG")
    smaller = encode(solid((8, 4), 0, "L"), "PNG")
    monkeypatch.setitem(sys.modules, "PIL", None)

    V3Edit(image=image, mask=black, prompt="a fox")
    with pytest.raises(InvalidInputError) as caught:
        V3Edit(image=image, mask=smaller, prompt="a fox")
    assert len(caught.value.problems) == 1


def test_masks_given_as_urls_are_left_to_the_server() -> None:
    V3Edit(image=encode(solid((8, 8)), "PNG"), mask=URL, prompt="a fox")


# --- Reprs ------------------------------------------------------------------------------------


def test_a_repr_shows_an_inline_image_by_type_size_and_weight() -> None:
    edit = V3Edit(image=noise((300, 300)), mask=half_mask((300, 300)), prompt="a fox")

    assert repr(edit.image).startswith("<data:image/png 300x300 ")
    assert repr(edit.image).endswith(" KiB>")
    assert len(repr(edit)) < 400


def test_a_repr_hides_a_url_query() -> None:
    assert repr(as_input_image("https://cdn.example/a.png?X-Signature=secret")) == (
        "<https://cdn.example/a.png?…>"
    )


def test_an_error_about_a_large_value_does_not_quote_it(small_image_cap: int) -> None:
    uri = data_uri(encode(noise((64, 64)), "PNG"), "image/png")

    with pytest.raises(InvalidInputError) as caught:
        V3Reframe(image=uri, resolution="1024:1024 (1:1)")

    assert len(str(caught.value)) < 400


def test_input_images_are_equal_when_they_send_the_same_text() -> None:
    data = picture_bytes("PNG")

    assert as_input_image(data) == as_input_image(data_uri(data, "image/png"))
    assert as_input_image(data) == InputImage(uri=data_uri(data, "image/png"))


def test_a_url_image_has_no_local_bytes() -> None:
    with pytest.raises(ValueError, match="URL"):
        as_input_image(URL).data()


def test_an_input_image_built_by_hand_is_checked_like_its_text() -> None:
    with pytest.raises(InvalidInputError):
        as_input_image(InputImage(uri="http://cdn.example/a.png"))
    assert as_input_image(InputImage(uri=data_uri(picture_bytes("PNG"), "image/png"))).is_inline


def test_the_media_package_exports_every_name_it_lists() -> None:
    assert all(hasattr(media, name) for name in media.__all__)
