"""Runtime layers: provide a relocatable CPython for a runtime layer through named providers.

The public face is :func:`provision_runtime` (what a build calls), :func:`runtime_python`,
the values a provider receives and returns (:class:`RuntimeRequest` with its parsed
:class:`VersionRequest`, :class:`ProvidedRuntime`), the :class:`RuntimeProvider` protocol a
third-party provider implements, and :func:`probe` (what a build uses to check a runtime
folder it keeps).
"""

from __future__ import annotations

from envstacks.runtime.contract import (
    ProvidedRuntime,
    RuntimeProvider,
    RuntimeRequest,
    VersionRequest,
)
from envstacks.runtime.paths import runtime_python
from envstacks.runtime.probe import InterpreterInfo, probe
from envstacks.runtime.provision import provision_runtime

__all__ = [
    "InterpreterInfo",
    "ProvidedRuntime",
    "RuntimeProvider",
    "RuntimeRequest",
    "VersionRequest",
    "probe",
    "provision_runtime",
    "runtime_python",
]
