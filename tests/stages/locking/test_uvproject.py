"""The generated per-layer uv project: lower-layer pins, indexes, sources and the settings file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from envstacks.stages.locking.pylock import LockedLayer, LockedPackage
from envstacks.stages.locking.uvproject import (
    SETTINGS_FILE,
    layer_indexes,
    lower_pins,
    write_project,
)


def _locked(name: str, *packages: LockedPackage) -> LockedLayer:
    return LockedLayer(layer=name, path=Path(name), packages=packages)


def _pkg(name: str, version: str, marker: str = "", shared: bool = False) -> LockedPackage:
    return LockedPackage(name=name, version=version, marker=marker, shared=shared)


def _three_layers(stacks: Any, tmp_path: Path, **uv: Any) -> Any:
    return stacks.stack(
        tmp_path,
        [
            stacks.runtime(requirements=["numpy"]),
            stacks.framework("a", ["scipy"], index=0),
            stacks.framework("b", ["torch"], frameworks=["a"], index=1),
            stacks.application("app", ["httpx"], frameworks=["b", "a"]),
        ],
        **uv,
    )


def test_lower_pins_follow_the_shadowing_rule(stacks: Any, tmp_path: Path) -> None:
    spec = stacks.replace_layer(
        _three_layers(stacks, tmp_path), "app-app", linearized=("framework-b", "framework-a")
    )
    locks = {
        "cpython-3.12": _locked(
            "cpython-3.12",
            _pkg("numpy", "2.3.2"),
            _pkg("colorama", "0.4.6", "sys_platform == 'win32'"),
        ),
        "framework-a": _locked(
            "framework-a",
            _pkg("numpy", "2.3.2", shared=True),
            _pkg("colorama", "0.4.5", "sys_platform == 'win32'"),  # same marker: dropped
            _pkg("colorama", "0.4.4", "os_name == 'nt'"),
            _pkg("scipy", "1.16.1"),  # shadowed by framework-b
            _pkg("six", "1.16.0", "os_name == 'nt'"),  # shadowed by framework-b
        ),
        "framework-b": _locked(
            "framework-b",
            _pkg("scipy", "1.15.0"),
            _pkg("six", "1.17.0"),
            _pkg("torch", "2.8.0", "sys_platform == 'linux'"),
        ),
    }
    pins, pinned_by = lower_pins(spec, spec.layer("app-app"), locks)
    assert [pin.requirement for pin in pins] == [
        # runtime first, then frameworks in sys.path order (b before a)
        "colorama==0.4.6 ; sys_platform == 'win32'",
        "colorama==0.4.4 ; os_name == 'nt'",
        "numpy==2.3.2",
        "scipy==1.15.0",
        "six==1.17.0",
        "torch==2.8.0 ; sys_platform == 'linux'",
    ]
    assert pinned_by["numpy"] == "cpython-3.12" and pinned_by["scipy"] == "framework-b"


def test_layer_indexes_order(stacks: Any, tmp_path: Path) -> None:
    indexes = [
        {"name": "pypi", "url": "https://pypi.org/simple", "default": True},
        {"name": "torch-cpu", "url": "https://t/cpu", "explicit": True},
        {"name": "torch-cu", "url": "https://t/cu", "explicit": True},
        {"name": "extra", "url": "https://e/simple"},
    ]
    spec = stacks.stack(tmp_path, [stacks.runtime()], indexes=indexes)
    plain = stacks.runtime()
    assert [ix["name"] for ix in layer_indexes(spec, plain)] == ["pypi", "extra"]
    chosen = stacks.runtime(package_indexes={"torch": "torch-cu"}, priority_indexes=("extra",))
    result = layer_indexes(spec, chosen)
    assert [ix["name"] for ix in result] == ["extra", "torch-cu", "pypi"]
    assert result[0]["explicit"] is False


def test_generated_project_and_settings_file(stacks: Any, tmp_path: Path) -> None:
    spec = stacks.stack(
        tmp_path,
        [stacks.runtime(requirements=["numpy>=2", "six ; sys_platform == 'win32'"],
                        package_indexes={"numpy": "mirror"})],
        uv_settings={"exclude-newer": "2025-01-01T00:00:00Z", "find-links": ["wheels"],
                     "environments": ["sys_platform == 'linux'"]},
        indexes=[{"name": "mirror", "url": "https://m/simple", "explicit": True}],
        sources={"six": "mirror"},
    )  # fmt: skip
    project = write_project(
        spec,
        spec.runtimes[0],
        locks={},
        python_version="3.12.1",
        index=False,
        find_links=(tmp_path / "local",),
        project_wheel=None,
    )
    pyproject = tomllib.loads(project.pyproject.read_text())
    assert pyproject["project"]["requires-python"] == "==3.12.*"
    assert pyproject["project"]["dependencies"] == ["numpy>=2", 'six; sys_platform == "win32"']
    tool = pyproject["tool"]["uv"]
    assert tool["no-build"] is True and tool["no-index"] is True
    assert tool["find-links"] == [str(tmp_path / "wheels"), str(tmp_path / "local")]
    assert tool["sources"] == {"numpy": {"index": "mirror"}, "six": {"index": "mirror"}}
    assert tool["constraint-dependencies"] == []
    settings = tomllib.loads((project.directory / SETTINGS_FILE).read_text())
    assert project.settings == project.directory / SETTINGS_FILE
    # uv rejects project-only keys in a configuration file.
    assert "sources" not in settings and "environments" not in settings
    assert settings["exclude-newer"] == "2025-01-01T00:00:00Z"
    assert settings["index"] == [{"name": "mirror", "url": "https://m/simple", "explicit": True}]
