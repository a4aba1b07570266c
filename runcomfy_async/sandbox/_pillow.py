"""Pillow is an optional extra: check for it once, with a message that says what to install."""

from __future__ import annotations

import importlib.util


class SandboxDependencyError(RuntimeError):
    """A package the sandbox needs is not installed."""


def require_pillow() -> None:
    """Raise `SandboxDependencyError` unless Pillow can be imported.

    Called when a sandbox starts rather than at import time, so that importing the package
    never needs Pillow.
    """
    if importlib.util.find_spec("PIL") is None:
        raise SandboxDependencyError(
            "the sandbox draws real PNG files with Pillow, which is not installed: "
            "pip install 'runcomfy-async[sandbox]'"
        )
