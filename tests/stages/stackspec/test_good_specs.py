"""The good specs in ``specs/good`` load into the StackSpec values the other stages use."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from envstacks.floor.platforms import TARGET_PLATFORMS
from envstacks.stages.stackspec import (
    ApplicationSpec,
    FrameworkSpec,
    LayeredSpec,
    RuntimeSpec,
    StackSpec,
    load,
)

GOOD = Path(__file__).parent / "specs" / "good"

#: venvstacks' EXPECTED_FRAMEWORKS and EXPECTED_APPLICATIONS (reference 1.9).
MINIMAL_ORDERS = {
    "framework-layerA": (),
    "framework-layerB": ("layerA",),
    "framework-layerC": ("layerA",),
    "framework-layerD": ("layerB", "layerC", "layerA"),
    "framework-layerE": ("layerB", "layerA"),
    "framework-layerF@1": ("layerE", "layerB", "layerA"),
    "app-empty": ("layerD", "layerF@1", "layerE", "layerB", "layerC", "layerA"),
    "app-no-framework": (),
    "app-disabled": (),
}

MINIMAL = {
    "venvstacks": GOOD / "minimal_project.toml",
    "pyproject": GOOD / "minimal_project",
}


@pytest.fixture(params=sorted(MINIMAL), ids=sorted(MINIMAL))
def minimal(request: pytest.FixtureRequest) -> StackSpec:
    return load(MINIMAL[request.param])


def test_minimal_project_c3_orders(minimal: StackSpec) -> None:
    orders = {
        layer.build_name: tuple(name.removeprefix("framework-") for name in layer.linearized)
        for layer in minimal.layers
        if isinstance(layer, LayeredSpec)
    }
    assert orders == MINIMAL_ORDERS
    empty = minimal.layer("app-empty")
    assert isinstance(empty, ApplicationSpec)
    assert empty.depends_on[-1] == "cpython-3.11", "the runtime comes after every framework"
    assert [layer.build_name for layer in minimal.dependencies(empty)] == [
        *(f"framework-{name}" for name in MINIMAL_ORDERS["app-empty"]),
        "cpython-3.11",
    ]


def test_minimal_project_runtime_is_inferred_and_platforms_inherited(minimal: StackSpec) -> None:
    for layer in minimal.layers:
        if isinstance(layer, LayeredSpec):
            assert layer.runtime == "cpython-3.11"
    assert minimal.layer("framework-layerF@1").platforms == TARGET_PLATFORMS
    disabled = minimal.layer("app-disabled")
    assert not disabled.enabled
    assert disabled not in minimal.enabled_layers
    assert len(minimal.enabled_layers) == len(minimal.layers) - 1


def test_minimal_project_package_indexes_are_inherited(minimal: StackSpec) -> None:
    for layer in minimal.layers:
        assert dict(layer.package_indexes) == {"venvstacks": "pypi-named"}, layer.build_name
    assert minimal.layer("framework-layerA").priority_indexes == ("pypi-named",)
    assert minimal.layer("framework-layerB").priority_indexes == (), "priorities are not inherited"
    assert minimal.uv.index_names == ("pypi-named",)
    assert minimal.uv.index("pypi-named")["explicit"] is True


def test_minimal_project_same_in_both_formats() -> None:
    vs = load(MINIMAL["venvstacks"])
    py = load(MINIMAL["pyproject"])
    assert vs.source_format == "venvstacks"
    assert py.source_format == "pyproject"
    assert py.project_name == "minimal-project"
    assert vs.project_name is None
    assert vs.toml_prefix == ""
    assert py.toml_prefix == "tool.venvstacks."

    def comparable(layer: object) -> object:
        assert dataclasses.is_dataclass(layer) and not isinstance(layer, type)
        values = {field.name: getattr(layer, field.name) for field in dataclasses.fields(layer)}
        values["package_indexes"] = dict(values["package_indexes"])
        values["toml_path"] = values["toml_path"].removeprefix("tool.venvstacks.")
        if values.get("launch_module"):
            values["launch_module"] = Path(values["launch_module"]).name
        return values

    assert [comparable(layer) for layer in vs.layers] == [comparable(layer) for layer in py.layers]
    assert py.layer("framework-layerD").toml_path == "tool.venvstacks.frameworks[3]"
    assert vs.layer("framework-layerD").toml_path == "frameworks[3]"


def test_minimal_project_settings_defaults_differ_by_format() -> None:
    vs = load(MINIMAL["venvstacks"])
    py = load(MINIMAL["pyproject"])
    assert vs.settings.output_dir == GOOD / "_artifacts"
    assert py.settings.output_dir == GOOD / "minimal_project" / "dist" / "venvstacks"
    # A venvstacks.toml publishes what venvstacks' consumers read; pyproject.toml, zstd.
    assert (vs.settings.archive_format, py.settings.archive_format) == ("tar.xz", "tar.zst")
    for spec, root in ((vs, GOOD), (py, GOOD / "minimal_project")):
        assert spec.settings.build_dir == root / "_build"
        assert spec.settings.export_dir == root / "_export"
        assert spec.settings.requirements_dir == root / "requirements"
        assert spec.settings.runtime_provider == "auto"
        assert spec.settings.precompile is True
        assert all(layer.precompile and layer.scripts is None for layer in spec.layers)


def test_precompile_setting_and_layer_keys_and_scripts() -> None:
    spec = load(GOOD / "precompile_scripts")
    assert spec.settings.precompile is False
    by_name = {layer.build_name: layer for layer in spec.layers}
    assert by_name["cpython-3.12"].precompile is True  # the layer's key wins
    assert by_name["framework-sci"].precompile is False  # the setting is the default
    assert by_name["cpython-3.12"].scripts == ("f2py",)
    assert by_name["app-tool"].scripts is None  # the kind's default
    assert by_name["app-quiet"].scripts == ()


def test_at_symbol_names_and_versioning() -> None:
    spec = load(GOOD / "at_symbol.toml")
    assert [layer.build_name for layer in spec.layers] == ["cpython@3.11", "cpython@3.12"]
    first, second = spec.runtimes
    assert (first.versioned, second.versioned) == (False, True)
    assert (first.python_version, second.python_version) == ("3.11.13", "3.12.11")
    assert second.py_version == "3.12"
    assert first.file_name == "cpython@3_11"
    assert spec.frameworks == () and spec.applications == ()


def test_legacy_build_requirements_warns_per_layer() -> None:
    spec = load(GOOD / "warning_build_requirements.toml")
    warnings = [w for w in spec.warnings if "Dropping legacy field 'build_requirements'" in w]
    assert len(warnings) == 3
    for warning, name in zip(warnings, ("runtime", "fw", "app"), strict=True):
        assert f"for layer {name!r}" in warning
    assert warnings[0].startswith("runtimes[0].build_requirements: ")


def test_legacy_fully_versioned_name_is_renamed_with_warning() -> None:
    spec = load(GOOD / "warning_fully_versioned.toml")
    (runtime,) = spec.runtimes
    assert runtime.python_implementation == "cpython@3.11.10"
    assert runtime.implementation == "cpython"
    (warning,) = spec.warnings
    assert (
        "Converting legacy field name 'fully_versioned_name' to 'python_implementation'" in warning
    )
    assert "'runtime'" in warning


def test_settings_uv_and_modules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    root = GOOD / "settings_uv"
    spec = load(root)
    settings = spec.settings
    assert settings.build_dir == root / "build" / "layers"
    assert settings.output_dir == tmp_path / "envstacks-artifacts"
    assert settings.export_dir == Path("/srv/envstacks/export")
    assert settings.requirements_dir == GOOD / "locks", "'..' is folded"
    assert settings.archive_format == "zip"
    assert settings.runtime_provider == "local"
    assert settings.python_search_path == (root / "pythons", tmp_path / ".pyenv" / "versions")

    uv = spec.uv
    assert uv.index_names == ("pytorch-cpu", "pytorch-cu128")
    assert dict(uv.sources) == {"torch-vision": "pytorch-cpu"}
    assert dict(uv.settings) == {
        "exclude-newer": "2025-06-01T00:00:00Z",
        "prerelease": "allow",
        "exclude-newr": "typo",
    }
    (warning,) = spec.warnings
    assert warning.startswith("tool.venvstacks.uv.exclude-newr: unknown uv setting")
    assert "(did you mean 'exclude-newer'?)" in warning

    runtime = spec.runtimes[0]
    assert isinstance(runtime, RuntimeSpec)
    assert runtime.requirements == ('numpy>=2; python_version >= "3.12"',), "normalised"
    assert runtime.python_version == "3.12"
    assert runtime.linux_glibc == (2, 34)
    assert runtime.macosx_version == (14, 0)
    assert runtime.dynlib_exclude == ("*",)

    viewer = spec.layer("app-viewer")
    assert isinstance(viewer, ApplicationSpec)
    assert viewer.run_module == "settings_demo.viewer"
    assert viewer.launch_module is None
    assert viewer.module_name == "settings_demo.viewer"
    assert dict(viewer.package_indexes) == {"torch": "pytorch-cu128"}, "override accepted"
    assert viewer.platforms == ("linux_x86_64", "win_amd64")
    assert viewer.linearized == ("framework-torch-cu128", "framework-torch-cpu")
    assert spec.layer("framework-torch-cpu").versioned

    tool = spec.layer("app-tool")
    assert isinstance(tool, ApplicationSpec)
    assert tool.launch_module == root / "launch" / "viewer_pkg"
    assert tool.module_name == "viewer_pkg"
    assert tool.support_modules == (root / "launch" / "alpha.py", root / "launch" / "zeta.py")


def test_uv_settings_from_venvstacks_uv_toml() -> None:
    spec = load(GOOD / "uv_file")
    assert spec.uv.origin == str(GOOD / "uv_file" / "venvstacks.uv.toml")
    assert spec.uv.index_names == ("mirror",)
    assert dict(spec.uv.settings) == {"exclude-newer": "2025-01-01T00:00:00Z"}
    assert spec.runtimes[0].priority_indexes == ("mirror",)


def test_inline_tool_uv_wins_over_venvstacks_uv_toml() -> None:
    spec = load(GOOD / "uv_inline_wins")
    assert dict(spec.uv.settings) == {"prerelease": "allow"}
    assert spec.uv.indexes == ()
    assert spec.warnings == ()


def test_platform_inference() -> None:
    spec = load(GOOD / "platforms.toml")
    platforms = {layer.build_name: layer.platforms for layer in spec.layers}
    assert platforms == {
        "rt": ("win_amd64", "linux_x86_64", "macosx_arm64"),
        "rt-all": TARGET_PLATFORMS,
        "framework-inherits": ("win_amd64", "linux_x86_64", "macosx_arm64"),
        "framework-linux-only": ("linux_x86_64",),
        "framework-off": (),
        "framework-above-off": (),
        "app-both": ("linux_x86_64",),
        "app-explicit-subset": ("macosx_arm64",),
        "app-on-off": (),
        "app-everywhere": TARGET_PLATFORMS,
    }
    assert [layer.build_name for layer in spec.layers if not layer.enabled] == [
        "framework-off",
        "framework-above-off",
        "app-on-off",
    ]


def test_specs_are_frozen() -> None:
    spec = load(GOOD / "platforms.toml")
    framework = spec.frameworks[0]
    assert isinstance(framework, FrameworkSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        framework.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        framework.package_indexes["x"] = "y"  # type: ignore[index]


def test_postinstall_script_on_frameworks_and_applications_of_a_venvstacks_toml() -> None:
    folder = GOOD / "postinstall_steps"
    spec = load(folder / "venvstacks.toml")
    by_name = {layer.build_name: layer for layer in spec.layers}
    assert by_name["framework-sci"].postinstall_script == folder / "steps" / "fw_step.py"
    assert by_name["app-tool"].postinstall_script == folder / "steps" / "app_step.py"
    assert not hasattr(by_name["cpython-3.12"], "postinstall_script")
