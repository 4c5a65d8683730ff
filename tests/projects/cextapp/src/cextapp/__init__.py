"""The fixture application with a C extension: reports what it was compiled for and runs on."""

from __future__ import annotations

import json
import sys

from cextapp import _speed


def report() -> str:
    """JSON: the extension's answer, the Python it was built for, the one running it, its file."""
    return json.dumps(
        {
            "answer": _speed.answer(),
            "built_for": _speed.built_for(),
            "running": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "extension": _speed.__file__,
        }
    )
