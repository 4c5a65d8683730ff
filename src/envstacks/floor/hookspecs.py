"""The hook specifications: every extension point of envstacks, with its contract.

Hooks are always called with keyword arguments; an implementation may accept any subset of
them. Built-in behaviour (the runtime providers, the archive formats) is registered through
these same hooks as ordinary plugins. Implementations chosen by name answer with objects
that carry their ``name``; :mod:`envstacks.floor.named_plugins` collects them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envstacks.floor.hookmarkers import hookspec

if TYPE_CHECKING:
    from envstacks.floor.report import Reporter
    from envstacks.published.archive_formats import ArchiveFormat
    from envstacks.stages.deploying.variant_selectors import VariantSelector
    from envstacks.stages.runtime.contract import RuntimeProvider
    from envstacks.stages.stackspec.model import LayerSpec, StackSpec


# -- named implementations ------------------------------------------------------------------


@hookspec
def envstacks_runtime_providers() -> Sequence[RuntimeProvider]:
    """The runtime providers this plugin offers (``envstacks.stages.runtime.RuntimeProvider``).

    Each has a ``name`` (a ``runtime-provider`` value) and a ``provide(request,
    destination, reporter)`` method. A provider named like a built-in one replaces it;
    ``auto`` asks third-party providers first, then ``uv-managed``, then ``local``.
    """
    return ()


@hookspec
def envstacks_archive_formats() -> Sequence[ArchiveFormat]:
    """The archive formats this plugin offers (``envstacks.published.ArchiveFormat``).

    Each has a ``name`` (an ``archive-format`` value) and a ``suffix``; a format named like
    a built-in one replaces it.
    """
    return ()


@hookspec
def envstacks_variant_selectors() -> Sequence[VariantSelector]:
    """The variant selectors this plugin offers (``envstacks.stages.deploying.VariantSelector``).

    Each has a ``name`` (used in a variant's ``select``) and an ``evaluate(condition,
    system)`` method returning a verdict and its reason; it reads system files only, never
    code from archives. A selector named like a built-in one (``nvidia``, ``rocm``, ``cpu``,
    ``env``) replaces it.
    """
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
