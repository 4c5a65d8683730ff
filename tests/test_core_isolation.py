"""The core never imports hatch, hatchling or pdm: only the Hatch and PDM front-ends may."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import envstacks

#: The front-ends that run inside Hatch or PDM (and only they import them): integrations/
HOSTED = ("envstacks.frontends.integrations",)


def _core_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(envstacks.__path__, "envstacks.")
        if not info.name.startswith((*HOSTED, "envstacks._injected"))
        and info.name != "envstacks.__main__"  # runs the CLI on import
    )


def test_core_modules_import_without_host_tools() -> None:
    modules = _core_modules()
    assert "envstacks.orchestrator.pipeline" in modules and "envstacks.frontends.cli" in modules
    script = (
        "import sys, importlib\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'hatch', 'hatchling', 'pdm'}:\n"
        "            raise ImportError('blocked host tool: ' + name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "hosts = {'hatch', 'hatchling', 'pdm'}\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in hosts)\n"
        "assert not leaked, leaked\n"
        "print(len(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
