"""The hook specifications: every extension point of envstacks, with its contract.

Hooks are always called with keyword arguments; an implementation may accept any subset of
them. Built-in behaviour (the runtime providers, the archive formats) is registered through
these same hooks as ordinary plugins; a third party takes over a ``firstresult`` hook by
marking its implementation ``tryfirst``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envstacks.hooks.markers import hookspec

if TYPE_CHECKING:
    from envstacks.pack.formats import ArchiveFormat
    from envstacks.report import Reporter
    from envstacks.runtime.provision import ProvidedRuntime, RuntimeRequest
    from envstacks.spec.model import LayerSpec, StackSpec


# -- runtimes -------------------------------------------------------------------------------


@hookspec(firstresult=True)
def envstacks_provide_runtime(
    request: RuntimeRequest, destination: Path, reporter: Reporter
) -> ProvidedRuntime | None:
    """Put a Python installation for a runtime layer at ``destination``.

    Return ``None`` when this provider does not apply: ``request.provider`` names another
    provider, or nothing suitable was found (append where you looked to
    ``request.search_log`` so the final error can list it). ``destination`` does not exist
    when the hook is called; a provider that fails part-way must remove what it made.
    """


@hookspec
def envstacks_runtime_providers() -> Sequence[str]:
    """Names of the runtime providers this plugin offers (for ``runtime-provider`` checks)."""
    return ()


# -- archives -------------------------------------------------------------------------------


@hookspec(firstresult=True)
def envstacks_archive_format(name: str) -> ArchiveFormat | None:
    """The archive format called ``name`` (``"tar.xz"``...), or ``None`` if not this plugin's."""


@hookspec
def envstacks_archive_format_names() -> Sequence[str]:
    """Names of the archive formats this plugin offers (for listing and "did you mean")."""
    return ()


# -- checks and notifications ---------------------------------------------------------------


@hookspec
def envstacks_check_layer(
    spec: StackSpec, layer: LayerSpec, env_path: Path, reporter: Reporter
) -> Sequence[str]:
    """Check a freshly built layer; return problems (one sentence each); any fails the build."""
    return ()


@hookspec
def envstacks_layer_locked(
    spec: StackSpec, layer: LayerSpec, lock_path: Path, changed: bool
) -> None:
    """A layer's lock was checked or rewritten (``changed`` tells which)."""


@hookspec
def envstacks_layer_built(spec: StackSpec, layer: LayerSpec, env_path: Path) -> None:
    """A layer environment was built (or found up to date and kept)."""


@hookspec
def envstacks_layer_published(
    spec: StackSpec, layer: LayerSpec, archive_path: Path, metadata: Mapping[str, Any]
) -> None:
    """A layer archive and its metadata were written."""


@hookspec
def envstacks_layer_deployed(install_target: str, path: Path, reused: bool) -> None:
    """A layer was deployed (unpacked and linked) or found already deployed (``reused``)."""
