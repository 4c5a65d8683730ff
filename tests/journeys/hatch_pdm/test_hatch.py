"""Hatch end to end, in subprocesses with isolated Hatch state: the build target and the env type.

The project (``tests/projects/stackapp``) ships itself in its application layer, on a
framework layer holding ``six``; the runtime is a local CPython 3.12. The build target runs
in Hatch's own build environment, which installs envstacks from a per-session copy of the
source (a ``file://`` URL); the environment type runs in Hatch's Python, the test's.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

RunTool = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.network


def _fields(line: str) -> dict[str, str]:
    """``hello ... | stackapp=PATH | six=PATH`` as a mapping (plus the greeting under ``""``)."""
    greeting, *pairs = (part.strip() for part in line.split("|"))
    return {"": greeting, **dict(pair.split("=", 1) for pair in pairs)}


def test_build_target_publishes_a_stack_that_deploys_and_runs(
    stackapp: Path, run_tool: RunTool, tmp_path: Path
) -> None:
    built = run_tool("hatch", ["build", "-t", "venvstacks"], cwd=stackapp)
    out = stackapp / "dist" / "venvstacks"
    listed = [line.strip() for line in (built.stdout + built.stderr).splitlines()]
    for name in ("cpython-3.12", "framework-six", "app-hello"):
        assert f"dist/venvstacks/{name}.tar.zst" in listed, built.stderr
        assert (out / f"{name}.tar.zst").is_file()
    assert "dist/venvstacks/__venvstacks__/venvstacks.json" in listed
    # The same start, end and summary lines as the CLI and PDM print without a terminal.
    assert "framework-six: build (clean)..." in listed
    assert any(line.startswith("framework-six: build (clean): done in ") for line in listed)
    assert any(
        line.startswith("done in ")
        and line.endswith(
            ": 3 layers locked; 3 layers built; 3 archives written in dist/venvstacks"
        )
        for line in listed
    ), listed
    assert (
        "next: envstacks deploy dist/venvstacks --target DIR, "
        "or envstacks push dist/venvstacks --to oci://HOST/REPO:TAG"
    ) in listed

    target = tmp_path / "deployed"
    run_tool("envstacks", ["deploy", str(out), "--target", str(target)], cwd=tmp_path)
    ran = subprocess.run(
        [str(target / "app-hello" / "bin" / "python"), "-m", "stackapp"],
        capture_output=True,
        text=True,
        check=True,
    )
    fields = _fields(ran.stdout.strip())
    assert fields[""] == "hello from stackapp"
    # The project's code and its framework package come from their own deployed layers.
    assert Path(fields["stackapp"]).is_relative_to(target / "app-hello")
    assert Path(fields["six"]).is_relative_to(target / "framework-six")

    # `hatch build --clean-only` removes what the target published, and nothing else.
    (out / "notes.txt").write_text("not ours\n", encoding="utf-8")
    run_tool("hatch", ["build", "--clean-only", "-t", "venvstacks"], cwd=stackapp)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]

    # Building again reuses the project's wheel: nothing it is built from changed.
    again = run_tool("hatch", ["build", "-t", "venvstacks"], cwd=stackapp)
    assert "built the project's wheel" not in again.stderr
    assert (
        "the project's wheel stackapp-0.1.0-py3-none-any.whl for cpython-3.12 is up to date"
        in again.stderr
    )


def test_environment_runs_the_project_live_on_its_layers(
    stackapp: Path, run_tool: RunTool, host_env: dict[str, str]
) -> None:
    run_tool("hatch", ["env", "create", "app"], cwd=stackapp)
    first = _fields(
        run_tool("hatch", ["run", "app:python", "-m", "stackapp"], cwd=stackapp)
        .stdout.strip()
        .splitlines()[-1]
    )
    found = Path(run_tool("hatch", ["env", "find", "app"], cwd=stackapp).stdout.strip())
    data_dir = Path(host_env["HATCH_DATA_DIR"])
    assert found.is_relative_to(data_dir) and found.name == "app-hello"
    # Editable: the code is the project's source; six comes from the framework layer.
    assert Path(first["stackapp"]) == stackapp / "src" / "stackapp" / "__init__.py"
    assert Path(first["six"]).is_relative_to(found.parent / "framework-six")

    source = stackapp / "src" / "stackapp" / "__init__.py"
    source.write_text(
        source.read_text(encoding="utf-8").replace("hello from stackapp", "edited live"),
        encoding="utf-8",
    )
    second = _fields(
        run_tool("hatch", ["run", "app:python", "-m", "stackapp"], cwd=stackapp)
        .stdout.strip()
        .splitlines()[-1]
    )
    assert second[""] == "edited live"

    # A changed layer requirement makes the lock stale: the next run relocks and rebuilds.
    pyproject = stackapp / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            'requirements = ["six>=1.16"]', 'requirements = ["six>=1.16,<2"]'
        ),
        encoding="utf-8",
    )
    # The resolution stays the same; the lock metadata records the new requirements.
    lock = stackapp / "requirements" / "framework-six" / "pylock.framework-six.meta.json"
    before = lock.read_text(encoding="utf-8")
    synced = run_tool("hatch", ["run", "app:python", "-m", "stackapp"], cwd=stackapp)
    assert "Syncing dependencies" in synced.stderr
    assert "framework-six: lock" in synced.stderr
    assert lock.read_text(encoding="utf-8") != before
    assert _fields(synced.stdout.strip().splitlines()[-1])[""] == "edited live"

    shown = run_tool("hatch", ["env", "show", "app"], cwd=stackapp).stdout
    assert "venvstacks" in shown
    run_tool("hatch", ["env", "remove", "app"], cwd=stackapp)
    assert not found.exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            'layer = "helo"',
            "error: Field `tool.hatch.envs.app.layer`: no application layer is called 'helo' "
            "(defined: 'hello')",
        ),
        (
            "",
            "error: Field `tool.hatch.envs.app.layer` is missing: a venvstacks environment runs "
            "in one application layer, named by its `layer` option\n"
            'hint: add layer = "hello" to [tool.hatch.envs.app]',
        ),
    ],
    ids=["wrong", "missing"],
)
def test_environment_names_a_wrong_layer_option(
    stackapp: Path, run_tool: RunTool, option: str, message: str
) -> None:
    pyproject = stackapp / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('layer = "hello"', option),
        encoding="utf-8",
    )
    result = run_tool("hatch", ["env", "create", "app"], cwd=stackapp, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
