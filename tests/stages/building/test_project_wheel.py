"""The project's own wheel in a layer (what the Hatch and PDM front-ends feed the build). Offline.

The lock records the project without a version or wheel (marked "built at install time"); the
build installs the freshly built wheel after the lock, notices when a new wheel arrives, and
refuses a wheel whose dependencies are not the locked ones.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.floor.errors import BuildError
from envstacks.floor.report import RecordingReporter
from envstacks.stages.building import BuildOptions
from envstacks.stages.locking import LockOptions
from envstacks.stages.stackspec import load

SPEC = """\
[project]
name = "demo-proj"
version = "1.0"
dependencies = ["demo-pure"]

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.applications]]
name = "proj"
runtime = "cpython-3.12"
run_module = "demo_proj"
requirements = ["demo-proj"]
"""


def project_wheel(kit: ModuleType, folder: Path, greeting: str, requires: list[str]) -> Path:
    return kit.make_wheel(
        folder,
        "demo-proj",
        "1.0",
        {
            "demo_proj/__init__.py": b"",
            "demo_proj/__main__.py": f"import demo_pure\nprint({greeting!r})\n".encode(),
        },
        requires=requires,
    )


@pytest.fixture(scope="module")
def stack(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory, python_for) -> object:
    python_for("3.12")
    root = tmp_path_factory.mktemp("project")
    kit.make_wheel(root / "wheels", "demo-pure", "1.0", {"demo_pure/__init__.py": b""})
    wheel = project_wheel(kit, root / "dist-1", "hello", ["demo-pure"])
    (root / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    spec = load(root / "pyproject.toml")
    reporter = RecordingReporter()
    options = LockOptions(index=False, local_wheels=(root / "wheels",), project_wheel=wheel)
    kit.lock_stack(spec, reporter, options=options)
    results = kit.build_stack(spec, reporter, options=BuildOptions(project_wheel=wheel))
    return kit.Stack(spec=spec, reporter=reporter, results=results)


def run_app(stack: object) -> str:
    python = stack.env("app-proj") / "bin" / "python"
    return subprocess.run(
        [python, "-m", "demo_proj"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_project_wheel_is_installed_after_the_lock(stack: object, kit: ModuleType) -> None:
    assert run_app(stack) == "hello"
    installs = [c for c in kit.uv_calls(stack.reporter) if "pip install" in c]
    assert len(installs) == 1 and "--no-deps" in installs[0] and "demo_proj-1.0" in installs[0]


def test_same_wheel_again_does_nothing_a_new_one_updates(stack: object, kit: ModuleType) -> None:
    root = stack.spec.root
    same = root / "dist-1" / "demo_proj-1.0-py3-none-any.whl"
    reporter = RecordingReporter()
    results = kit.build_stack(stack.spec, reporter, options=BuildOptions(project_wheel=same))
    assert [r.built for r in results] == [False, False]
    assert kit.uv_calls(reporter) == []
    newer = project_wheel(kit, root / "dist-2", "hello again", ["demo-pure"])
    results = kit.build_stack(stack.spec, reporter, options=BuildOptions(project_wheel=newer))
    assert [(r.layer, r.action) for r in results] == [
        ("cpython-3.12", "none"),
        ("app-proj", "update"),
    ]
    assert "project wheel" in results[1].reason
    assert run_app(stack) == "hello again"
    # RUN checks the environment: the project's distribution is expected, not "unlocked".
    results = kit.build_stack(
        stack.spec, reporter, requested=True, options=BuildOptions(project_wheel=newer)
    )
    assert [r.built for r in results] == [False, False]


def test_wheel_with_other_dependencies_needs_a_relock(stack: object, kit: ModuleType) -> None:
    changed = project_wheel(kit, stack.spec.root / "dist-3", "x", ["demo-pure", "six"])
    with pytest.raises(BuildError) as caught:
        kit.build_stack(
            stack.spec, RecordingReporter(), options=BuildOptions(project_wheel=changed)
        )
    assert "app-proj" in caught.value.message and "six" in caught.value.message
    assert "envstacks lock" in (caught.value.hint or "")


def test_missing_project_wheel_is_an_error(stack: object, kit: ModuleType) -> None:
    with pytest.raises(BuildError) as caught:
        kit.build_stack(stack.spec, RecordingReporter(), names=["app-proj"])
    assert "'demo-proj'" in caught.value.message and "no project wheel" in caught.value.message
