"""Package attributes that load their module on first use (PEP 562).

A package whose entry point pulls in heavy libraries (torch, FAISS, the model clients) keeps
its options models cheap to import this way: the CLI reads their defaults for ``--help``
without loading what only running the command needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, modules: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` giving each name in ``modules`` from the
    submodule named there (relative, like ``".run"``), imported when first asked for."""

    def __getattr__(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(modules[name], package), name)

    return __getattr__
