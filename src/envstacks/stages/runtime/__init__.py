"""Runtime layers: provide a relocatable CPython for a runtime layer through named providers.

The public face is :func:`provision_runtime` (what a build calls), :func:`runtime_python`,
the values a provider receives and returns (:class:`RuntimeRequest` with its parsed
:class:`VersionRequest`, :class:`ProvidedRuntime`), the :class:`RuntimeProvider` protocol a
third-party provider implements. :mod:`envstacks.stages.runtime.probe` asks an interpreter about
itself (a build uses it to check a runtime folder it keeps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks.floor.lazy_face import lazy_face

if TYPE_CHECKING:
    from envstacks.stages.runtime.contract import (
        ProvidedRuntime,
        RuntimeProvider,
        RuntimeRequest,
        VersionRequest,
    )
    from envstacks.stages.runtime.paths import runtime_python
    from envstacks.stages.runtime.provision import provision_runtime

#: Public name -> the submodule that defines it (loaded on first use; see
#: envstacks.floor.lazy_face).
FACE = {
    "ProvidedRuntime": "contract",
    "RuntimeProvider": "contract",
    "RuntimeRequest": "contract",
    "VersionRequest": "contract",
    "provision_runtime": "provision",
    "runtime_python": "paths",
}
__all__ = [
    "ProvidedRuntime",
    "RuntimeProvider",
    "RuntimeRequest",
    "VersionRequest",
    "provision_runtime",
    "runtime_python",
]
__getattr__ = lazy_face(__name__, FACE)
