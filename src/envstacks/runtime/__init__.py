"""Runtime layers: provide a relocatable CPython for a runtime layer through named providers.

The public face is :func:`provision_runtime` (what a build calls), :func:`runtime_python`
and the values a provider receives and returns (:class:`RuntimeRequest`,
:class:`ProvidedRuntime`).
"""

from __future__ import annotations

from envstacks.runtime.provision import (
    ProvidedRuntime,
    RuntimeRequest,
    provision_runtime,
    runtime_python,
)

__all__ = ["ProvidedRuntime", "RuntimeRequest", "provision_runtime", "runtime_python"]
