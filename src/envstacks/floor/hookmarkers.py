"""The pluggy markers of the ``envstacks`` project (kept apart so specs and plugins share them)."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "envstacks"

#: Decorate a hook implementation in a plugin: ``@hookimpl def envstacks_...``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
#: Decorates the hook specifications in :mod:`envstacks.floor.hookspecs`.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
