"""A framework's variants expand into one framework layer each; layers above use the fallback."""

from __future__ import annotations

from pathlib import Path

from envstacks.orchestrator.plan import Op, Selection, make_plan
from envstacks.orchestrator.status import render_tree, stack_status
from envstacks.stages.stackspec import FrameworkSpec, StackSpec, load

SPEC = """
[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true

[[tool.uv.index]]
name = "pytorch-cu124"
url = "https://download.pytorch.org/whl/cu124"
explicit = true

[[runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []

[[frameworks]]
name = "accel"
runtime = "cpython-3.12"
requirements = ["numpy"]
package_indexes = { torch = "pytorch-cpu" }

[frameworks.variants.gpu]
requirements = ["torch==2.5.1"]
package_indexes = { torch = "pytorch-cu124" }
select = "nvidia>=550"

[frameworks.variants.cpu]
requirements = ["torch==2.5.1"]

[[frameworks]]
name = "extra"
frameworks = ["accel"]
requirements = []

[[applications]]
name = "app"
frameworks = ["extra", "accel"]
launch_module = "app.py"
requirements = []
"""


def _load(tmp_path: Path) -> StackSpec:
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "venvstacks.toml").write_text(SPEC)
    return load(tmp_path / "venvstacks.toml")


def test_variants_become_layers_and_layers_above_use_the_fallback(tmp_path: Path) -> None:
    spec = _load(tmp_path)
    names = [layer.build_name for layer in spec.frameworks]
    assert names == ["framework-accel-gpu", "framework-accel-cpu", "framework-extra"]
    gpu, cpu, extra = spec.frameworks
    assert isinstance(gpu, FrameworkSpec) and isinstance(cpu, FrameworkSpec)
    assert (gpu.variant_of, gpu.variant, gpu.select) == ("accel", "gpu", ("nvidia>=550",))
    assert cpu.is_fallback and not gpu.is_fallback and extra.variant_of is None
    assert gpu.requirements == ("numpy", "torch==2.5.1")
    assert dict(gpu.package_indexes) == {"torch": "pytorch-cu124"}
    assert dict(cpu.package_indexes) == {"torch": "pytorch-cpu"}
    assert gpu.toml_path == "frameworks[0].variants.gpu"
    assert extra.linearized == ("framework-accel-cpu",)
    app = spec.applications[0]
    assert app.frameworks == ("extra", "accel")
    assert app.linearized == ("framework-extra", "framework-accel-cpu")
    assert spec.variant_frameworks == ("accel",)
    assert spec.variants_of("accel") == (gpu, cpu)


def test_show_marks_variants_and_include_matches_the_framework_name(tmp_path: Path) -> None:
    spec = _load(tmp_path)
    tree = render_tree(stack_status(spec, {}))
    assert "framework-accel-gpu [variant 'gpu' of 'accel', select nvidia>=550]" in tree
    assert "framework-accel-cpu [variant 'cpu' of 'accel', fallback]" in tree
    json_gpu = stack_status(spec, {}).to_json()["frameworks"][0]
    assert json_gpu["variant"] == {"framework": "accel", "name": "gpu", "select": ["nvidia>=550"]}
    assert "variant" not in stack_status(spec, {}).to_json()["frameworks"][2]
    plan = make_plan(spec, Selection(include=("framework-accel",)))
    assert {"framework-accel-gpu", "framework-accel-cpu"} <= set(plan.names)


def test_a_layer_above_needs_every_variant_and_a_variant_makes_it_derived(tmp_path: Path) -> None:
    spec = _load(tmp_path)
    plan = make_plan(spec, Selection(include=("app-app",), lock=Op.RUN))
    assert {"framework-accel-gpu", "framework-accel-cpu", "framework-extra"} <= set(plan.names)
    derived = make_plan(
        spec, Selection(include=("framework-accel-gpu",), lock=Op.RUN, build_derived=True)
    )
    assert "app-app" in derived.names
