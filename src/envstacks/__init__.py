"""envstacks: layered, relocatable Python environments built, locked and deployed together.

The package's top level holds the layers of the code, top to bottom: ``frontends`` (the
command line, the Hatch plugins, the PDM command group), ``orchestrator`` (the door every
verb enters through), ``stages`` (spec, lock, runtime, build, pack, deploy, merge and the
registry client), ``published`` (the published format) and ``floor`` (files, locks, errors,
processes, platforms, reporting). See docs/architecture.md.

Plugin authors import :data:`hookimpl` from here: ``from envstacks import hookimpl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks.floor.lazy_face import lazy_face

if TYPE_CHECKING:
    from envstacks.floor.hookmarkers import hookimpl

__version__ = "0.1.0.dev0"

#: Public name -> the module that defines it (loaded on first use).
FACE = {"hookimpl": "floor.hookmarkers"}
__all__ = ["__version__", "hookimpl"]
__getattr__ = lazy_face(__name__, FACE)
