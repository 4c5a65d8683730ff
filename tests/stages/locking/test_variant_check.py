"""A layer above a framework with variants is locked once and checked over every variant.

Offline: the stack of ``kits.variant_stack`` (local wheels), locked for real with uv.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from envstacks.floor.errors import LockError
from envstacks.floor.report import RecordingReporter
from envstacks.stages.locking import LockOptions
from envstacks.stages.locking.variant_check import STAMP
from envstacks.stages.stackspec import load, stack_paths
from kits.variant_stack import write_project


def _lock(kit: ModuleType, root: Path, **requirements: str) -> RecordingReporter:
    spec = load(write_project(root, **requirements))
    reporter = RecordingReporter()
    options = LockOptions(index=False, local_wheels=(root / "wheels",))
    kit.lock_stack(spec, reporter, options=options)
    return reporter


def test_the_app_is_locked_once_and_checked_over_the_other_variant(
    kit: ModuleType, tmp_path: Path
) -> None:
    reporter = _lock(kit, tmp_path)
    spec = load(tmp_path / "pyproject.toml")
    app = spec.applications[0]
    assert app.linearized == ("framework-accel-cpu",)
    lock = stack_paths.pylock_path(spec, app).read_text()
    assert 'name = "helper"' in lock and "accelrt" not in lock
    checks = [t for t in reporter.texts("debug") if "installs over framework-accel-gpu" in t]
    assert checks == ["app-infer: installs over framework-accel-gpu"]
    stamp = spec.settings.build_dir / "app-infer.over.framework-accel-gpu_resolve" / STAMP
    assert stamp.is_file()
    again = _lock(kit, tmp_path)
    assert "app-infer: already checked over framework-accel-gpu" in again.texts("debug")


def test_a_package_only_the_fallback_provides_is_named_with_the_variant(
    kit: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(LockError) as caught:
        _lock(
            kit,
            tmp_path,
            app_requirements='"needs-cpuonly"',
            cpu_requirements='"accelrt", "cpuonly"',
        )
    assert str(caught.value) == (
        "Layer 'app-infer' was locked over the fallback variant 'cpu' of framework 'accel', "
        "but its packages cannot be installed over variant 'gpu' (framework-accel-gpu): over "
        "it the layer would also need cpuonly==1.0, which the fallback variant provides and "
        "variant 'gpu' does not"
    )
    assert caught.value.hint == (
        "change tool.venvstacks.applications[0].requirements, or "
        "tool.venvstacks.frameworks[0].variants.gpu.requirements, so that every variant "
        "provides what the layers above need"
    )


def test_a_version_conflict_with_a_variant_quotes_uv(kit: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(LockError) as caught:
        _lock(
            kit,
            tmp_path,
            app_requirements='"oldhelper"',
            cpu_requirements='"accelrt", "common<2"',
            gpu_requirements='"accelrt-gpu", "common>=2"',
        )
    text = str(caught.value)
    assert text.startswith(
        "Layer 'app-infer' was locked over the fallback variant 'cpu' of framework 'accel', "
        "but its packages cannot be installed over variant 'gpu' (framework-accel-gpu):\n"
    )
    assert "common" in text and "oldhelper" in text
