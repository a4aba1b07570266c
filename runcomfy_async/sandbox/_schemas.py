"""The JSON schemas bundled with the package: the one thing the sandbox shares with the client.

The client validates inputs against the same files before it sends them; the sandbox reads
them as data and validates with its own code (`_input_validation`), never the client's, so
that a mistake in the client's validation shows up as a disagreement instead of being
repeated on both sides.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

SCHEMA_PACKAGE: Final = "runcomfy_async"
SCHEMA_FOLDER: Final = "schemas"
OUTPUT_SCHEMA_FILE: Final = "output.json"


def read_bundled_schema(name: str) -> dict[str, Any]:
    """The bundled schema file `name` (``"output.json"``, ``"ideogram-v3-edit.input.json"``...)."""
    folder = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER)
    loaded: dict[str, Any] = json.loads(folder.joinpath(name).read_text("utf-8"))
    return loaded


def output_schema() -> dict[str, Any]:
    """The ``output_schema`` every catalog entry carries."""
    schema: dict[str, Any] = read_bundled_schema(OUTPUT_SCHEMA_FILE)["output"]
    return schema
