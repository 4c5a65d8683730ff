"""The real PyPI pair ``onnxruntime`` / ``onnxruntime-gpu`` as two variants of one framework.

Slow and networked (the GPU wheel is a few hundred MB): locked, built, published and deployed
with the real CLI; the application imports ``onnxruntime`` and runs a one-node model on the
CPU, which works with either wheel and no GPU. This machine has no NVIDIA driver, so deploy
chooses the ``cpu`` fallback; ``--variant ort=gpu`` switches to the CUDA build, whose providers
list CUDA (unusable here) while CPU execution still works.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from envstacks.frontends.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.network,
    pytest.mark.skipif(
        os.path.exists("/proc/driver/nvidia/version"), reason="this machine has an NVIDIA driver"
    ),
]

SPEC = """\
[project]
name = "ort-variants"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[tool.venvstacks.uv]
exclude-newer = "2025-06-01T00:00:00Z"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "ort"
runtime = "cpython-3.12"
requirements = ["numpy<2.3"]

[tool.venvstacks.frameworks.variants.cpu]
requirements = ["onnxruntime==1.21.1"]

[tool.venvstacks.frameworks.variants.gpu]
requirements = ["onnxruntime-gpu==1.21.1"]
select = "nvidia>=525"

[[tool.venvstacks.applications]]
name = "infer"
frameworks = ["ort"]
launch_module = "infer.py"
requirements = ["onnx==1.17.0"]
"""

APP = """\
import json
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "double", [x], [y])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
(out,) = session.run(None, {"x": np.array([1.5, 2.0], dtype=np.float32)})
print(json.dumps({"y": out.tolist(), "providers": ort.get_available_providers(),
                  "file": ort.__file__}))
"""


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _run(target: Path) -> dict:
    result = subprocess.run(
        [target / "app-infer" / "bin" / "python", "-m", "infer"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_onnxruntime_cpu_and_gpu_variants_of_one_framework(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENVSTACKS_VARIANT_ORT", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    (project / "infer.py").write_text(APP, encoding="utf-8")
    monkeypatch.chdir(project)
    _cli(capsys, "lock")
    app_lock = (project / "requirements" / "app-infer" / "pylock.app-infer.toml").read_text()
    assert 'name = "onnx"' in app_lock and 'name = "onnxruntime' not in app_lock
    _cli(capsys, "build")
    _cli(capsys, "publish")
    output = project / "dist" / "venvstacks"
    assert (output / "framework-ort-cpu.tar.zst").is_file()
    assert (output / "framework-ort-gpu.tar.zst").is_file()

    target = tmp_path / "deployed"
    first = json.loads(_cli(capsys, "deploy", str(output), "--target", str(target), "--json"))
    assert first["variants"][0]["variant"] == "cpu"
    assert first["variants"][0]["reason"].startswith("fallback: 'gpu' not selected (nvidia>=525")
    assert "framework-ort-gpu" not in {t["install_target"] for t in first["transfers"]}
    cpu = _run(target)
    assert cpu["y"] == [3.0, 4.0]
    assert "CUDAExecutionProvider" not in cpu["providers"]
    assert "/framework-ort/" in cpu["file"]  # through the slot

    second = json.loads(
        _cli(
            capsys, "deploy", str(output), "--target", str(target), "--variant", "ort=gpu", "--json"
        )
    )
    methods = {t["install_target"]: t["method"] for t in second["transfers"]}
    assert methods == {"framework-ort-gpu": "full", "cpython-3.12": "reused", "app-infer": "reused"}
    gpu = _run(target)
    assert gpu["y"] == [3.0, 4.0]  # CPU execution, no GPU needed
    assert "CUDAExecutionProvider" in gpu["providers"]
    assert not (target / "framework-ort-cpu").exists()
