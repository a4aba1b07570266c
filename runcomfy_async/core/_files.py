"""What the library knows about one downloaded output file.

:class:`StoredFile` lives in its own module because two layers speak of it: the downloader
produces it and the journal stores it (so that a resumed batch can skip files it already has
without importing aiohttp). It deliberately records the file's path *relative to the output
folder*: the folder can be moved or mounted elsewhere and the journal stays valid.
"""

from __future__ import annotations

import attrs

__all__ = ["StoredFile"]


@attrs.frozen(kw_only=True)
class StoredFile:
    """One output file written to disk, as recorded in the journal and the manifest.

    Attributes:
        url: the URL the file was downloaded from, as the server gave it.
        path: the file's path relative to the output folder, with ``/`` separators.
        sha256: hex sha256 of the file's bytes.
        size: the file's size in bytes.
        content_type: the media type the server declared (``image/png``), lower-case.
    """

    url: str
    path: str
    sha256: str
    size: int
    content_type: str
