"""Every default number and name the sandbox uses, named once.

The sandbox keeps its own constants rather than importing the client's: it imitates the
service, and sharing code paths with the client would let a client mistake hide itself.
"""

from __future__ import annotations

from typing import Final

# --- Where it listens --------------------------------------------------------------------------
LOOPBACK_HOST: Final = "127.0.0.1"
# Port 0 asks the system for a free one.
ANY_PORT: Final = 0
MAX_PORT: Final = 65535
API_PREFIX: Final = "/v1"
FILES_PREFIX: Final = "/files"

# --- Queue and time ----------------------------------------------------------------------------
DEFAULT_WORKERS: Final = 8
# The seed of every draw when none is given; request ids are then salted per sandbox (see
# `_jobs`), so only a seed asked for makes them repeat.
DEFAULT_SEED: Final = 0
REQUEST_ID_SALT_BITS: Final = 128
DEFAULT_TIME_SCALE: Final = 1.0
# RunComfy keeps serverless records and outputs for seven days.
DEFAULT_RETENTION_S: Final = 7 * 24 * 3600.0

# --- Tokens ------------------------------------------------------------------------------------
TOKEN_BYTES: Final = 24

# --- Request bodies ----------------------------------------------------------------------------
# RunComfy caps a whole request at 64 MiB (data: URIs included).
MAX_REQUEST_BYTES: Final = 64 * 1024 * 1024
# aiohttp's own cap sits a little above ours so that the sandbox, not aiohttp, writes the 413
# body: a body just over the cap is drained and answered with the JSON error.
CLIENT_MAX_SIZE_MARGIN_BYTES: Final = 1024 * 1024
BODY_READ_CHUNK_BYTES: Final = 256 * 1024

# --- Catalog -----------------------------------------------------------------------------------
CATALOG_DEFAULT_LIMIT: Final = 50
# RunComfy's CLI takes `--limit` from 1 to 500.
CATALOG_MIN_LIMIT: Final = 1
CATALOG_MAX_LIMIT: Final = 500

# --- Files over HTTPS (optional) ---------------------------------------------------------------
# A name under runcomfy.net, as RunComfy's CDN hosts are; it resolves only through the
# sandbox's own resolver.
CDN_TLS_HOST: Final = "cdn.sandbox.runcomfy.net"

# --- Image inputs ------------------------------------------------------------------------------
# RunComfy recommends images up to about 50 MB; a fetched URL larger than this is refused.
MAX_INPUT_IMAGE_BYTES: Final = 50 * 1024 * 1024
INPUT_FETCH_TIMEOUT_S: Final = 10.0
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
# Pixel value (0..255, after conversion to grey) from which a mask pixel counts as white.
MASK_WHITE_FROM: Final = 128
# Custom sizes asked through `width`/`height` are clamped to this range so that a test cannot
# make the sandbox allocate a giant canvas by mistake.
MIN_CUSTOM_SIDE: Final = 16
MAX_CUSTOM_SIDE: Final = 4096
DEFAULT_IMAGE_SIZE: Final = (1024, 1024)

# --- Output files ------------------------------------------------------------------------------
# Rendered files kept in memory; a file evicted is drawn again on its next download.
RENDER_CACHE_FILES: Final = 64
RENDER_THREADS: Final = 2
PNG_COMPRESS_LEVEL: Final = 1
HUGE_BODY_CHUNK_BYTES: Final = 256 * 1024

# --- Faults ------------------------------------------------------------------------------------
DEFAULT_RETRY_AFTER_S: Final = 1.0
DEFAULT_SLOW_S: Final = 1.0
DEFAULT_SERVER_ERROR_STATUSES: Final = (500, 502, 503, 504)
DEFAULT_SERVER_ERROR_HTML_FRACTION: Final = 0.5

# --- Shutting down -----------------------------------------------------------------------------
# Open connections are dropped almost at once on close and restart: a restart must look like
# a crash. Not 0: aiohttp reads a zero shutdown timeout as "wait for handlers without limit".
SHUTDOWN_TIMEOUT_S: Final = 0.01
THREAD_START_TIMEOUT_S: Final = 30.0

# --- Pytest fixture ----------------------------------------------------------------------------
# 100x faster than real time: the Ideogram models' medians of several seconds become tens of
# milliseconds.
FIXTURE_TIME_SCALE: Final = 0.01

# Fonts tried, in order, to draw prompts on output images (by file name, as Pillow looks them
# up in the system's font folders); Pillow's built-in font, ASCII only, is the last resort.
PROMPT_FONTS: Final = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf")
