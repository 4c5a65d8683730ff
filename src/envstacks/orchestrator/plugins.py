"""Build the pluggy plugin manager: built-ins first, then the ``envstacks`` entry points."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

import pluggy

from envstacks.floor import hookspecs as spec
from envstacks.floor.hookmarkers import PROJECT_NAME

ENTRY_POINT_GROUP = "envstacks"
#: Comma-separated entry-point names to block, or ``all``/``1`` to load no third-party plugin.
DISABLE_ENV_VAR = "ENVSTACKS_DISABLE_PLUGINS"

#: Modules holding the built-in hook implementations, registered under their own names and
#: before any third-party plugin. pluggy asks plugins registered later first, and the
#: built-ins' implementations are ``trylast`` as well, so a third-party runtime provider or
#: archive format of the same name replaces a built-in one (:mod:`envstacks.floor.named_plugins`).
#: Their order here decides nothing: ``auto`` has its own explicit order.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "envstacks.published.archive_formats",
    "envstacks.stages.runtime.local",
    "envstacks.stages.runtime.uv_managed",
    "envstacks.stages.deploying.variant_selectors",
)


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
    for module_name in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(module_name), name=module_name)
    disabled = os.environ.get(DISABLE_ENV_VAR, "").strip()
    if load_entrypoints and disabled.lower() not in {"1", "all", "true", "yes"}:
        for name in [*blocked, *(part.strip() for part in disabled.split(",") if part.strip())]:
            manager.set_blocked(name)
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    manager.check_pending()
    return manager
