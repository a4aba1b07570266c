"""Streaming a job's output files to disk, safely (see :mod:`._downloader`).

- :mod:`._downloader`: the :class:`Downloader`: fetching, redirects, caps and retries.
- :mod:`._policy`: which URLs may be fetched (https, allowed hosts and origins, loopback).
- :mod:`._session`: the credential-free HTTP session.
- :mod:`._naming`: file names from the index and a slug of the label, never from the server.
- :mod:`._folder`: the output folder: atomic writes, leftovers, files already there.
"""

from __future__ import annotations

from ...core._errors import DownloadError
from ...core._text import redact_url
from ._downloader import Downloader
from ._naming import file_stem, slug

__all__ = ["DownloadError", "Downloader", "file_stem", "redact_url", "slug"]
