"""A small real stack for CLI tests: a local CPython 3.12 runtime, a framework, an application.

The framework holds a wheel made in the test; the stack is locked offline with
``--local-wheels``, so no network is needed.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from envstacks.frontends.cli import main

SPEC = """\
[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "pure"
runtime = "cpython-3.12"
requirements = ["demo-pure"]

[[tool.venvstacks.applications]]
name = "hello"
frameworks = ["pure"]
launch_module = "hello.py"
requirements = []
"""

#: The layers' build names, runtime first.
LAYERS = ("cpython-3.12", "framework-pure", "app-hello")


def locked_stack(root: Path, kit: ModuleType) -> Path:
    """Write the stack into ``root`` and lock it with the CLI (offline); ``root``."""
    kit.make_wheel(root / "wheels", "demo-pure", "1.0", {"demo_pure/__init__.py": b"X = 1\n"})
    (root / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    (root / "hello.py").write_text("print('hello')\n", encoding="utf-8")
    argv = ["-q", "lock", "--no-index", "--local-wheels", str(root / "wheels"), str(root)]
    assert main(argv) == 0
    return root
