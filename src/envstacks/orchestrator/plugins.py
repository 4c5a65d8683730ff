"""Build the pluggy plugin manager: built-ins first, then the ``envstacks`` entry points.

Both steps are cheap when nothing asks for them, as in a no-op run: a built-in is registered
as a stand-in that imports its module on the first call of one of its hooks, and the entry
points are read through ``importlib.metadata`` only when a distribution's
``entry_points.txt`` names the group.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from importlib.machinery import PathFinder
from types import SimpleNamespace

import pluggy

from envstacks.floor import hookspecs as spec
from envstacks.floor.hookmarkers import PROJECT_NAME, hookimpl

ENTRY_POINT_GROUP = "envstacks"
#: Comma-separated entry-point names to block, or ``all``/``1`` to load no third-party plugin.
DISABLE_ENV_VAR = "ENVSTACKS_DISABLE_PLUGINS"

#: Modules holding the built-in hook implementations, and the hooks each answers (all take no
#: arguments and are ``trylast``; tests/orchestrator/test_plugins.py holds this table to the
#: modules). Each is registered under its module's name before any third-party plugin. pluggy
#: asks plugins registered later first, and the built-ins' implementations are ``trylast`` as
#: well, so a third-party runtime provider or archive format of the same name replaces a
#: built-in one (:mod:`envstacks.floor.named_plugins`). Their order here decides nothing:
#: ``auto`` has its own explicit order.
BUILTIN_PLUGINS: Mapping[str, tuple[str, ...]] = {
    "envstacks.published.archive_formats": ("envstacks_archive_formats",),
    "envstacks.stages.runtime.local": ("envstacks_runtime_providers",),
    "envstacks.stages.runtime.uv_managed": ("envstacks_runtime_providers",),
    "envstacks.stages.deploying.variant_selectors": ("envstacks_variant_selectors",),
}

#: What importlib.metadata takes for a distribution's metadata folder.
_INFO_SUFFIXES = (".dist-info", ".egg-info")


def get_plugin_manager(
    *, load_entrypoints: bool = True, blocked: Iterable[str] = ()
) -> pluggy.PluginManager:
    """A new plugin manager with the built-ins and (unless disabled) third-party plugins.

    Args:
        load_entrypoints: load plugins from the ``envstacks`` entry-point group.
        blocked: entry-point names never to load (also taken from ``ENVSTACKS_DISABLE_PLUGINS``).

    Raises:
        pluggy.PluginValidationError: a plugin implements a hook that does not exist.
    """
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(spec)
    for module_name, hooks in BUILTIN_PLUGINS.items():
        manager.register(deferred_plugin(module_name, hooks), name=module_name)
    disabled = os.environ.get(DISABLE_ENV_VAR, "").strip()
    if load_entrypoints and disabled.lower() not in {"1", "all", "true", "yes"}:
        for name in [*blocked, *(part.strip() for part in disabled.split(",") if part.strip())]:
            manager.set_blocked(name)
        if group_may_be_declared(ENTRY_POINT_GROUP):
            manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    manager.check_pending()
    return manager


def deferred_plugin(module_name: str, hooks: Iterable[str]) -> object:
    """A plugin answering ``hooks`` (no arguments, trylast) from ``module_name``, loaded late."""

    def answer(hook: str) -> Callable[[], object]:
        def call() -> object:
            implementation: Callable[[], object] = getattr(
                importlib.import_module(module_name), hook
            )
            return implementation()

        call.__name__ = call.__qualname__ = hook
        call.__doc__ = f"``{module_name}.{hook}()``."
        return hookimpl(trylast=True)(call)

    return SimpleNamespace(**{hook: answer(hook) for hook in hooks})


def _reads_sys_path(finder: object) -> bool:
    """Whether ``finder`` finds distributions only where the scan below looks: ``sys.path``.

    The standard library's ``PathFinder``, and the ``importlib_metadata`` backport's finder
    (PDM and Hatch import the backport, which adds it to ``sys.meta_path``).
    """
    kind = type(finder) if not isinstance(finder, type) else finder
    return finder is PathFinder or (
        kind.__module__ == "importlib_metadata" and kind.__qualname__ == "MetadataPathFinder"
    )


def group_may_be_declared(group: str) -> bool:
    """Whether a distribution on ``sys.path`` may declare entry points in ``group``.

    Reading every ``*.dist-info/entry_points.txt`` directly costs a fraction of importing
    ``importlib.metadata`` and letting it do the same. The answer is False only when it is
    certain: a zip or egg on ``sys.path``, or a finder on ``sys.meta_path`` that finds
    distributions of its own, makes it True (the full look decides).
    """
    header = re.compile(rf"^\s*\[\s*{re.escape(group)}\s*\]", re.MULTILINE)
    if any(
        getattr(finder, "find_distributions", None) is not None and not _reads_sys_path(finder)
        for finder in sys.meta_path
    ):
        return True
    # os.scandir and strings, not pathlib: a site-packages folder has hundreds of entries.
    for entry in sys.path:
        folder = entry or "."
        if folder.lower().endswith(".egg") or os.path.isfile(folder):  # noqa: PTH113
            return True
        try:
            with os.scandir(folder) as found:
                infos = [item.path for item in found if item.name.lower().endswith(_INFO_SUFFIXES)]
        except OSError:  # missing or unreadable: importlib.metadata finds nothing there either
            continue
        for info in infos:
            try:
                with open(f"{info}{os.sep}entry_points.txt", encoding="utf-8") as file:
                    text = file.read()
            except (FileNotFoundError, NotADirectoryError):  # no entry points (or a file)
                continue
            except (OSError, UnicodeDecodeError):  # let importlib.metadata decide (or say why)
                return True
            if header.search(text):
                return True
    return False
