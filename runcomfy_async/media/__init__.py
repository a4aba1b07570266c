"""Images sent as inputs: URLs passed through, local images sent inline as ``data:`` URIs.

RunComfy has no upload endpoint, so a local image (bytes, a file, a Pillow image) travels
inside the request. Everything that can be checked before a paid request is checked here:

- ``_sniff``: the format (JPEG, PNG, WebP) and size, read from the bytes alone;
- ``_references``: which URLs and ``data:`` URIs may be sent;
- ``_inline``: :class:`InputImage`, the value sent, built by :func:`as_input_image`, and the
  caps on an image's and a request's size;
- ``_masks``: an edit's mask against its image;
- ``_abbreviation``: bulky values kept short in reprs and error messages.
"""

from ._abbreviation import abbreviated
from ._inline import ImageLike, InputImage, as_input_image, request_size_problem
from ._masks import mask_problems
from ._references import IMAGE_REFERENCE_ALLOWED, image_reference_problem
from ._sniff import (
    image_dimensions,
    jpeg_dimensions,
    png_dimensions,
    sniff_image_type,
    webp_dimensions,
)

__all__ = [
    "IMAGE_REFERENCE_ALLOWED",
    "ImageLike",
    "InputImage",
    "abbreviated",
    "as_input_image",
    "image_dimensions",
    "image_reference_problem",
    "jpeg_dimensions",
    "mask_problems",
    "png_dimensions",
    "request_size_problem",
    "sniff_image_type",
    "webp_dimensions",
]
