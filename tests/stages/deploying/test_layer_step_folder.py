"""What a layer's post-install step folder may hold, and its copy at build time (no stack built)."""

from __future__ import annotations

from pathlib import Path

import pytest

from envstacks.floor.errors import BuildError, DeployError
from envstacks.floor.report import RecordingReporter
from envstacks.stages.building.postinstall_copy import copy_postinstall_script
from envstacks.stages.deploying.layer_step import layer_step, run_layer_step
from envstacks.stages.stackspec.model import FrameworkSpec


def _framework(script: Path | None) -> FrameworkSpec:
    return FrameworkSpec(
        name="sci",
        toml_path="tool.venvstacks.frameworks[0]",
        requirements=(),
        platforms=("linux_x86_64",),
        runtime="cpython-3.12",
        postinstall_script=script,
    )


def test_the_build_copies_the_current_script_alone(tmp_path: Path) -> None:
    env = tmp_path / "framework-sci"
    old = env / "share" / "venv" / "postinstall" / "old_step.py"
    old.parent.mkdir(parents=True)
    old.write_text("print('old')\n", encoding="utf-8")
    script = tmp_path / "new_step.py"
    script.write_text("print('new')\n", encoding="utf-8")
    copy = copy_postinstall_script(_framework(script), env)
    assert copy == env / "share" / "venv" / "postinstall" / "new_step.py"
    assert [p.name for p in copy.parent.iterdir()] == ["new_step.py"]
    assert layer_step(env, what="layer 'framework-sci'", error=DeployError) == copy
    # Dropping the key drops the copy; a script gone since the spec was read is an error.
    assert copy_postinstall_script(_framework(None), env) is None
    assert not copy.parent.exists()
    script.unlink()
    with pytest.raises(BuildError, match=r"postinstall_script\): .*new_step.py does not exist"):
        copy_postinstall_script(_framework(script), env)


@pytest.mark.parametrize("content", [("a.py", "b.py"), ("notes.txt",), ()])
def test_a_step_folder_that_is_not_one_script_is_refused(
    tmp_path: Path, content: tuple[str, ...]
) -> None:
    folder = tmp_path / "app-x" / "share" / "venv" / "postinstall"
    folder.mkdir(parents=True)
    for name in content:
        (folder / name).write_text("", encoding="utf-8")
    with pytest.raises(DeployError, match=r"must hold one \.py file") as caught:
        run_layer_step(
            tmp_path / "app-x",
            label="app-x",
            what="layer 'app-x'",
            reporter=RecordingReporter(),
            error=DeployError,
        )
    assert "layer 'app-x'" in caught.value.message
