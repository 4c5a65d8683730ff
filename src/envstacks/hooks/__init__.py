"""envstacks' pluggy extension points: the ``hookimpl`` marker and the plugin manager factory.

Third-party plugins register a module or object under the ``envstacks`` entry-point group and
decorate their functions with :data:`hookimpl`; the hooks they may implement are documented in
:mod:`envstacks.hooks.spec`.
"""

from __future__ import annotations

from envstacks.hooks.manager import (
    BUILTIN_PLUGINS,
    DISABLE_ENV_VAR,
    ENTRY_POINT_GROUP,
    get_plugin_manager,
)
from envstacks.hooks.markers import PROJECT_NAME, hookimpl, hookspec

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV_VAR",
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
]
