"""Public names imported on first use (PEP 562), for the packages that export many.

A package lists each public name and the module it lives in, and hands the table here::

    __getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)

so that importing the package costs nothing until a name is used, and a name used once is
then an ordinary module global. Only the standard library is imported here: the package's
own ``__init__`` and the pytest plugin's parent load this module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, homes: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__``.

    Args:
        package: the package's ``__name__``.
        homes: each public name and the module it is imported from, relative to the package.
        public: the package's ``__all__``.
    """
    listed = frozenset(public)

    def __getattr__(name: str) -> Any:
        """Import a public name's module on first use, then keep the name in the package."""
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *listed})

    return __getattr__, __dir__
