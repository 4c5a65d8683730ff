"""A stack whose framework has two variants, made of local wheels (no network, no GPU).

``accelrt`` and ``accelrt-gpu`` both provide the import name ``accelrt`` (as ``onnxruntime``
and ``onnxruntime-gpu`` do); ``accelrt.DEVICE`` tells which one is installed. The framework
``accel`` has the fallback variant ``cpu`` and the variant ``gpu`` (``select = "nvidia"``);
the application ``infer`` imports ``accelrt`` and prints its device.
"""

from __future__ import annotations

from pathlib import Path

from kits.stacks import make_wheel

SPEC = """\
[project]
name = "variant-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "accel"
runtime = "cpython-3.12"
requirements = ["common"]

[tool.venvstacks.frameworks.variants.cpu]
requirements = [{cpu_requirements}]

[tool.venvstacks.frameworks.variants.gpu]
requirements = [{gpu_requirements}]
select = "nvidia"

[[tool.venvstacks.applications]]
name = "infer"
frameworks = ["accel"]
launch_module = "infer.py"
requirements = [{app_requirements}]
"""

APP = """\
import accelrt
print(accelrt.DEVICE)
"""


def write_wheels(folder: Path) -> Path:
    """The local wheels the stack locks against."""
    make_wheel(folder, "common", "1.0", {"common/__init__.py": b"VERSION = 1\n"})
    make_wheel(folder, "accelrt", "1.0", {"accelrt/__init__.py": b"DEVICE = 'cpu'\n"})
    make_wheel(
        folder,
        "accelrt-gpu",
        "1.0",
        {"accelrt/__init__.py": b"DEVICE = 'gpu'\n" + b"# padding\n" * 2000},
    )
    make_wheel(folder, "helper", "1.0", {"helper/__init__.py": b""}, requires=["common"])
    make_wheel(folder, "common", "2.0", {"common/__init__.py": b"VERSION = 2\n"})
    make_wheel(folder, "oldhelper", "1.0", {"oldhelper/__init__.py": b""}, requires=["common<2"])
    make_wheel(folder, "cpuonly", "1.0", {"cpuonly/__init__.py": b""})
    make_wheel(
        folder, "needs-cpuonly", "1.0", {"needs_cpuonly/__init__.py": b""}, requires=["cpuonly"]
    )
    return folder


def write_project(
    root: Path,
    *,
    app_requirements: str = '"helper"',
    cpu_requirements: str = '"accelrt"',
    gpu_requirements: str = '"accelrt-gpu"',
) -> Path:
    """The project folder with its wheels in ``wheels/``; returns the pyproject path."""
    root.mkdir(parents=True, exist_ok=True)
    write_wheels(root / "wheels")
    (root / "infer.py").write_text(APP, encoding="utf-8")
    path = root / "pyproject.toml"
    text = SPEC.replace("{app_requirements}", app_requirements)
    text = text.replace("{cpu_requirements}", cpu_requirements)
    path.write_text(text.replace("{gpu_requirements}", gpu_requirements), encoding="utf-8")
    return path
