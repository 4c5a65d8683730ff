"""A realistic binary stack: numpy in the runtime, scipy in a framework, an app using both.

Slow (downloads about 50 MB on a cold uv cache); run by the ``slow`` tox environment.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.published.layer_config import DYNLIB_DIR
from envstacks.stages.stackspec import load

pytestmark = [pytest.mark.slow, pytest.mark.network]

SPEC = """\
[project]
name = "binary-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = ["numpy"]
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "sci"
runtime = "cpython-3.12"
requirements = ["scipy"]

[[tool.venvstacks.applications]]
name = "solve"
frameworks = ["sci"]
launch_module = "solve.py"
requirements = ["scipy", "numpy"]
"""

APP = """\
import json
import numpy, scipy.linalg
x = scipy.linalg.solve(numpy.array([[3.0, 1.0], [1.0, 2.0]]), numpy.array([9.0, 8.0]))
print(json.dumps({"x": x.tolist(), "numpy": numpy.__file__, "scipy": scipy.__file__}))
"""


def test_numpy_runtime_scipy_framework_app(kit: ModuleType, tmp_path: Path, python_for) -> None:
    python_for("3.12")
    (tmp_path / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "solve.py").write_text(APP, encoding="utf-8")
    spec = load(tmp_path / "pyproject.toml")
    reporter = RecordingReporter()
    kit.lock_stack(spec, reporter)
    kit.build_stack(spec, reporter)
    stack = kit.Stack(spec=spec, reporter=reporter, results=[])
    out = subprocess.run(
        [stack.env("app-solve") / "bin" / "python", "-m", "solve"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    assert [round(v, 9) for v in report["x"]] == [2.0, 3.0]
    assert Path(report["numpy"]).is_relative_to(stack.env("cpython-3.12"))
    assert Path(report["scipy"]).is_relative_to(stack.env("framework-sci"))
    # The wheels' bundled libraries (auditwheel's *.libs folders) are published.
    runtime_libs = [p.name for p in (stack.env("cpython-3.12") / DYNLIB_DIR).iterdir()]
    assert any(name.startswith("libscipy_openblas") for name in runtime_libs)
    framework_libs = [p.name for p in (stack.env("framework-sci") / DYNLIB_DIR).iterdir()]
    assert framework_libs
    for name in ("cpython-3.12", "framework-sci", "app-solve"):
        site = stack.env(name) / "lib" / "python3.12" / "site-packages"
        assert kit.record_problems(site) == []
    staged = tmp_path / "staged"
    targets = {layer.build_name: layer.build_name for layer in spec.layers}
    from envstacks.stages.building.staging import stage_layer

    for layer in spec.layers:
        tree = stage_layer(
            spec,
            layer,
            stack.env(layer.build_name),
            staged / layer.build_name,
            install_targets=targets,
        )
        assert kit.files_containing(tree, str(spec.settings.build_dir).encode()) == []
