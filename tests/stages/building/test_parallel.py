"""Independent layers build at the same time; a layer waits for every layer below it. Offline."""

from __future__ import annotations

import threading
from types import ModuleType

import pytest

from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.stages.building import BuildOptions
from envstacks.stages.locking import LockOptions
from envstacks.stages.stackspec import load

SPEC = """\
[project]
name = "parallel-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "left"
runtime = "cpython-3.12"
requirements = ["demo-left"]

[[tool.venvstacks.frameworks]]
name = "right"
runtime = "cpython-3.12"
requirements = ["demo-right"]

[[tool.venvstacks.applications]]
name = "both"
frameworks = ["left", "right"]
run_module = "demo_left"
requirements = ["demo-left", "demo-right"]
"""


class Rendezvous:
    """Post-build checks that only pass if both frameworks are checked at the same time."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=60)
        self.finished: list[str] = []
        self.started: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    @hookimpl
    def envstacks_check_layer(self, layer: object) -> list[str]:
        name = layer.build_name
        with self.lock:
            self.started[name] = list(self.finished)
        if name.startswith("framework-"):
            self.barrier.wait()
        with self.lock:
            self.finished.append(name)
        return []


@pytest.fixture(scope="module")
def spec(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory, python_for) -> object:
    python_for("3.12")
    root = tmp_path_factory.mktemp("parallel")
    for name in ("left", "right"):
        kit.make_wheel(root / "wheels", f"demo-{name}", "1.0", {f"demo_{name}/__init__.py": b""})
    (root / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    spec = load(root / "pyproject.toml")
    kit.lock_stack(
        spec, RecordingReporter(), options=LockOptions(index=False, local_wheels=(root / "wheels",))
    )
    return spec


def test_independent_frameworks_build_in_parallel(spec: object, kit: ModuleType) -> None:
    plugin = Rendezvous()
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(plugin)
    results = kit.build_stack(spec, RecordingReporter(), pm=pm, options=BuildOptions(jobs=2))
    assert [(r.layer, r.built) for r in results] == [
        ("cpython-3.12", True),
        ("framework-left", True),
        ("framework-right", True),
        ("app-both", True),
    ]
    # Both frameworks reached the barrier together; the app started after both finished.
    assert sorted(plugin.started["app-both"]) == [
        "cpython-3.12",
        "framework-left",
        "framework-right",
    ]
    assert plugin.started["framework-left"] == plugin.started["framework-right"] == ["cpython-3.12"]
