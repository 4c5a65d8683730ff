"""The runtime provider contract: what a provider is asked for, what it returns, what it is.

A provider is any object with a ``name`` and a ``provide`` method (:class:`RuntimeProvider`),
offered through the ``envstacks_runtime_providers`` hook. It receives a
:class:`RuntimeRequest` (the version already parsed into a :class:`VersionRequest`) and puts
a Python installation at the destination, returning a :class:`ProvidedRuntime`, or returns
``None`` after logging why it does not apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from envstacks.floor.errors import RuntimeProvisionError

if TYPE_CHECKING:
    from envstacks.floor.report import Reporter
    from envstacks.stages.runtime.probe import InterpreterInfo

__all__ = [
    "AUTO",
    "ProvidedRuntime",
    "RuntimeProvider",
    "RuntimeRequest",
    "VersionRequest",
]

#: ``runtime-provider`` value that tries the providers in an explicit order (see provision).
AUTO = "auto"

_VERSION_REQUEST = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionRequest:
    """A requested Python version: ``X.Y`` (newest release of it) or ``X.Y.Z`` (exactly it)."""

    #: ``(3, 12)`` or ``(3, 12, 1)``.
    parts: tuple[int, ...]

    @classmethod
    def parse(cls, text: str, *, layer: str) -> VersionRequest:
        """``"3.12"`` -> ``(3, 12)``, ``"3.12.1"`` -> ``(3, 12, 1)``.

        Raises:
            RuntimeProvisionError: the version is neither ``X.Y`` nor ``X.Y.Z``.
        """
        match = _VERSION_REQUEST.match(text)
        if match is None:
            raise RuntimeProvisionError(
                f"runtime layer '{layer}': python version {text!r} is neither X.Y nor X.Y.Z",
                hint='write python_implementation = "cpython@3.12" or "cpython@3.12.1"',
            )
        return cls(parts=tuple(int(part) for part in match.groups() if part is not None))

    def __str__(self) -> str:
        return ".".join(map(str, self.parts))

    @property
    def feature(self) -> str:
        """``X.Y``."""
        return f"{self.parts[0]}.{self.parts[1]}"

    @property
    def exact(self) -> bool:
        """Whether a micro version was given (``X.Y.Z``)."""
        return len(self.parts) == 3

    def matches(self, info: InterpreterInfo) -> bool:
        """Whether ``info`` satisfies the request: any release of ``X.Y``; ``X.Y.Z`` final only."""
        if not self.exact:
            return info.version[:2] == self.parts
        return info.version == self.parts and info.releaselevel == "final"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeRequest:
    """What a runtime layer needs: passed to each runtime provider tried."""

    #: Build name of the runtime layer (for messages).
    layer: str
    #: ``"cpython"`` (or ``"pypy"``).
    implementation: str
    #: ``3.12.1`` (exact) or ``3.12`` (newest 3.12 available); ``str()`` gives the text.
    version: VersionRequest
    #: The ``runtime-provider`` setting: ``"auto"``, ``"local"``, ``"uv-managed"`` or a
    #: third-party provider's name (a provider is only asked when it is chosen).
    provider: str
    #: Target platform name (the host's).
    platform: str
    #: Extra folders to search for local interpreters, before the built-in places.
    search_path: tuple[Path, ...] = ()
    #: Folder a provider may use for downloads and other reusable state.
    cache_dir: Path
    #: Where each provider looked and what it found lacking; filled in by the providers and
    #: shown to the user when no provider succeeds. (Mutable on purpose: an out-parameter.)
    #: Entries start with the provider's name: ``"local: searched /opt/python*: ..."``.
    search_log: list[str] = field(default_factory=list)
    #: The layer's TOML path (``tool.venvstacks.runtimes[0]``), for messages.
    toml_path: str = ""
    #: uv's ``python-install-mirror`` (``UV_PYTHON_INSTALL_MIRROR`` wins over the stack's
    #: ``[tool.venvstacks.uv]`` setting); a URL, local paths already made ``file://`` URLs.
    python_install_mirror: str | None = None
    #: uv's ``python-downloads-json-url`` (environment first, then the stack); a URL or an
    #: absolute path.
    python_downloads_json_url: str | None = None
    #: uv's offline mode (``UV_OFFLINE`` or the stack's ``offline = true``): no downloads.
    offline: bool = False

    @property
    def python_implementation(self) -> str:
        """The request as the spec writes it (``cpython@3.12``)."""
        return f"{self.implementation}@{self.version}"

    def log(self, provider: str, message: str) -> None:
        """Record where ``provider`` looked or why it did not apply (for the final error)."""
        self.search_log.append(f"{provider}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvidedRuntime:
    """A Python installation a provider has put into a runtime layer's folder."""

    #: Name of the provider that made it (``"local"``, ``"uv-managed"``...).
    provider: str
    #: Full ``X.Y.Z`` version of the interpreter.
    version: str
    #: The interpreter, relative to the runtime layer's folder (``bin/python3.12``).
    python: Path
    #: Where it came from (an installation folder, a URL), for the user.
    source: str


class RuntimeProvider(Protocol):
    """A named way to put a Python installation into a runtime layer folder."""

    @property
    def name(self) -> str:
        """The ``runtime-provider`` value that chooses it (``"local"``)."""
        ...

    def provide(
        self, request: RuntimeRequest, destination: Path, reporter: Reporter
    ) -> ProvidedRuntime | None:
        """Put a Python installation for ``request`` at ``destination``.

        Return ``None`` when nothing suitable was found, after appending where it looked to
        the request's search log (:meth:`RuntimeRequest.log`) so the final error can list it.
        ``destination`` does not exist when this is called; a provider that fails part-way
        must remove what it made. envstacks checks the result by running it.
        """
        ...
