"""Report which layer each imported package came from (a support module of app-classify)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def layer_of(module_name: str) -> str:
    """The deployed layer folder a module was imported from (e.g. 'framework-scipy')."""
    module = importlib.import_module(module_name)
    path = Path(module.__file__ or "").resolve()
    # <deploy>/<layer>/lib/pythonX.Y/site-packages/<module>/...
    for parent in path.parents:
        if parent.name == "lib":
            return parent.parent.name
    return str(path)


def report(*modules: str) -> dict[str, str]:
    """Map module names to their layers, and print it as JSON when asked (--layers)."""
    layers = {name: layer_of(name) for name in modules}
    if "--layers" in sys.argv:
        print(json.dumps(layers, sort_keys=True))
    return layers
