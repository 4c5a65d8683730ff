"""A really built stack that needs no network: a local CPython, a C library, an extension.

Runtime ``cpython-3.12`` (a local CPython made relocatable, with the pure ``demo-rt``) ->
``framework-clib@1`` (ships ``libdemo.so.1``) -> ``app-useext`` (an extension module linking
it). The wheels are compiled by the test (:func:`kits.stacks.build_dynlib_wheels`) and locked
with ``--local-wheels``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SPEC = """\
[project]
name = "publish-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = ["demo-rt"]
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "clib"
runtime = "cpython-3.12"
requirements = ["demo-lib"]
versioned = true

[[tool.venvstacks.applications]]
name = "useext"
frameworks = ["clib"]
launch_module = "useext.py"
requirements = ["demo-ext"]
"""

APP = """\
import json, sys
import demo_ext
print(json.dumps({"answer": demo_ext.answer(), "prefix": sys.prefix}))
"""

LAYERS = ("cpython-3.12", "framework-clib@1", "app-useext")


def run_app(target: Path) -> list[str]:
    """Run the deployed application (``app-useext``) in ``target`` with a bare environment.

    Returns the lines it printed; fails the test when it exits with an error.
    """
    ran = subprocess.run(
        [target / "app-useext" / "bin" / "python", "-m", "useext"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.splitlines()
