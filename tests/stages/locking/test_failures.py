"""Locks that must fail, with messages that name the layer, the cause and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import LockError
from envstacks.floor.report import RecordingReporter
from envstacks.stages.locking import LockOptions, lock_layer
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import LayerSpec, StackSpec


def _lock(spec: StackSpec, layer: LayerSpec, python: Path, **options: Any) -> None:
    lock_layer(
        spec, layer, python=python, if_needed=False, reset=False,
        options=LockOptions(**options), reporter=RecordingReporter(),
    )  # fmt: skip


@pytest.mark.network
def test_conflict_inside_one_layer(
    stacks: Any, tmp_path: Path, python_for: Callable[[str], Path]
) -> None:
    spec = stacks.stack(tmp_path, [stacks.runtime(requirements=["numpy<2", "numpy>=2"])])
    with pytest.raises(LockError) as caught:
        _lock(spec, spec.runtimes[0], python_for("3.12"))
    text = str(caught.value)
    assert text.startswith("Layer 'cpython-3.12': no set of packages satisfies")
    assert "numpy<2" in text and "numpy>=2" in text and "we can conclude" in text
    assert caught.value.hint == "change tool.venvstacks.runtimes[0].requirements"


@pytest.mark.network
def test_conflict_with_a_lower_layer(
    stacks: Any, tmp_path: Path, python_for: Callable[[str], Path]
) -> None:
    spec = stacks.stack(
        tmp_path,
        [
            stacks.runtime(requirements=["numpy>=2.3.0,<2.3.4"]),
            stacks.framework("x", ["numpy>=2.3.4"]),
        ],
    )
    _lock(spec, spec.runtimes[0], python_for("3.12"))
    with pytest.raises(LockError) as caught:
        _lock(spec, spec.frameworks[0], python_for("3.12"))
    text = str(caught.value)
    assert text.startswith("Layer 'framework-x': no set of packages satisfies the layer's")
    assert "numpy>=2.3.4" in text and "numpy==2.3.3" in text
    assert "numpy==2.3.3 (locked in layer 'cpython-3.12')" in text
    assert caught.value.hint is not None and "relock the lower layers" in caught.value.hint


def test_lower_layers_must_be_locked_first(
    stacks: Any, tmp_path: Path, python_for: Callable[[str], Path]
) -> None:
    spec = stacks.stack(tmp_path, [stacks.runtime(), stacks.framework("x", ["six"])])
    with pytest.raises(LockError, match=r"cannot lock with unlocked lower layers: \['cpython"):
        _lock(spec, spec.frameworks[0], python_for("3.12"))


def test_interpreter_must_match_the_runtime(
    stacks: Any, tmp_path: Path, python_for: Callable[[str], Path]
) -> None:
    spec = stacks.stack(tmp_path, [stacks.runtime(requirements=["six"])])
    with pytest.raises(LockError, match=r"it is Python 3\.11\.\d+, but runtime 'cpython-3.12'"):
        _lock(spec, spec.runtimes[0], python_for("3.11"))


def test_missing_wheels_offline_with_local_wheels(
    stacks: Any, tmp_path: Path, python_for: Callable[[str], Path]
) -> None:
    wheels = tmp_path / "wheels"
    stacks.make_wheel(wheels, "linuxonly", "1.0", tag="py3-none-manylinux_2_17_x86_64")
    spec = stacks.stack(
        tmp_path,
        [stacks.runtime(requirements=["linuxonly"], platforms=("linux_x86_64", "win_amd64"))],
    )
    with pytest.raises(LockError) as caught:
        _lock(spec, spec.runtimes[0], python_for("3.12"), index=False, local_wheels=(wheels,))
    text = str(caught.value)
    assert "linuxonly: no wheels available for ['win_amd64']" in text
    assert "set tool.venvstacks.runtimes[0].platforms = ['linux_x86_64']" in text


def test_failed_lock_keeps_the_declared_requirements_file(
    stacks: Any, tmp_path: Path, python_for: Callable[[str], Path]
) -> None:
    wheels = tmp_path / "wheels"
    stacks.make_wheel(wheels, "localpkg", "1.0")
    spec = stacks.stack(tmp_path, [stacks.runtime(requirements=["localpkg"])])
    _lock(spec, spec.runtimes[0], python_for("3.12"), index=False, local_wheels=(wheels,))
    folder = stack_paths.requirements_dir(spec, spec.runtimes[0])
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert b"localpkg" in stack_paths.requirements_in_path(spec, spec.runtimes[0]).read_bytes()

    changed = stacks.replace_layer(spec, "cpython-3.12", requirements=("notthere",))
    with pytest.raises(LockError):
        _lock(changed, changed.runtimes[0], python_for("3.12"), index=False, local_wheels=(wheels,))
    # The .in still lists what the (unchanged) lock was made from.
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
