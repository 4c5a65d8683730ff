"""Runtime layers: provide a relocatable CPython for a runtime layer through named providers.

The public face is :func:`provision_runtime` (what a build calls), :func:`runtime_python`,
the values a provider receives and returns (:class:`RuntimeRequest` with its parsed
:class:`VersionRequest`, :class:`ProvidedRuntime`), the :class:`RuntimeProvider` protocol a
third-party provider implements. :mod:`envstacks.runtime.probe` asks an interpreter about
itself (a build uses it to check a runtime folder it keeps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks._lazy import lazy_face

if TYPE_CHECKING:
    from envstacks.runtime.contract import (
        ProvidedRuntime,
        RuntimeProvider,
        RuntimeRequest,
        VersionRequest,
    )
    from envstacks.runtime.paths import runtime_python
    from envstacks.runtime.provision import provision_runtime

#: Public name -> the submodule that defines it (loaded on first use; see envstacks._lazy).
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
