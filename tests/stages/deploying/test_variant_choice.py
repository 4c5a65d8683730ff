"""Variant selection on fake system trees (no GPU here): the selectors, their order, overrides.

The built-in selectors read files under ``System.root``; each test writes the files a
machine would have (``/proc/driver/nvidia/version``, ``/proc/cpuinfo``, ``/opt/rocm/...``)
into a temporary root. NVML is only tried with the real root, never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from envstacks.floor.errors import DeployError, SelectionError
from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.layer_kinds import LayerKind
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.published.manifest import ManifestLayer
from envstacks.published.variant_table import Variant, VariantGroup, read_variants
from envstacks.stages.deploying.variant_choice import (
    VariantChoice,
    arrange_layers,
    check_include,
    choose_variants,
    parse_overrides,
)
from envstacks.stages.deploying.variant_selectors import Condition, System, Verdict

NVIDIA_550 = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
)
V3_FLAGS = "fpu cx16 lahf_lm popcnt sse4_1 sse4_2 ssse3 avx avx2 bmi1 bmi2 f16c fma abm movbe xsave"


def _group(*variants: Variant) -> VariantGroup:
    return VariantGroup(
        framework="accel", slot="framework-accel", fallback="framework-accel-cpu", variants=variants
    )


GROUP = _group(
    Variant(name="cuda", layer_name="framework-accel-cuda", select=("nvidia>=550",)),
    Variant(name="rocm", layer_name="framework-accel-rocm", select=("rocm>=6",)),
    Variant(name="avx", layer_name="framework-accel-avx", select=("cpu=x86-64-v3",)),
    Variant(name="cpu", layer_name="framework-accel-cpu"),
)


def _system(tmp_path: Path, files: dict[str, str], environ: dict[str, str] | None = None) -> System:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return System(root=tmp_path, environ=environ or {})


def _choose(system: System, overrides: dict[str, str] | None = None, pm=None) -> VariantChoice:
    reporter = RecordingReporter()
    (choice,) = choose_variants(
        [GROUP],
        overrides or {},
        pm=pm or get_plugin_manager(load_entrypoints=False),
        reporter=reporter,
        system=system,
    )
    return choice


@pytest.mark.parametrize(
    ("files", "chosen", "reason"),
    [
        ({"proc/driver/nvidia/version": NVIDIA_550}, "cuda", "NVIDIA driver 550.54.14"),
        (
            {"proc/driver/nvidia/version": NVIDIA_550.replace("550.54.14", "535.104.05")},
            "avx",
            "the CPU has x86-64-v3",
        ),
        ({"opt/rocm/.info/version": "6.1.2-115\n"}, "rocm", "ROCm 6.1.2"),
        ({"proc/cpuinfo": f"processor: 0\nflags\t\t: {V3_FLAGS}\n"}, "avx", "x86-64-v3"),
        ({"proc/cpuinfo": "flags : fpu sse4_2\n"}, "cpu", "the CPU lacks"),
    ],
    ids=["nvidia-550", "nvidia-too-old", "rocm-6", "x86-64-v3", "plain-cpu"],
)
def test_first_matching_variant_else_the_fallback(
    tmp_path: Path, files: dict[str, str], chosen: str, reason: str
) -> None:
    if "proc/cpuinfo" not in files:
        files = {**files, "proc/cpuinfo": f"flags : {V3_FLAGS}\n"}
    if chosen == "cpu":
        files = {"proc/cpuinfo": files["proc/cpuinfo"]}
    choice = _choose(_system(tmp_path, files))
    assert choice.variant == chosen
    assert reason in choice.reason
    if chosen == "cpu":
        assert choice.reason.startswith(
            "fallback: 'cuda' not selected (nvidia>=550: no NVIDIA driver found "
            "(no /proc/driver/nvidia/version)); "
        )


def test_override_and_environment_come_before_selectors(tmp_path: Path) -> None:
    files = {"proc/driver/nvidia/version": NVIDIA_550}
    assert _choose(_system(tmp_path, files), {"accel": "cpu"}).reason == (
        "chosen by --variant accel=cpu"
    )
    env = {"ENVSTACKS_VARIANT_ACCEL": "rocm"}
    choice = _choose(_system(tmp_path, files, env))
    assert (choice.variant, choice.reason) == ("rocm", "chosen by ENVSTACKS_VARIANT_ACCEL=rocm")
    assert _choose(_system(tmp_path, files, env), {"accel": "cpu"}).variant == "cpu"


def test_unknown_variant_or_framework_is_an_error_listing_the_choices(tmp_path: Path) -> None:
    system = _system(tmp_path, {})
    with pytest.raises(DeployError) as caught:
        _choose(system, {"accel": "tpu"})
    assert str(caught.value) == (
        "--variant accel=tpu: framework 'accel' has no variant 'tpu' "
        "(its variants: 'cuda', 'rocm', 'avx', 'cpu')"
    )
    with pytest.raises(DeployError, match=r"no framework 'torch' with variants.*'accel'"):
        _choose(system, {"torch": "cpu"})
    with pytest.raises(DeployError, match=r"ENVSTACKS_VARIANT_ACCEL=gpu: .* no variant 'gpu'"):
        _choose(_system(tmp_path, {}, {"ENVSTACKS_VARIANT_ACCEL": "gpu"}))
    with pytest.raises(DeployError, match="expected FRAMEWORK=VARIANT"):
        parse_overrides(["accel"])
    assert parse_overrides(["accel=gpu", "b = x"]) == {"accel": "gpu", "b": "x"}


class _Broken:
    name = "nvidia"

    def evaluate(self, condition: Condition, system: System) -> Verdict:
        raise RuntimeError("driver query crashed")


class _Plugin:
    @hookimpl
    def envstacks_variant_selectors(self) -> Sequence[object]:
        return [_Broken()]


def test_a_failing_selector_falls_back_with_a_warning_and_plugins_replace_built_ins(
    tmp_path: Path,
) -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(_Plugin())
    reporter = RecordingReporter()
    (choice,) = choose_variants(
        [GROUP], {}, pm=pm, reporter=reporter, system=_system(tmp_path, {"proc/cpuinfo": ""})
    )
    assert choice.variant == "cpu"
    assert "detection failed (driver query crashed)" in choice.reason
    assert any("selector 'nvidia>=550' failed" in text for text in reporter.texts("warning"))


def test_bad_conditions_and_unknown_selectors_never_fail(tmp_path: Path) -> None:
    group = _group(
        Variant(name="x", layer_name="framework-accel-x", select=("quantum",)),
        Variant(name="y", layer_name="framework-accel-y", select=("cpu>=3",)),
        Variant(name="cpu", layer_name="framework-accel-cpu"),
    )
    reporter = RecordingReporter()
    (choice,) = choose_variants(
        [group],
        {},
        pm=get_plugin_manager(load_entrypoints=False),
        reporter=reporter,
        system=_system(tmp_path, {}),
    )
    assert choice.variant == "cpu"
    warnings = reporter.texts("warning")
    assert any("unknown selector 'quantum'" in text for text in warnings)
    assert any("write cpu=3" in text for text in warnings)


def _layer(name: str, kind: LayerKind, required: tuple[str, ...] = ()) -> ManifestLayer:
    return ManifestLayer(
        kind=kind,
        layer_name=name,
        install_target=f"{name}@1" if "accel" in name else name,
        archive_name=f"{name}.tar.zst",
        archive_size=1,
        archive_sha256="0" * 64,
        runtime_layer="cpython-3.12" if name != "cpython-3.12" else name,
        required_layers=required,
    )


def test_only_the_chosen_variant_is_kept_and_layers_above_need_it() -> None:
    layers = (
        _layer("cpython-3.12", LayerKind.RUNTIME),
        _layer("framework-accel-cuda", LayerKind.FRAMEWORK),
        _layer("framework-accel-cpu", LayerKind.FRAMEWORK),
        _layer("app-infer", LayerKind.APPLICATION, ("framework-accel-cpu@1",)),
    )
    choice = VariantChoice(
        framework="accel", variant="cuda", layer_name="framework-accel-cuda", reason="r"
    )
    arranged, placed = arrange_layers(layers, [choice], [GROUP])
    assert [layer.install_target for layer in arranged] == [
        "cpython-3.12",
        "framework-accel-cuda@1",
        "app-infer",
    ]
    assert arranged[-1].required_layers == ("framework-accel-cuda@1",)
    assert placed[0].install_target == "framework-accel-cuda@1"


def test_a_damaged_variants_table_is_refused() -> None:
    table = {"variants": {"accel": {"slot": "../x", "fallback": "a", "variants": []}}}
    with pytest.raises(DeployError, match=r"variants table is damaged .*'../x'"):
        read_variants(table, where="m.json")
    assert read_variants({"layers": {}}, where="m.json") == ()


def test_including_a_variant_that_was_not_chosen_says_how_to_choose_it() -> None:
    choice = VariantChoice(
        framework="accel", variant="cpu", layer_name="framework-accel-cpu", reason="fallback: x"
    )
    with pytest.raises(SelectionError) as caught:
        check_include(["app-*", "framework-accel-cuda"], [GROUP], [choice])
    assert str(caught.value) == (
        "--include 'framework-accel-cuda' names framework-accel-cuda, variant 'cuda' of "
        "framework 'accel', but this deploy chose 'cpu' (fallback: x)"
    )
    assert caught.value.hint == "add --variant accel=cuda to deploy it"
    check_include(["framework-accel-*", "app-*"], [GROUP], [choice])  # the chosen one matches
