"""Fixtures for lock tests: StackSpec values built directly, local wheels, a locking helper."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from envstacks.floor.platforms import TARGET_PLATFORMS
from envstacks.stages.stackspec.model import (
    ApplicationSpec,
    FrameworkSpec,
    LayerSpec,
    RuntimeSpec,
    Settings,
    StackSpec,
    UvConfig,
)

LINUX = ("linux_x86_64",)
ALL_PLATFORMS = TARGET_PLATFORMS


def runtime(
    name: str = "cpython-3.12",
    version: str = "3.12.1",
    requirements: Sequence[str] = (),
    platforms: Sequence[str] = LINUX,
    **extra: Any,
) -> RuntimeSpec:
    return RuntimeSpec(
        name=name,
        toml_path=f"tool.venvstacks.runtimes[{extra.pop('index', 0)}]",
        requirements=tuple(requirements),
        platforms=tuple(platforms),
        python_implementation=f"cpython@{version}",
        implementation="cpython",
        python_version=version,
        **extra,
    )


def _layered(
    cls: Any,
    table: str,
    *,
    name: str,
    requirements: Sequence[str],
    runtime: str,
    frameworks: Sequence[str],
    platforms: Sequence[str],
    extra: dict[str, Any],
) -> Any:
    return cls(
        name=name,
        toml_path=f"tool.venvstacks.{table}[{extra.pop('index', 0)}]",
        requirements=tuple(requirements),
        platforms=tuple(platforms),
        runtime=runtime,
        frameworks=tuple(frameworks),
        linearized=tuple(f"framework-{f}" for f in frameworks),
        **extra,
    )


def framework(
    name: str,
    requirements: Sequence[str] = (),
    *,
    runtime: str = "cpython-3.12",
    frameworks: Sequence[str] = (),
    platforms: Sequence[str] = LINUX,
    **extra: Any,
) -> FrameworkSpec:
    return _layered(
        FrameworkSpec,
        "frameworks",
        name=name,
        requirements=requirements,
        runtime=runtime,
        frameworks=frameworks,
        platforms=platforms,
        extra=extra,
    )


def application(
    name: str,
    requirements: Sequence[str] = (),
    *,
    runtime: str = "cpython-3.12",
    frameworks: Sequence[str] = (),
    platforms: Sequence[str] = LINUX,
    **extra: Any,
) -> ApplicationSpec:
    return _layered(
        ApplicationSpec,
        "applications",
        name=name,
        requirements=requirements,
        runtime=runtime,
        frameworks=frameworks,
        platforms=platforms,
        extra=extra,
    )


def stack(
    root: Path,
    layers: Sequence[LayerSpec],
    *,
    uv_settings: Mapping[str, Any] | None = None,
    indexes: Sequence[Mapping[str, Any]] = (),
    sources: Mapping[str, str] | None = None,
    project_name: str | None = None,
) -> StackSpec:
    return StackSpec(
        spec_path=root / "pyproject.toml",
        source_format="pyproject",
        project_name=project_name,
        settings=Settings(
            build_dir=root / "_build",
            output_dir=root / "dist",
            export_dir=root / "export",
            requirements_dir=root / "requirements",
        ),
        uv=UvConfig(
            settings=MappingProxyType(dict(uv_settings or {})),
            indexes=tuple(MappingProxyType(dict(ix)) for ix in indexes),
            sources=MappingProxyType(dict(sources or {})),
        ),
        runtimes=tuple(layer for layer in layers if isinstance(layer, RuntimeSpec)),
        frameworks=tuple(layer for layer in layers if isinstance(layer, FrameworkSpec)),
        applications=tuple(layer for layer in layers if isinstance(layer, ApplicationSpec)),
    )


def replace_layer(spec: StackSpec, name: str, **changes: Any) -> StackSpec:
    """The stack with one layer's fields changed."""
    layers = [
        replace(layer, **changes) if layer.build_name == name else layer for layer in spec.layers
    ]
    return replace(
        spec,
        runtimes=tuple(x for x in layers if isinstance(x, RuntimeSpec)),
        frameworks=tuple(x for x in layers if isinstance(x, FrameworkSpec)),
        applications=tuple(x for x in layers if isinstance(x, ApplicationSpec)),
    )


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    requires: Sequence[str] = (),
    *,
    tag: str = "py3-none-any",
    content: str = "",
) -> Path:
    """Write a minimal valid wheel (one module) and return its path."""
    import base64
    import hashlib
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n{content}",
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {req}\n" for req in requires),
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: envstacks-tests\n"
        f"Root-Is-Purelib: true\nTag: {tag}\n",
    }
    record = []
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            data = text.encode()
            archive.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{member},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist_info}/RECORD,,")
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return path


class Stacks:
    """The helpers above, as one fixture."""

    LINUX = LINUX
    ALL = ALL_PLATFORMS
    runtime = staticmethod(runtime)
    framework = staticmethod(framework)
    application = staticmethod(application)
    stack = staticmethod(stack)
    replace_layer = staticmethod(replace_layer)
    make_wheel = staticmethod(make_wheel)


@pytest.fixture(scope="session")
def stacks() -> type[Stacks]:
    """Helpers that build stacks and wheels for lock tests."""
    return Stacks
