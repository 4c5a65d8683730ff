"""Lazy package faces: a package lists its public names and loads a submodule on first use.

Importing one submodule runs its package's ``__init__`` first; when that ``__init__`` imported
every submodule, a command that needs one module (a no-op ``build`` reads a lock, it never
writes one) paid for all of them. Packages whose face is heavy declare it as a mapping
``{public name: submodule}`` and define ``__getattr__ = lazy_face(__name__, FACE)``
(PEP 562); type checkers read the same names from an ``if TYPE_CHECKING:`` import block.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_face(package: str, face: Mapping[str, str]) -> Callable[[str], object]:
    """The module ``__getattr__`` of ``package``: loads ``face[name]`` and caches the value."""

    def __getattr__(name: str) -> object:
        module = face.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
