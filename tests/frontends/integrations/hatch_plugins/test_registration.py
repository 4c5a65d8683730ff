"""The ``hatch`` entry point: found by Hatch and hatchling; imports where only hatchling is."""

from __future__ import annotations

import subprocess
import sys

from envstacks.frontends.integrations.hatch_plugins import registration as hatch_hooks

#: Runs in a fresh interpreter where ``import hatch`` fails, as in Hatch's build environment.
BLOCKED_HATCH = """
import sys

class BlockHatch:
    def find_spec(self, name, path=None, target=None):
        if name == "hatch" or name.startswith("hatch."):
            raise ImportError("blocked: " + name)
        return None

sys.meta_path.insert(0, BlockHatch())
import envstacks.frontends.integrations.hatch_plugins.registration as hooks
builder = hooks.hatch_register_builder()
print(builder.PLUGIN_NAME, builder.__module__)
leaked = sorted(m for m in sys.modules if m == "hatch" or m.startswith("hatch."))
assert not leaked, leaked
try:
    hooks.hatch_register_environment()
except ImportError as exc:
    print("environment:", exc)
"""


def test_hooks_module_imports_without_hatch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_HATCH], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "venvstacks envstacks.frontends.integrations.hatch_plugins.build_target"
    # Only the environment type needs Hatch itself, and only when Hatch asks for it.
    assert lines[1] == "environment: blocked: hatch"


def test_hatchling_finds_the_builder() -> None:
    from hatchling.plugin.manager import PluginManager

    builder = PluginManager().builder.get("venvstacks")
    assert builder is hatch_hooks.hatch_register_builder()


def test_hatch_finds_the_environment_type() -> None:
    from hatch.plugin.manager import PluginManager

    environment = PluginManager().environment.get("venvstacks")
    assert environment is hatch_hooks.hatch_register_environment()
    assert environment.PLUGIN_NAME == "venvstacks"
